package nodeagent

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
)

// Environment variables of the agent beyond the Job contract (pkg/job/contract.go).
const (
	EnvBinDir         = "EDGEUPGRADE_BIN_DIR"
	EnvKubeletPath    = "EDGEUPGRADE_KUBELET_PATH"
	EnvKubeadmPath    = "EDGEUPGRADE_KUBEADM_PATH"
	EnvStateDir       = "EDGEUPGRADE_STATE_DIR"
	EnvProc           = "EDGEUPGRADE_PROC"
	EnvTerminationLog = "EDGEUPGRADE_TERMINATION_LOG"
	// EnvKubeadmArgs holds extra kubeadm arguments separated by white space.
	EnvKubeadmArgs = "EDGEUPGRADE_KUBEADM_ARGS"
	// EnvVerifyTimeout limits the kubelet restart and verification steps (each).
	EnvVerifyTimeout = "EDGEUPGRADE_VERIFY_TIMEOUT"
	// EnvRuntimeBinDir is where the upgrade image keeps containerd's binaries.
	EnvRuntimeBinDir = "EDGEUPGRADE_RUNTIME_BIN_DIR"
)

// Streams are the agent's standard streams.
type Streams struct {
	Out, ErrOut io.Writer
}

type options struct {
	cfg  Config
	proc string
	// stepTimeout and verifyTimeout are the flags' text, parsed when a step runs so
	// that a bad value fails with the step's name.
	stepTimeout, verifyTimeout string
}

func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}

const agentLong = `The node agent of kubectl edgeupgrade. It runs in the per-node Job with the host's /
mounted at --host-root, the host's PID namespace and network, and runs host commands
with the host's nsenter in the namespaces of the host's PID 1.

  preprocess  host checks, then a backup of the kubelet and kubeadm binaries and configs
              (and of containerd, with --runtime-version)
  upgrade     containerd first when --runtime-version asks for a newer one (install,
              restart, verify), then kubeadm upgrade, new kubelet, kubelet restart and
              verification; restores the backups on failure
  check       host checks only; prints a JSON result (the deep pre-check)

Exit codes: 0 done or nothing to do; 1 refused or failed with nothing changed;
2 failed and rolled back; 3 failed and the rollback failed too (the backup is kept).`

// NewCommand returns the edgeupgrade-node command tree. Every flag defaults to its
// environment variable, so the Job sets env and a person debugging sets flags.
func NewCommand(s Streams, agentVersion string) *cobra.Command {
	o := &options{}
	root := &cobra.Command{
		Use:           "edgeupgrade-node",
		Short:         "Upgrade this Kubernetes node in place (runs inside the kubectl edgeupgrade Job)",
		Long:          agentLong,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       agentVersion,
	}
	root.SetOut(s.Out)
	root.SetErr(s.ErrOut)
	o.addFlags(root)
	pre := o.step(s, "preprocess", func(ctx context.Context, a *Agent) (Outcome, []byte) { return a.Preprocess(ctx), nil })
	pre.Short = "Check the host and back up the kubelet, kubeadm and their configuration"
	up := o.step(s, "upgrade", func(ctx context.Context, a *Agent) (Outcome, []byte) { return a.Upgrade(ctx), nil })
	up.Short = "Upgrade this node to the target version, rolling back on failure"
	chk := o.step(s, "check", func(ctx context.Context, a *Agent) (Outcome, []byte) { return a.Check(ctx) })
	chk.Short = "Run the host checks and print the result as JSON (findings do not fail it)"
	root.AddCommand(pre, up, chk)
	return root
}

func (o *options) addFlags(root *cobra.Command) {
	f := root.PersistentFlags()
	f.StringVar(&o.cfg.TargetVersion, "target-version", envOr(job.EnvTargetVersion, ""), "Kubernetes version to upgrade to, e.g. v1.36.3 (env "+job.EnvTargetVersion+")")
	f.StringVar(&o.cfg.Role, "role", envOr(job.EnvRole, ""), "master-first, master or worker (env "+job.EnvRole+")")
	f.StringVar(&o.cfg.RunID, "run-id", envOr(job.EnvRunID, ""), "upgrade run id, recorded in the backup and last-result.json (env "+job.EnvRunID+")")
	f.StringVar(&o.cfg.NodeName, "node-name", envOr(job.EnvNodeName, ""), "name of this node (env "+job.EnvNodeName+")")
	f.StringVar(&o.cfg.HostRoot, "host-root", envOr(job.EnvHostRoot, job.HostRoot), "where the host's / is mounted (env "+job.EnvHostRoot+")")
	f.StringVar(&o.stepTimeout, "step-timeout", envOr(job.EnvStepTimeout, DefaultStepTimeout.String()), "time limit of each step, a Go duration (env "+job.EnvStepTimeout+")")
	f.StringVar(&o.verifyTimeout, "verify-timeout", envOr(EnvVerifyTimeout, DefaultVerifyTimeout.String()), "time limit of the kubelet restart and of its verification (each; the rollback's restart has the step timeout), a Go duration; a crash-looping kubelet fails sooner (env "+EnvVerifyTimeout+")")
	f.StringVar(&o.cfg.BinDir, "bin-dir", envOr(EnvBinDir, DefaultBinDir), "directory of the target kubeadm, kubelet and kubectl in the upgrade image (env "+EnvBinDir+")")
	f.StringVar(&o.cfg.KubeletPath, "kubelet-path", envOr(EnvKubeletPath, ""), "host path of the kubelet binary (default: the running kubelet's, else /usr/bin/kubelet) (env "+EnvKubeletPath+")")
	f.StringVar(&o.cfg.KubeadmPath, "kubeadm-path", envOr(EnvKubeadmPath, ""), "host path of kubeadm (default: beside the kubelet, else /usr/bin/kubeadm) (env "+EnvKubeadmPath+")")
	f.StringVar(&o.cfg.StateDir, "state-dir", envOr(EnvStateDir, DefaultStateDir), "host directory for backups, staging and last-result.json (env "+EnvStateDir+")")
	f.StringVar(&o.proc, "proc", envOr(EnvProc, "/proc"), "procfs of the host's PID namespace (the Job sets hostPID) (env "+EnvProc+")")
	f.StringVar(&o.cfg.TerminationLog, "termination-log", envOr(EnvTerminationLog, DefaultTerminationLog), "file for the one-line result (\"\" for none) (env "+EnvTerminationLog+")")
	f.StringVar(&o.cfg.RuntimeVersion, "runtime-version", envOr(job.EnvRuntimeVersion, ""), "containerd version to upgrade the node to before the kubelet, e.g. v2.2.9 (\"\": leave the runtime alone) (env "+job.EnvRuntimeVersion+")")
	f.StringVar(&o.cfg.RuntimeBinDir, "runtime-bin-dir", envOr(EnvRuntimeBinDir, DefaultRuntimeBin), "directory of containerd, containerd-shim-runc-v2 and ctr in the upgrade image (env "+EnvRuntimeBinDir+")")
	f.StringArrayVar(&o.cfg.KubeadmArgs, "kubeadm-arg", strings.Fields(os.Getenv(EnvKubeadmArgs)), "extra argument for kubeadm upgrade apply/node (repeatable), e.g. --kubeadm-arg=--ignore-preflight-errors=CoreDNSUnsupportedPlugins (env "+EnvKubeadmArgs+", separated by spaces)")
}

// step is one subcommand: it parses the timeouts, runs fn on an agent of the host,
// writes the one-line result to the termination log and exits with fn's code.
func (o *options) step(s Streams, name string, fn func(context.Context, *Agent) (Outcome, []byte)) *cobra.Command {
	return &cobra.Command{
		Use:  name,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.parseTimeouts(name); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			a := &Agent{
				Config: o.cfg,
				Host:   &Host{Root: o.cfg.HostRoot, Proc: o.proc, Runner: NsenterRunner{Root: o.cfg.HostRoot}},
				Out:    s.Out,
			}
			if name == "check" {
				a.Out = s.ErrOut // stdout carries the JSON result alone
			}
			out, stdout := fn(ctx, a)
			a.WriteTerminationMessage(out.Message)
			var werr error
			if stdout != nil {
				_, werr = fmt.Fprintf(s.Out, "%s\n", stdout)
			}
			if out.Code != ExitOK {
				return &exitError{out.Code, ""}
			}
			if werr != nil {
				return fmt.Errorf("write the result: %w", werr)
			}
			return nil
		},
	}
}

func (o *options) parseTimeouts(name string) error {
	d, err := time.ParseDuration(o.stepTimeout)
	if err != nil || d <= 0 {
		return &exitError{ExitFailed, fmt.Sprintf("%s: step timeout %q is not a positive Go duration such as 10m", name, o.stepTimeout)}
	}
	o.cfg.StepTimeout = d
	if d, err = time.ParseDuration(o.verifyTimeout); err != nil || d <= 0 {
		return &exitError{ExitFailed, fmt.Sprintf("%s: verify timeout %q is not a positive Go duration such as 2m", name, o.verifyTimeout)}
	}
	o.cfg.VerifyTimeout = d
	return nil
}

// exitError carries an exit code out of cobra; an empty message was already reported.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// Main runs the agent with args and returns the process exit code.
func Main(args []string, s Streams, agentVersion string) int {
	cmd := NewCommand(s, agentVersion)
	cmd.SetArgs(args)
	err := cmd.Execute()
	if err == nil {
		return ExitOK
	}
	if e, ok := err.(*exitError); ok {
		if e.msg != "" {
			_, _ = fmt.Fprintln(s.ErrOut, "error: "+e.msg) // nowhere left to report a failed write
		}
		return e.code
	}
	_, _ = fmt.Fprintln(s.ErrOut, "error: "+err.Error())
	return ExitFailed
}
