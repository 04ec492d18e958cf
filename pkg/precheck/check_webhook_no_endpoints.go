package precheck

import "fmt"

// WebhookNoEndpoints: every admission webhook's Service has a ready endpoint. While
// none is ready, a fail-closed webhook rejects every request it intercepts, e.g. the
// pods the upgrade restarts.
func (checks) WebhookNoEndpoints() Check {
	return Check{
		ID:          "webhook-no-endpoints",
		Title:       "Admission webhooks have ready endpoints",
		Severity:    SeverityError,
		Category:    CategoryAdmission,
		Needs:       []Source{SourceWebhooks, SourceServices, SourceEndpoints},
		Remediation: "fix or scale up the webhook's backend, or delete the webhook configuration if it is unused",
		Run:         runWebhookNoEndpoints,
	}
}

func runWebhookNoEndpoints(v *View) []Finding {
	var out []Finding
	for _, w := range webhooks(v) {
		svc := w.service()
		if svc == "" {
			continue
		}
		problem := ""
		if !serviceExists(v, svc) {
			problem = fmt.Sprintf("service %s does not exist", svc)
		} else if !hasReadyEndpoint(v, svc) {
			problem = fmt.Sprintf("service %s has no ready endpoints", svc)
		}
		if problem == "" {
			continue
		}
		f := Finding{Object: w.object(), Message: fmt.Sprintf("webhook %s: %s", w.Name, problem)}
		if w.failClosed() {
			f.Severity = SeverityError
			f.Message += " and failurePolicy is Fail: matching requests are rejected"
		} else {
			f.Severity = SeverityWarning
			f.Message += " (failurePolicy Ignore: matching requests wait for the timeout)"
		}
		out = append(out, f)
	}
	return out
}

func serviceExists(v *View, key string) bool {
	for _, s := range v.Services {
		if s.Namespace+"/"+s.Name == key {
			return true
		}
	}
	return false
}

func hasReadyEndpoint(v *View, key string) bool {
	for _, sl := range v.EndpointSlices[key] {
		for _, ep := range sl.Endpoints {
			if endpointReady(ep.Conditions.Ready) && len(ep.Addresses) > 0 {
				return true
			}
		}
	}
	return false
}
