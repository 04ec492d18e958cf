package nodeagent

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/util/version"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
)

// Config is what the Job tells the agent (flags, or the EDGEUPGRADE_* environment).
type Config struct {
	TargetVersion string
	Role          string // job.RoleMasterFirst, job.RoleMaster or job.RoleWorker
	RunID         string
	NodeName      string
	HostRoot      string
	StepTimeout   time.Duration
	// VerifyTimeout limits the kubelet restart and verification steps (each; the
	// rollback's restart keeps StepTimeout): a healthy kubelet answers healthz within
	// seconds, so a kubelet that cannot start must not cost the long step timeout that
	// kubeadm upgrade apply needs.
	VerifyTimeout time.Duration

	// BinDir holds the target binaries inside the upgrade image.
	BinDir string
	// KubeletPath and KubeadmPath are host paths; empty means: the running kubelet's
	// binary (else /usr/bin/kubelet), and kubeadm beside it (else /usr/bin/kubeadm).
	KubeletPath string
	KubeadmPath string
	// StateDir is the agent's host directory (backups, staging, last-result.json).
	StateDir string
	// KubeadmArgs are added to the kubeadm upgrade command line.
	KubeadmArgs []string
	// RuntimeVersion is the containerd version to upgrade the node to before the
	// kubelet ("" leaves the runtime alone); RuntimeBinDir holds its binaries in the
	// upgrade image.
	RuntimeVersion string
	RuntimeBinDir  string
	// TerminationLog is where the one-line result goes ("" for none).
	TerminationLog string
}

// Defaults of Config (flags show them).
const (
	DefaultStepTimeout    = 10 * time.Minute
	DefaultVerifyTimeout  = 2 * time.Minute
	DefaultBinDir         = "/usr/local/bin"
	DefaultStateDir       = "/var/lib/edgeupgrade"
	DefaultTerminationLog = "/dev/termination-log"
)

func (c *Config) target() (*version.Version, error) {
	if c.TargetVersion == "" {
		return nil, fmt.Errorf("no target version: set --target-version or %s", job.EnvTargetVersion)
	}
	v, err := version.ParseSemantic(c.TargetVersion)
	if err != nil {
		return nil, fmt.Errorf("target version %q is not a Kubernetes version such as v1.36.3", c.TargetVersion)
	}
	return v, nil
}

func (c *Config) validateRole() error {
	switch c.Role {
	case job.RoleMasterFirst, job.RoleMaster, job.RoleWorker:
		return nil
	case "":
		return fmt.Errorf("no role: set --role or %s to %s, %s or %s", job.EnvRole, job.RoleMasterFirst, job.RoleMaster, job.RoleWorker)
	}
	return fmt.Errorf("role %q is not one of %s, %s, %s", c.Role, job.RoleMasterFirst, job.RoleMaster, job.RoleWorker)
}

func (c *Config) isMaster() bool { return c.Role == job.RoleMasterFirst || c.Role == job.RoleMaster }
