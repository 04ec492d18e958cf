package precheck

import (
	"sort"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/hostcheck"
)

// The host checks below are run by the node agent, which reports findings with these
// IDs; each one is a line here. host-cgroup, host-other and host-check-incomplete have
// their own files.

// hostCheck builds a deep check that reports the node agent's findings with this ID
// (the agent, `edgeupgrade-node check`, runs the host probes; see pkg/hostcheck).
func hostCheck(id, title string, sev Severity, remediation string) Check {
	return Check{
		ID:          id,
		Title:       title,
		Severity:    sev,
		Category:    CategoryHost,
		Deep:        true,
		Needs:       []Source{SourceHost},
		Remediation: remediation,
		Run:         func(v *View) []Finding { return hostFindings(v, func(c string) bool { return c == id }) },
	}
}

// hostFindings returns the agent findings whose check ID matches, node by node.
func hostFindings(v *View, match func(check string) bool) []Finding {
	nodes := make([]string, 0, len(v.Host))
	for n := range v.Host {
		nodes = append(nodes, n)
	}
	sort.Strings(nodes)
	var out []Finding
	for _, n := range nodes {
		for _, f := range v.Host[n].Findings {
			if !match(f.Check) {
				continue
			}
			sev := SeverityWarning
			if f.Severity == hostcheck.SeverityError {
				sev = SeverityError
			}
			out = append(out, Finding{Object: nodeObject(n), Severity: sev, Message: f.Message,
				Remediation: f.Remediation, Source: "deep check " + f.Check})
		}
	}
	return out
}

func (checks) HostSwap() Check {
	return hostCheck(hostcheck.CheckSwap, "Swap is off on the hosts (or configured for the kubelet)", SeverityError,
		"turn swap off (swapoff -a and remove it from /etc/fstab), or configure the kubelet's swap support")
}

func (checks) HostDisk() Check {
	return hostCheck(hostcheck.CheckDisk, "Enough free disk under / and /var/lib/kubelet", SeverityError,
		"free disk space (images: crictl rmi --prune; logs) so at least 20% is free")
}

func (checks) HostKubelet() Check {
	return hostCheck(hostcheck.CheckKubelet, "The kubelet is running and healthy", SeverityError,
		"check the kubelet's logs on the node and restart it")
}

func (checks) HostRuntime() Check {
	return hostCheck(hostcheck.CheckRuntime, "The container runtime is running and healthy", SeverityError,
		"check the container runtime (crictl info) and restart it")
}

func (checks) HostKubeletConfig() Check {
	return hostCheck(hostcheck.CheckKubeletConfig, "No kubelet flag or config field that the target removes", SeverityError,
		"remove the flag or field from the kubelet's configuration before the upgrade")
}

func (checks) HostKubeletVersion() Check {
	return hostCheck(hostcheck.CheckKubeletVersion, "The kubelet binary on the host matches what the node reports", SeverityError,
		"reinstall or restart the kubelet so the binary and the running version agree")
}

func (checks) HostKubeletRemovedFlags() Check {
	return hostCheck(hostcheck.CheckRemovedFlags, "No kubelet flag or feature gate that the target removes", SeverityError,
		"remove the flag or feature gate from the kubelet's arguments (kubeadm-flags.env, systemd drop-ins) before the upgrade")
}
