package precheck

import (
	"fmt"
	"time"
)

// recentWrite is how recent a managedFields write through a removed API must be to
// count as "still in use" (error) rather than a stale record (warning).
const recentWrite = 30 * 24 * time.Hour

// RemovedAPIManagedFields: field managers that wrote objects through an API version the
// target removes. managedFields record, per manager, the version it last wrote with,
// so this names the controller or user that must change.
func (checks) RemovedAPIManagedFields() Check {
	return Check{
		ID:          "removed-api-managed-fields",
		Title:       "No field manager writes through an API version the target removes",
		Severity:    SeverityError,
		Category:    CategoryAPI,
		NeedsTarget: true,
		Needs:       []Source{SourceAPIObjects},
		Remediation: "update the named manager (controller, CI job, tool) to the replacement apiVersion",
		Run:         runRemovedAPIManagedFields,
	}
}

func runRemovedAPIManagedFields(v *View) []Finding {
	var out []Finding
	for _, o := range v.APIObjects {
		for _, m := range o.Managers {
			f := apiFinding(v, m.APIVersion, o.Kind, object(o.Kind, o.Namespace, o.Name),
				"managedFields", fmt.Sprintf("update %q to write with the new apiVersion", m.Manager))
			if f == nil {
				continue
			}
			when := "at an unknown time"
			if !m.Time.IsZero() {
				when = "on " + m.Time.UTC().Format("2006-01-02")
			}
			f.Message = fmt.Sprintf("manager %q (%s %s) %s", m.Manager, m.Operation, when, f.Message)
			if f.Severity == SeverityError && !m.Time.IsZero() && v.Now.Sub(m.Time) > recentWrite {
				f.Severity = SeverityWarning
				f.Message += "; last write is older than 30 days, so the manager may have moved on"
			}
			out = append(out, *f)
		}
	}
	return out
}
