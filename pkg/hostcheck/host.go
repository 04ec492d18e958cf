package hostcheck

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"sigs.k8s.io/yaml"
)

// Host is the read-only view of a node that the checks need. The node agent's Host
// implements it over the host root mounted at /host and nsenter; tests use a
// temporary directory and a recording runner.
type Host interface {
	// Path returns where the host's absolute path p is visible to this process.
	Path(p string) string
	// Run runs a host command in the host's namespaces and returns its standard output.
	Run(ctx context.Context, name string, args ...string) ([]byte, error)
}

// Well-known kubeadm paths on a node.
const (
	KubeletConfigPath     = "/var/lib/kubelet/config.yaml"
	KubeadmFlagsPath      = "/var/lib/kubelet/kubeadm-flags.env"
	KubeletDir            = "/var/lib/kubelet"
	StaticPodManifestsDir = "/etc/kubernetes/manifests"
)

// kubeletExtraArgsFiles are where distributions keep KUBELET_EXTRA_ARGS.
var kubeletExtraArgsFiles = []string{"/etc/default/kubelet", "/etc/sysconfig/kubelet"}

// KubeletConfig is the part of a KubeletConfiguration the agent reads.
type KubeletConfig struct {
	HealthzBindAddress       string          `json:"healthzBindAddress,omitempty"`
	HealthzPort              *int32          `json:"healthzPort,omitempty"`
	FailSwapOn               *bool           `json:"failSwapOn,omitempty"`
	FailCgroupV1             *bool           `json:"failCgroupV1,omitempty"`
	ContainerRuntimeEndpoint string          `json:"containerRuntimeEndpoint,omitempty"`
	FeatureGates             map[string]bool `json:"featureGates,omitempty"`
	MemorySwap               struct {
		SwapBehavior string `json:"swapBehavior,omitempty"`
	} `json:"memorySwap,omitempty"`
}

// HealthzURL is where the kubelet's healthz endpoint answers ("" when disabled).
func (c KubeletConfig) HealthzURL() string {
	port := int32(10248)
	if c.HealthzPort != nil {
		port = *c.HealthzPort
	}
	if port == 0 {
		return ""
	}
	addr := c.HealthzBindAddress
	if addr == "" || addr == "0.0.0.0" || addr == "::" {
		addr = "127.0.0.1"
	}
	if strings.Contains(addr, ":") {
		addr = "[" + addr + "]"
	}
	return fmt.Sprintf("http://%s:%d/healthz", addr, port)
}

// ReadKubeletConfig parses the kubelet configuration file at host path p.
func ReadKubeletConfig(h Host, p string) (KubeletConfig, error) {
	var c KubeletConfig
	b, err := os.ReadFile(h.Path(p))
	if err != nil {
		return c, fmt.Errorf("read kubelet config: %w", err)
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("parse kubelet config %s: %w", p, err)
	}
	return c, nil
}

// KubeletFileArgs returns the kubelet flags set in kubeadm-flags.env and in the
// distribution's KUBELET_EXTRA_ARGS files (missing files are skipped).
func KubeletFileArgs(h Host) ([]string, error) {
	var args []string
	files := append([]string{KubeadmFlagsPath}, kubeletExtraArgsFiles...)
	for _, f := range files {
		b, err := os.ReadFile(h.Path(f))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return args, fmt.Errorf("read %s: %w", f, err)
		}
		args = append(args, parseEnvArgs(b)...)
	}
	return args, nil
}

// parseEnvArgs reads KEY="--a=b --c" lines of an environment file and splits the
// values into arguments (double and single quotes group, no other shell syntax).
func parseEnvArgs(b []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		_, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		out = append(out, SplitArgs(unquote(v))...)
	}
	return out
}

func unquote(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}

// SplitArgs splits s at white space, keeping quoted parts together.
func SplitArgs(s string) []string {
	var out []string
	var cur strings.Builder
	var quote rune
	inArg := false
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '"' || r == '\'':
			quote, inArg = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if inArg {
				out = append(out, cur.String())
				cur.Reset()
				inArg = false
			}
		default:
			cur.WriteRune(r)
			inArg = true
		}
	}
	if inArg {
		out = append(out, cur.String())
	}
	return out
}

// FlagValue returns the value of --name in args ("--name=v" or "--name v").
func FlagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		k, v, hasV := strings.Cut(a, "=")
		if k != "--"+name && k != "-"+name {
			continue
		}
		if hasV {
			return v, true
		}
		if i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
			return args[i+1], true
		}
		return "", true
	}
	return "", false
}
