package precheck

// NodeCordoned: nodes in scope that are cordoned (unschedulable) before the upgrade.
func (checks) NodeCordoned() Check {
	return Check{
		ID:          "node-cordoned",
		Title:       "Nodes in scope are not cordoned",
		Severity:    SeverityWarning,
		Category:    CategoryNode,
		Needs:       []Source{SourceNodes},
		Remediation: "uncordon the node if the cordon is stale (kubectl uncordon NODE); the upgrade leaves cordons it did not set",
		Run:         runNodeCordoned,
	}
}

func runNodeCordoned(v *View) []Finding {
	var out []Finding
	for i := range v.Nodes {
		n := &v.Nodes[i]
		if v.Upgrades(n) && n.Spec.Unschedulable {
			out = append(out, Finding{Object: nodeObject(n.Name), Message: "cordoned (spec.unschedulable=true) before the upgrade"})
		}
	}
	return out
}
