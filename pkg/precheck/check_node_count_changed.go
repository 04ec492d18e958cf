package precheck

import "fmt"

// NodeCountChanged: the cluster has as many nodes as when the upgrade started. A
// change means nodes joined or left mid-upgrade; batch sizes and progress were computed
// for the old count.
func (checks) NodeCountChanged() Check {
	return Check{
		ID:          "node-count-changed",
		Title:       "Node count unchanged since the upgrade started",
		Severity:    SeverityWarning,
		Category:    CategoryNode,
		Needs:       []Source{SourceNodes},
		Remediation: "check the nodes that joined or left; new nodes may need their own upgrade run",
		Skip: func(v *View) string {
			if v.Options.ExpectedNodes <= 0 {
				return "no upgrade in progress"
			}
			return ""
		},
		Run: runNodeCountChanged,
	}
}

func runNodeCountChanged(v *View) []Finding {
	if n := len(v.Nodes); n != v.Options.ExpectedNodes {
		return []Finding{{Object: "Cluster", Message: fmt.Sprintf("%d nodes now, %d when the upgrade started", n, v.Options.ExpectedNodes)}}
	}
	return nil
}
