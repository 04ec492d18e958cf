package precheck

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
)

// NodePressure: no node in scope reports memory, disk or PID pressure, or an
// unavailable network.
func (checks) NodePressure() Check {
	return Check{
		ID:          "node-pressure",
		Title:       "Nodes in scope are not under memory, disk or PID pressure",
		Severity:    SeverityError,
		Category:    CategoryNode,
		Needs:       []Source{SourceNodes},
		Remediation: "free disk/memory/PIDs on the node (the upgrade pulls an image and restarts the kubelet)",
		Run:         runNodePressure,
	}
}

func runNodePressure(v *View) []Finding {
	var out []Finding
	for i := range v.Nodes {
		n := &v.Nodes[i]
		if !v.Upgrades(n) {
			continue
		}
		for _, c := range n.Status.Conditions {
			if c.Status != corev1.ConditionTrue {
				continue
			}
			sev := SeverityWarning
			switch c.Type {
			case corev1.NodeDiskPressure:
				sev = SeverityError // the upgrade image and the binary backup need disk
			case corev1.NodeMemoryPressure, corev1.NodePIDPressure, corev1.NodeNetworkUnavailable:
			default:
				continue
			}
			out = append(out, Finding{Object: nodeObject(n.Name), Severity: sev,
				Message:     fmt.Sprintf("%s=True (%s) %s", c.Type, c.Reason, c.Message),
				Remediation: fmt.Sprintf("resolve %s on the node before upgrading it", c.Type)})
		}
	}
	return out
}
