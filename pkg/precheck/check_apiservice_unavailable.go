package precheck

import "fmt"

// APIServiceUnavailable: every aggregated API is Available. An unavailable one breaks
// discovery, garbage collection and namespace deletion, and the upgrade with them.
func (checks) APIServiceUnavailable() Check {
	return Check{
		ID:          "apiservice-unavailable",
		Title:       "Aggregated APIServices are Available",
		Severity:    SeverityError,
		Category:    CategoryAdmission,
		Needs:       []Source{SourceAPIServices},
		Remediation: "fix the backing service (e.g. metrics-server) or delete the stale APIService",
		Run:         runAPIServiceUnavailable,
	}
}

func runAPIServiceUnavailable(v *View) []Finding {
	var out []Finding
	for _, s := range v.APIServices {
		if s.Available {
			continue
		}
		msg := "not Available"
		if s.Reason != "" || s.Message != "" {
			msg = fmt.Sprintf("not Available (%s): %s", s.Reason, s.Message)
		}
		if s.Service != "" {
			msg += "; served by service " + s.Service
		}
		out = append(out, Finding{Object: "APIService/" + s.Name, Message: msg})
	}
	return out
}
