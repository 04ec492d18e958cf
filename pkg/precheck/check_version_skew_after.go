package precheck

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/version"
)

// VersionSkewAfter: the nodes this run leaves alone stay within the supported skew
// once the API server is at the target.
func (checks) VersionSkewAfter() Check {
	return Check{
		ID:          "version-skew-after",
		Title:       "Nodes left at their version stay within the supported skew after the upgrade",
		Severity:    SeverityError,
		Category:    CategoryVersion,
		NeedsTarget: true,
		Needs:       []Source{SourceNodes},
		Remediation: "upgrade the lagging nodes to a newer minor first, or include them in this run",
		Run:         runVersionSkewAfter,
	}
}

func runVersionSkewAfter(v *View) []Finding {
	var out []Finding
	t := v.Target
	for i := range v.Nodes {
		n := &v.Nodes[i]
		why := ""
		switch {
		case !v.InScope(n):
			why = "outside this run's scope"
		case v.Deferred(n):
			why = "deferred by --skip-unready"
		default:
			continue // upgraded to the target by this run
		}
		k, err := version.ParseGeneric(n.Status.NodeInfo.KubeletVersion)
		if err != nil {
			continue // version-skew reports it
		}
		switch d := minorDiff(t, k); {
		case d < 0:
			out = append(out, Finding{Object: nodeObject(n.Name),
				Message: fmt.Sprintf("kubelet %s (%s) would be newer than the API server at %s", k, why, t)})
		case d > maxKubeletLag(k):
			out = append(out, Finding{Object: nodeObject(n.Name),
				Message: fmt.Sprintf("kubelet %s (%s) would be %d minors behind the API server at %s (at most %d supported)",
					k, why, d, minorString(t), maxKubeletLag(k)),
				Remediation: "upgrade this node first (--mode nodes with the current minor), or include it in this run"})
		}
	}
	return out
}
