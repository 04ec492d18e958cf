package precheck

import "fmt"

// RemovedAPIHelm: Helm v3 releases whose stored manifest uses an API version the
// target removes; the next `helm upgrade` of such a release fails.
func (checks) RemovedAPIHelm() Check {
	return Check{
		ID:          "removed-api-helm",
		Title:       "No deployed Helm release manifest uses an API version the target removes",
		Severity:    SeverityError,
		Category:    CategoryAPI,
		NeedsTarget: true,
		Needs:       []Source{SourceHelm},
		Remediation: "upgrade the chart to a version with the new APIs, or rewrite the release with helm mapkubeapis",
		Run:         runRemovedAPIHelm,
	}
}

func runRemovedAPIHelm(v *View) []Finding {
	var out []Finding
	for _, r := range v.Helm {
		rel := object("HelmRelease", r.Namespace, r.Name)
		src := fmt.Sprintf("helm release %s %s/%s revision %d", r.Storage, r.Namespace, r.StorageName, r.Revision)
		if r.Err != "" {
			out = append(out, Finding{Object: rel, Severity: SeverityWarning, Source: src,
				Message: "cannot decode the release: " + r.Err, Remediation: "check the release with helm get manifest"})
			continue
		}
		for _, m := range r.Objects {
			ns := m.Namespace
			if ns == "" {
				ns = r.Namespace
			}
			f := apiFinding(v, m.APIVersion, m.Kind, rel, src,
				fmt.Sprintf("upgrade the chart (or run helm mapkubeapis %s -n %s)", r.Name, r.Namespace))
			if f == nil {
				continue
			}
			f.Message = fmt.Sprintf("%s %s/%s %s", m.Kind, ns, m.Name, f.Message)
			out = append(out, *f)
		}
	}
	return out
}
