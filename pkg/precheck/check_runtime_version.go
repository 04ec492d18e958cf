package precheck

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/version"
)

// RuntimeVersion: the container runtime of every node in scope supports the target.
func (checks) RuntimeVersion() Check {
	return Check{
		ID:          "runtime-version",
		Title:       "Container runtimes support the target version",
		Severity:    SeverityError,
		Category:    CategoryNode,
		NeedsTarget: true,
		Needs:       []Source{SourceNodes},
		Remediation: "let the run upgrade containerd before the kubelet (kubectl edgeupgrade start --runtime-version " + DefaultRuntimeVersion + "), or upgrade the container runtime on these nodes yourself",
		Run:         runRuntimeVersion,
	}
}

func runRuntimeVersion(v *View) []Finding {
	var out []Finding
	t := int(v.Target.Minor())
	planned := PlannedRuntime(v)
	fits := plannedRuntimeFits(planned, containerdFloor(t))
	for i := range v.Nodes {
		n := &v.Nodes[i]
		if !v.Upgrades(n) {
			continue
		}
		rv := n.Status.NodeInfo.ContainerRuntimeVersion
		name, ver, ok := strings.Cut(rv, "://")
		if !ok {
			continue
		}
		rt, err := version.ParseGeneric(ver)
		if err != nil {
			continue
		}
		f := Finding{Object: nodeObject(n.Name)}
		switch name {
		case "docker":
			if int(v.Server.Minor()) < 24 && t >= 24 {
				f.Message = fmt.Sprintf("runtime %s: dockershim is removed in 1.24", rv)
				f.Remediation = "switch the node to containerd (or install cri-dockerd) before upgrading"
			}
		case "containerd":
			switch {
			case (rt.Major() < 2 && t >= 36 || rt.Major() == 1 && rt.Minor() < 6 && t >= 26) && fits:
				// The run fixes it: the node step upgrades containerd before the kubelet.
				f.Severity = SeverityWarning
				f.Message = fmt.Sprintf("runtime %s is too old for Kubernetes %s: the run upgrades containerd to %s on the node before the kubelet (--runtime-version)", rv, minorString(v.Target), planned)
			case rt.Major() < 2 && t >= 36:
				f.Message = fmt.Sprintf("runtime %s: Kubernetes %s needs containerd 2.x (1.35 was the last release supporting containerd 1.x)", rv, minorString(v.Target))
				f.Remediation = "rerun with --runtime-version " + DefaultRuntimeVersion + " (the node step upgrades containerd in place before the kubelet, from the upgrade image), or upgrade containerd to 2.x on the node yourself"
			case rt.Major() == 1 && rt.Minor() < 6 && t >= 26:
				f.Message = fmt.Sprintf("runtime %s: Kubernetes 1.26+ needs the CRI v1 API (containerd 1.6 or newer)", rv)
				f.Remediation = "rerun with --runtime-version " + DefaultRuntimeVersion + " (the node step upgrades containerd before the kubelet), or upgrade containerd to 1.7 or 2.x on the node yourself"
			case rt.Major() < 2 && t == 35:
				f.Severity = SeverityWarning
				f.Message = fmt.Sprintf("runtime %s: 1.35 is the last Kubernetes release that supports containerd 1.x", rv)
				f.Remediation = "plan the move to containerd 2.x before upgrading to 1.36"
			}
		case "cri-o":
			if rt.Major() == 1 && int(rt.Minor()) < t {
				f.Severity = SeverityWarning
				f.Message = fmt.Sprintf("runtime %s: CRI-O minors follow Kubernetes minors", rv)
				f.Remediation = fmt.Sprintf("upgrade CRI-O to 1.%d with the kubelet", t)
			}
		}
		if f.Message != "" {
			out = append(out, f)
		}
	}
	return out
}
