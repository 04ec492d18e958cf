package precheck

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// PDBZeroDisruption: PodDisruptionBudgets over pods on nodes in scope that allow no
// disruption. A drain (--drain) waits on them forever; without --drain the pods stay
// running through the in-place upgrade, so it is a warning.
func (checks) PDBZeroDisruption() Check {
	return Check{
		ID:          "pdb-zero-disruption",
		Title:       "PodDisruptionBudgets allow at least one disruption",
		Severity:    SeverityWarning,
		Category:    CategoryWorkload,
		Needs:       []Source{SourcePDBs},
		Remediation: "scale the workload up or relax minAvailable/maxUnavailable for the upgrade",
		Run:         runPDBZeroDisruption,
	}
}

func runPDBZeroDisruption(v *View) []Finding {
	var out []Finding
	_, podsMissing := v.Unavailable[SourcePods]
	for _, p := range v.PDBs {
		why := ""
		switch {
		case p.Spec.MaxUnavailable != nil && p.Spec.MaxUnavailable.String() == "0" || p.Spec.MaxUnavailable != nil && p.Spec.MaxUnavailable.String() == "0%":
			why = "maxUnavailable is 0"
		case p.Status.ExpectedPods > 0 && p.Status.DisruptionsAllowed == 0:
			why = fmt.Sprintf("allows 0 disruptions (%d healthy of %d expected, %d desired)",
				p.Status.CurrentHealthy, p.Status.ExpectedPods, p.Status.DesiredHealthy)
		default:
			continue
		}
		if !podsMissing && !pdbCoversScope(v, &p) {
			continue
		}
		f := Finding{Object: object("PodDisruptionBudget", p.Namespace, p.Name), Message: why, Severity: SeverityWarning}
		if v.Options.Drain {
			f.Severity = SeverityError
			f.Message += ": draining its pods' nodes blocks"
		} else {
			f.Message += ": pods cannot be evicted if a node needs draining"
		}
		out = append(out, f)
	}
	return out
}

// pdbCoversScope: the PDB selects a pod running on a node in scope.
func pdbCoversScope(v *View, p *policyv1.PodDisruptionBudget) bool {
	if p.Spec.Selector == nil {
		return false
	}
	sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
	if err != nil {
		return true
	}
	inScope := map[string]bool{}
	for i := range v.Nodes {
		inScope[v.Nodes[i].Name] = v.Upgrades(&v.Nodes[i])
	}
	for i := range v.Pods {
		pod := &v.Pods[i]
		if pod.Namespace == p.Namespace && inScope[pod.Spec.NodeName] && podActive(pod) && sel.Matches(labels.Set(pod.Labels)) {
			return true
		}
	}
	return false
}

func podActive(p *corev1.Pod) bool {
	return p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed
}
