package precheck

import (
	"fmt"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// WebhookCriticalFail: fail-closed webhooks that intercept what the cluster needs to
// heal itself during an upgrade (kube-system pods, node leases, nodes). If their
// backend is down, say on the node being upgraded, the cluster can deadlock.
func (checks) WebhookCriticalFail() Check {
	return Check{
		ID:       "webhook-critical-fail",
		Title:    "No fail-closed webhook intercepts kube-system pods, leases or nodes",
		Severity: SeverityWarning,
		Category: CategoryAdmission,
		Needs:    []Source{SourceWebhooks, SourceNamespaces},
		Remediation: "exclude kube-system and kube-node-lease with a namespaceSelector, drop nodes/leases from the rules, " +
			"or use failurePolicy Ignore",
		Run: runWebhookCriticalFail,
	}
}

// criticalTarget is a resource the control plane and kubelets must be able to write.
type criticalTarget struct {
	group, resource, namespace string // namespace "" = cluster-scoped
}

func runWebhookCriticalFail(v *View) []Finding {
	targets := []criticalTarget{
		{"", "pods", "kube-system"},
		{"coordination.k8s.io", "leases", "kube-system"},
		{"coordination.k8s.io", "leases", "kube-node-lease"},
		{"", "nodes", ""},
	}
	var out []Finding
	for _, w := range webhooks(v) {
		if !w.failClosed() || !selectorEmpty(w.ObjectSelector) {
			continue // an object selector may exclude them: not decidable here
		}
		var hits []string
		for _, t := range targets {
			if !rulesMatch(w.Rules, t) || (t.namespace != "" && !namespaceSelected(v, w.NamespaceSelector, t.namespace)) {
				continue
			}
			h := t.resource
			if t.namespace != "" {
				h += " in " + t.namespace
			}
			hits = append(hits, h)
		}
		if len(hits) > 0 {
			out = append(out, Finding{Object: w.object(),
				Message: fmt.Sprintf("webhook %s (failurePolicy Fail) intercepts %s", w.Name, strings.Join(hits, ", "))})
		}
	}
	return out
}

func selectorEmpty(s *metav1.LabelSelector) bool {
	return s == nil || (len(s.MatchLabels) == 0 && len(s.MatchExpressions) == 0)
}

func rulesMatch(rules []admissionregistrationv1.RuleWithOperations, t criticalTarget) bool {
	for _, r := range rules {
		if r.Scope != nil {
			s := *r.Scope
			if (s == admissionregistrationv1.ClusterScope && t.namespace != "") || (s == admissionregistrationv1.NamespacedScope && t.namespace == "") {
				continue
			}
		}
		if matchesAny(r.APIGroups, t.group) && resourceMatches(r.Resources, t.resource) {
			return true
		}
	}
	return false
}

func matchesAny(list []string, s string) bool {
	for _, x := range list {
		if x == "*" || x == s {
			return true
		}
	}
	return false
}

func resourceMatches(list []string, res string) bool {
	for _, x := range list {
		if x == "*" || x == "*/*" || x == res || x == res+"/*" {
			return true
		}
	}
	return false
}

func namespaceSelected(v *View, sel *metav1.LabelSelector, ns string) bool {
	if selectorEmpty(sel) {
		return true
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return false
	}
	lbls := labels.Set{"kubernetes.io/metadata.name": ns}
	if n, ok := v.Namespaces[ns]; ok {
		for k, val := range n.Labels {
			lbls[k] = val
		}
	}
	return s.Matches(lbls)
}
