package precheck

import (
	"sort"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// webhook is a validating or mutating webhook, flattened for the checks.
type webhook struct {
	Kind              string // ValidatingWebhookConfiguration | MutatingWebhookConfiguration
	Config            string
	Name              string
	ClientConfig      admissionregistrationv1.WebhookClientConfig
	FailurePolicy     admissionregistrationv1.FailurePolicyType
	Rules             []admissionregistrationv1.RuleWithOperations
	NamespaceSelector *metav1.LabelSelector
	ObjectSelector    *metav1.LabelSelector
}

func (w webhook) object() string { return w.Kind + "/" + w.Config }

// failClosed: failurePolicy Fail (the default of admissionregistration/v1).
func (w webhook) failClosed() bool {
	return w.FailurePolicy == "" || w.FailurePolicy == admissionregistrationv1.Fail
}

func (w webhook) service() string {
	if s := w.ClientConfig.Service; s != nil {
		return s.Namespace + "/" + s.Name
	}
	return ""
}

func (w webhook) port() int32 {
	if s := w.ClientConfig.Service; s != nil && s.Port != nil {
		return *s.Port
	}
	return 443
}

func webhooks(v *View) []webhook {
	var out []webhook
	for _, c := range v.ValidatingWebhooks {
		for _, h := range c.Webhooks {
			fp := admissionregistrationv1.FailurePolicyType("")
			if h.FailurePolicy != nil {
				fp = *h.FailurePolicy
			}
			out = append(out, webhook{Kind: "ValidatingWebhookConfiguration", Config: c.Name, Name: h.Name, ClientConfig: h.ClientConfig,
				FailurePolicy: fp, Rules: h.Rules, NamespaceSelector: h.NamespaceSelector, ObjectSelector: h.ObjectSelector})
		}
	}
	for _, c := range v.MutatingWebhooks {
		for _, h := range c.Webhooks {
			fp := admissionregistrationv1.FailurePolicyType("")
			if h.FailurePolicy != nil {
				fp = *h.FailurePolicy
			}
			out = append(out, webhook{Kind: "MutatingWebhookConfiguration", Config: c.Name, Name: h.Name, ClientConfig: h.ClientConfig,
				FailurePolicy: fp, Rules: h.Rules, NamespaceSelector: h.NamespaceSelector, ObjectSelector: h.ObjectSelector})
		}
	}
	return out
}

// webhookServices returns the "namespace/name" of every Service a webhook calls.
func webhookServices(v *View) []string {
	seen := map[string]bool{}
	var out []string
	for _, w := range webhooks(v) {
		if s := w.service(); s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}
