package precheck

// RemovedAPILastApplied: objects whose last `kubectl apply` used an API version the
// target removes or deprecates.
func (checks) RemovedAPILastApplied() Check {
	return Check{
		ID:          "removed-api-last-applied",
		Title:       "No object was last applied with an API version the target removes",
		Severity:    SeverityError,
		Category:    CategoryAPI,
		NeedsTarget: true,
		Needs:       []Source{SourceAPIObjects},
		Remediation: "update the manifests to the replacement apiVersion and re-apply them",
		Run:         runRemovedAPILastApplied,
	}
}

func runRemovedAPILastApplied(v *View) []Finding {
	var out []Finding
	for _, o := range v.APIObjects {
		la := o.LastApplied
		if la == nil {
			continue
		}
		kind := la.Kind
		if kind == "" {
			kind = o.Kind
		}
		if f := apiFinding(v, la.APIVersion, kind, object(o.Kind, o.Namespace, o.Name),
			"last-applied annotation", "update the manifest and re-apply it (kubectl apply)"); f != nil {
			out = append(out, *f)
		}
	}
	return out
}
