package precheck

import (
	"strings"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/nodes"
)

// NodePLEG: no node in scope reports PLEG or container runtime trouble.
func (checks) NodePLEG() Check {
	return Check{
		ID:          "node-pleg",
		Title:       "Nodes in scope report no PLEG or container runtime trouble",
		Severity:    SeverityError,
		Category:    CategoryNode,
		Needs:       []Source{SourceNodes},
		Remediation: "check the container runtime on the node (crictl ps, runtime logs), restart it, then the kubelet",
		Run:         runNodePLEG,
	}
}

func runNodePLEG(v *View) []Finding {
	// What the kubelet writes into the Ready condition message when its pod lifecycle
	// event generator or the container runtime is unhealthy.
	plegMarkers := []string{"PLEG is not healthy", "container runtime is down", "container runtime not ready",
		"container runtime status check may not have completed"}
	var out []Finding
	for i := range v.Nodes {
		n := &v.Nodes[i]
		if !v.Upgrades(n) {
			continue // a deferred NotReady worker is node-not-ready's, as a warning
		}
		c := nodes.ReadyCondition(n)
		if c == nil {
			continue
		}
		for _, m := range plegMarkers {
			if strings.Contains(c.Message, m) {
				out = append(out, Finding{Object: nodeObject(n.Name), Message: c.Message})
				break
			}
		}
	}
	return out
}
