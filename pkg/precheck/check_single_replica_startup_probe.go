package precheck

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
)

// SingleReplicaStartupProbe: single-replica workloads with a startup probe. When the
// kubelet restarts in place, the pod is not Ready again until the startup probe
// passes, and with one replica the service is down meanwhile.
func (checks) SingleReplicaStartupProbe() Check {
	return Check{
		ID:          "single-replica-startup-probe",
		Title:       "No single-replica workload depends on a startup probe",
		Severity:    SeverityWarning,
		Category:    CategoryWorkload,
		Needs:       []Source{SourceWorkloads},
		Remediation: "run two or more replicas, or accept a short outage while the node's kubelet restarts",
		Run:         runSingleReplicaStartupProbe,
	}
}

func runSingleReplicaStartupProbe(v *View) []Finding {
	var out []Finding
	check := func(kind, ns, name string, replicas *int32, spec *corev1.PodSpec) {
		if replicas != nil && *replicas != 1 {
			return
		}
		for _, c := range spec.Containers {
			if c.StartupProbe != nil {
				out = append(out, Finding{Object: object(kind, ns, name),
					Message: fmt.Sprintf("1 replica; container %s has a startup probe", c.Name)})
				return
			}
		}
	}
	for _, d := range v.Deployments {
		check("Deployment", d.Namespace, d.Name, d.Spec.Replicas, &d.Spec.Template.Spec)
	}
	for _, s := range v.StatefulSets {
		check("StatefulSet", s.Namespace, s.Name, s.Spec.Replicas, &s.Spec.Template.Spec)
	}
	return out
}
