package precheck

import (
	"strings"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/internal/words"
)

// APIServerReady: the API server reports ready (/readyz), etcd included.
func (checks) APIServerReady() Check {
	return Check{
		ID:          "apiserver-ready",
		Title:       "The API server is ready (/readyz)",
		Severity:    SeverityError,
		Category:    CategoryVersion,
		Needs:       []Source{SourceReadyz},
		Remediation: "check kubectl get --raw '/readyz?verbose' and fix the failing component (often etcd)",
		Run:         runAPIServerReady,
	}
}

func runAPIServerReady(v *View) []Finding {
	if strings.TrimSpace(v.Readyz) == "ok" {
		return nil
	}
	return []Finding{{Object: "/readyz", Message: words.FirstLine(v.Readyz, maxLine)}}
}
