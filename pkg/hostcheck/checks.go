package hostcheck

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Stable check IDs (the pre-check and the docs refer to them).
const (
	CheckSwap           = "host-swap"
	CheckDisk           = "host-disk"
	CheckKubelet        = "host-kubelet"
	CheckKubeletVersion = "host-kubelet-version"
	CheckKubeletConfig  = "host-kubelet-config"
	CheckRuntime        = "host-runtime"
	CheckCgroup         = "host-cgroup"
	CheckRemovedFlags   = "host-kubelet-removed-flags"
)

// Check is one rule over the gathered facts.
type Check func(Facts) []Finding

// All is every host check, in the order they are reported.
func All() []Check {
	return []Check{KubeletVersion, KubeletHealth, Runtime, Swap, Disk, Cgroup, RemovedFlags}
}

// Run gathers the facts and applies checks (All() when none are given). It fails only
// when the host cannot be read at all; everything else is a finding.
func Run(ctx context.Context, h Host, o Options, checks ...Check) (Result, error) {
	f, err := Gather(ctx, h, o)
	if err != nil {
		return Result{Node: o.Node}, err
	}
	return Evaluate(f, checks...), nil
}

// Evaluate applies checks (All() when none are given) to facts.
func Evaluate(f Facts, checks ...Check) Result {
	if len(checks) == 0 {
		checks = All()
	}
	r := Result{Node: f.Node, CgroupVersion: f.CgroupVersion, Findings: []Finding{}}
	if f.Kubelet != nil {
		r.KubeletVersion = "v" + f.Kubelet.String()
	}
	if f.Target != nil {
		r.TargetVersion = "v" + f.Target.String()
	}
	for _, c := range checks {
		r.Findings = append(r.Findings, c(f)...)
	}
	return r
}

func errorf(check, remediation, format string, a ...any) Finding {
	return Finding{Check: check, Severity: SeverityError, Message: fmt.Sprintf(format, a...), Remediation: remediation}
}

func warnf(check, remediation, format string, a ...any) Finding {
	return Finding{Check: check, Severity: SeverityWarning, Message: fmt.Sprintf(format, a...), Remediation: remediation}
}

// KubeletVersion: the installed kubelet can be read and the target is a legal step.
func KubeletVersion(f Facts) []Finding {
	if f.KubeletErr != nil {
		return []Finding{errorf(CheckKubeletVersion, "check that the kubelet binary exists and runs (`kubelet --version`)",
			"cannot read the installed kubelet version: %v", f.KubeletErr)}
	}
	if f.Target == nil || f.Kubelet == nil {
		return nil
	}
	if err := CheckUpgradePath(f.Kubelet, f.Target); err != nil {
		return []Finding{errorf(CheckKubeletVersion, "upgrade one minor version at a time and never downgrade", "%v", err)}
	}
	return nil
}

// KubeletHealth: the kubelet answers on its healthz endpoint.
func KubeletHealth(f Facts) []Finding {
	var out []Finding
	if f.ConfigErr != nil {
		out = append(out, warnf(CheckKubeletConfig, "check "+KubeletConfigPath+" (kubeadm writes it)", "%v", f.ConfigErr))
	}
	switch {
	case f.HealthzURL == "":
		out = append(out, warnf(CheckKubelet, "", "the kubelet healthz endpoint is disabled (healthzPort: 0); health is not checked"))
	case f.HealthzErr != nil:
		out = append(out, errorf(CheckKubelet, "fix the kubelet first: its log says why it is unhealthy",
			"the kubelet is not healthy: %v", f.HealthzErr))
	}
	return out
}

// Runtime: the container runtime's socket accepts connections.
func Runtime(f Facts) []Finding {
	if f.RuntimeErr == nil {
		return nil
	}
	return []Finding{errorf(CheckRuntime, "start the container runtime (containerd, CRI-O) and check its log",
		"the container runtime is not reachable: %v", f.RuntimeErr)}
}

// Swap: swap is off, or the kubelet is configured to run with it.
func Swap(f Facts) []Finding {
	if f.SwapErr != nil {
		return []Finding{warnf(CheckSwap, "", "cannot check swap: %v", f.SwapErr)}
	}
	if len(f.Swaps) == 0 {
		return nil
	}
	devs := strings.Join(f.Swaps, ", ")
	if f.Config.FailSwapOn != nil && !*f.Config.FailSwapOn {
		return []Finding{warnf(CheckSwap, "keep memorySwap.swapBehavior consistent with the target version's swap support",
			"swap is on (%s); the kubelet allows it (failSwapOn: false)", devs)}
	}
	return []Finding{errorf(CheckSwap, "turn swap off (`swapoff -a` and remove it from /etc/fstab) or set failSwapOn: false in the kubelet configuration",
		"swap is on (%s) and the kubelet refuses to start with swap (failSwapOn is not false)", devs)}
}

// Disk: enough free space where the upgrade writes.
func Disk(f Facts) []Finding {
	var out []Finding
	if f.DiskErr != nil {
		out = append(out, warnf(CheckDisk, "", "cannot check free disk space: %v", f.DiskErr))
	}
	minFree, minPct := f.MinFreeBytes, f.MinFreePercent
	if minFree == 0 {
		minFree = 1 << 30
	}
	if minPct == 0 {
		minPct = 10
	}
	for _, d := range f.Disks {
		pct := 100.0
		if d.Total > 0 {
			pct = float64(d.Free) * 100 / float64(d.Total)
		}
		switch {
		case d.Free < minFree:
			out = append(out, errorf(CheckDisk, "free disk space (unused images: `crictl rmi --prune`; old logs) to at least "+human(minFree),
				"only %s free on the file system of %s (the upgrade needs %s for binaries and the backup)", human(d.Free), d.Path, human(minFree)))
		case pct < minPct:
			out = append(out, warnf(CheckDisk, "free disk space: the kubelet's image garbage collection and evictions start near full disks",
				"only %.0f%% (%s) free on the file system of %s", pct, human(d.Free), d.Path))
		}
	}
	return out
}

// Cgroup: the target kubelet accepts the node's cgroup version. Kubernetes 1.35+
// refuses to start on cgroup v1 unless the kubelet configuration has failCgroupV1: false.
func Cgroup(f Facts) []Finding {
	if f.CgroupErr != nil {
		return []Finding{warnf(CheckCgroup, "", "cannot tell the cgroup version: %v", f.CgroupErr)}
	}
	if f.CgroupVersion != 1 || f.Target == nil {
		return nil
	}
	const rem = "move the node to cgroup v2 (boot with systemd.unified_cgroup_hierarchy=1 or a cgroup-v2 OS), " +
		"or set failCgroupV1: false in the kube-system/kubelet-config ConfigMap (kubeadm upgrade node rewrites " + KubeletConfigPath + " from it) and in " + KubeletConfigPath
	switch {
	case f.Target.Minor() >= 35 && (f.Config.FailCgroupV1 == nil || *f.Config.FailCgroupV1):
		return []Finding{errorf(CheckCgroup, rem, "the node uses cgroup v1 and kubelet v%s refuses to start on cgroup v1 (failCgroupV1 is not false)", f.Target)}
	case f.Target.Minor() >= 35:
		return []Finding{warnf(CheckCgroup, "plan the move to cgroup v2: cgroup v1 support is deprecated",
			"the node uses cgroup v1; kubelet v%s runs on it only because failCgroupV1: false", f.Target)}
	case f.Target.Minor() >= 31:
		return []Finding{warnf(CheckCgroup, rem, "the node uses cgroup v1 (maintenance mode since 1.31); kubelet 1.35+ refuses it by default")}
	}
	return nil
}

// RemovedFlags: no kubelet flag, feature gate or configuration field that a release
// between the installed and the target version removed (the kubelet would not start).
func RemovedFlags(f Facts) []Finding {
	if f.Target == nil {
		return nil
	}
	// Releases after the installed one up to the target (the last one when the
	// installed version is unknown); a patch upgrade removes nothing.
	from := f.Target.Minor() - 1
	if f.Kubelet != nil {
		from = f.Kubelet.Minor()
	}
	gates := featureGateNames(f)
	var flags, fgs, fields []string
	for m := from + 1; m <= f.Target.Minor(); m++ {
		r := kubeletRemovals[m]
		for _, fl := range r.flags {
			if _, ok := FlagValue(f.Args, fl); ok {
				flags = append(flags, fmt.Sprintf("--%s (removed in 1.%d)", fl, m))
			}
		}
		for _, g := range r.featureGates {
			if slices.Contains(gates, g) {
				fgs = append(fgs, fmt.Sprintf("%s (removed in 1.%d)", g, m))
			}
		}
		for _, k := range r.configFields {
			if _, ok := f.ConfigFields[k]; ok {
				fields = append(fields, fmt.Sprintf("%s (removed in 1.%d)", k, m))
			}
		}
	}
	var out []Finding
	if len(flags) > 0 {
		out = append(out, errorf(CheckRemovedFlags, "remove them from "+KubeadmFlagsPath+", KUBELET_EXTRA_ARGS (/etc/default/kubelet) and the kubelet's service definition",
			"kubelet v%s no longer accepts flags set on this node: %s", f.Target, strings.Join(flags, ", ")))
	}
	if len(fgs) > 0 {
		out = append(out, errorf(CheckRemovedFlags, "remove them from --feature-gates and from featureGates in the kubelet configuration (and the kube-system/kubelet-config ConfigMap)",
			"kubelet v%s no longer knows feature gates set on this node: %s", f.Target, strings.Join(fgs, ", ")))
	}
	if len(fields) > 0 {
		out = append(out, errorf(CheckRemovedFlags, "remove them from "+KubeletConfigPath+" and the kube-system/kubelet-config ConfigMap",
			"kubelet v%s no longer accepts configuration fields set on this node: %s", f.Target, strings.Join(fields, ", ")))
	}
	return out
}

func featureGateNames(f Facts) []string {
	var names []string
	for g := range f.Config.FeatureGates {
		names = append(names, g)
	}
	for i, a := range f.Args {
		k, v, hasV := strings.Cut(a, "=")
		if k != "--feature-gates" {
			continue
		}
		if !hasV && i+1 < len(f.Args) {
			v = f.Args[i+1]
		}
		for _, kv := range strings.Split(v, ",") {
			if n, _, _ := strings.Cut(strings.TrimSpace(kv), "="); n != "" {
				names = append(names, n)
			}
		}
	}
	sort.Strings(names)
	return names
}

func human(b uint64) string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%d B", b)
	}
	div, exp := uint64(unit), 0
	for n := b / unit; n >= unit; n /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(b)/float64(div), "KMGTPE"[exp])
}
