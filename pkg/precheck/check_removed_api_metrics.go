package precheck

import (
	"fmt"
	"strconv"
	"strings"
)

// RemovedAPIMetrics: the API server's apiserver_requested_deprecated_apis metric shows
// clients that requested an API version the target removes.
func (checks) RemovedAPIMetrics() Check {
	return Check{
		ID:          "removed-api-metrics",
		Title:       "No client requests an API version the target removes (API server metrics)",
		Severity:    SeverityError,
		Category:    CategoryAPI,
		NeedsTarget: true,
		Needs:       []Source{SourceMetrics},
		Remediation: "find the client in the audit log (annotation k8s.io/deprecated) and update it",
		Run:         runRemovedAPIMetrics,
	}
}

func runRemovedAPIMetrics(v *View) []Finding {
	var out []Finding
	const src = "apiserver_requested_deprecated_apis (one API server instance, since its start)"
	for _, s := range v.Metrics[metricDeprecatedAPIs] {
		if s.Value <= 0 {
			continue
		}
		group, ver, res, sub := s.Labels["group"], s.Labels["version"], s.Labels["resource"], s.Labels["subresource"]
		gv := ver
		if group != "" {
			gv = group + "/" + ver
		}
		path := gv + "/" + res
		if sub != "" {
			path += "/" + sub
		}
		removed := removedMinor(s.Labels["removed_release"])
		f := Finding{Object: "API/" + path, Source: src}
		migration := "move it to the replacement API"
		if r, ok := lookupRemovedResource(gv, res); ok {
			migration = r.migration(v.Target)
			if removed == 0 {
				removed = r.Removed
			}
		}
		switch {
		case removed > 0 && v.Target.Major() == 1 && int(v.Target.Minor()) >= removed:
			f.Severity = SeverityError
			f.Message = fmt.Sprintf("requested since the API server started; removed in 1.%d (target %s)", removed, v.Options.TargetVersion)
		case removed > 0:
			f.Severity = SeverityWarning
			f.Message = fmt.Sprintf("requested since the API server started; deprecated, removed in 1.%d", removed)
		default:
			f.Severity = SeverityWarning
			f.Message = "requested since the API server started; deprecated"
		}
		f.Remediation = "find the client in the audit log (annotation k8s.io/deprecated) and update it; " + migration
		if v.PreferredVersions[group] == ver {
			// Nothing newer in the group: the garbage collector and namespace
			// controller list it too (kubernetes/kubernetes#106668).
			f.Severity = SeverityWarning
			f.Message += "; this is the group's only served version, so the request may come from the garbage collector"
		}
		out = append(out, f)
	}
	return out
}

func removedMinor(release string) int {
	_, m, ok := strings.Cut(release, ".")
	if !ok {
		return 0
	}
	n, _ := strconv.Atoi(m)
	return n
}
