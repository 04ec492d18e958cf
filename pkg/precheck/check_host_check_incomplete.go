package precheck

import (
	"fmt"
	"sort"
)

// HostCheckIncomplete: nodes in scope whose deep check did not run or returned no
// usable result (NotReady, unschedulable, timed out, or an older agent).
func (checks) HostCheckIncomplete() Check {
	return Check{
		ID:          "host-check-incomplete",
		Title:       "Every node in scope returned its deep check result",
		Severity:    SeverityWarning,
		Category:    CategoryHost,
		Deep:        true,
		Remediation: "look at the deep-check pod of the node (kubectl get pods -n kube-upgrade -l app.kubernetes.io/component=deep-check)",
		Run:         runHostCheckIncomplete,
	}
}

func runHostCheckIncomplete(v *View) []Finding {
	if err, ok := v.Unavailable[SourceHost]; ok {
		return []Finding{{Object: "Namespace/kube-upgrade", Message: fmt.Sprintf("deep checks could not run: %v", err)}}
	}
	nodes := make([]string, 0, len(v.HostErrors))
	for n := range v.HostErrors {
		nodes = append(nodes, n)
	}
	sort.Strings(nodes)
	var out []Finding
	for _, n := range nodes {
		out = append(out, Finding{Object: nodeObject(n), Message: v.HostErrors[n]})
	}
	return out
}
