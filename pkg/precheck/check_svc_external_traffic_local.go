package precheck

import corev1 "k8s.io/api/core/v1"

// SvcExternalTrafficLocal: LoadBalancer and NodePort Services with
// externalTrafficPolicy Local send outside traffic only to pods on the receiving node,
// so it drops while that node is upgraded (and, per ACK, in-cluster access through the
// load balancer from the same node breaks after node rotation).
func (checks) SvcExternalTrafficLocal() Check {
	return Check{
		ID:          "svc-external-traffic-local",
		Title:       "No Service depends on node-local external traffic",
		Severity:    SeverityWarning,
		Category:    CategoryWorkload,
		Needs:       []Source{SourceServices},
		Remediation: "expect traffic loss on each node while it upgrades, or set externalTrafficPolicy: Cluster",
		Run:         runSvcExternalTrafficLocal,
	}
}

func runSvcExternalTrafficLocal(v *View) []Finding {
	var out []Finding
	for _, s := range v.Services {
		if s.Spec.Type != corev1.ServiceTypeLoadBalancer && s.Spec.Type != corev1.ServiceTypeNodePort {
			continue
		}
		if s.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal {
			out = append(out, Finding{Object: object("Service", s.Namespace, s.Name),
				Message: string(s.Spec.Type) + " Service with externalTrafficPolicy Local"})
		}
	}
	return out
}
