package precheck

import "fmt"

// FlexVolume: pods on nodes in scope, and PersistentVolumes, that use FlexVolume
// drivers. FlexVolume is deprecated; its drivers live on the host, outside what the
// upgrade manages.
func (checks) FlexVolume() Check {
	return Check{
		ID:       "flexvolume",
		Title:    "No workload depends on a FlexVolume driver",
		Severity: SeverityWarning,
		Category: CategoryWorkload,
		Needs:    []Source{SourcePods, SourceVolumes},
		Remediation: "make sure the driver stays installed in the kubelet's volume plugin directory on upgraded nodes, " +
			"and plan the move to a CSI driver",
		Run: runFlexVolume,
	}
}

func runFlexVolume(v *View) []Finding {
	var out []Finding
	inScope := map[string]bool{}
	for i := range v.Nodes {
		inScope[v.Nodes[i].Name] = v.Upgrades(&v.Nodes[i])
	}
	for _, p := range v.Pods {
		if !inScope[p.Spec.NodeName] {
			continue
		}
		for _, vol := range p.Spec.Volumes {
			if vol.FlexVolume != nil {
				out = append(out, Finding{Object: object("Pod", p.Namespace, p.Name),
					Message: fmt.Sprintf("volume %s uses FlexVolume driver %s on node %s", vol.Name, vol.FlexVolume.Driver, p.Spec.NodeName)})
			}
		}
	}
	for _, pv := range v.PersistentVolumes {
		if pv.Spec.FlexVolume != nil {
			out = append(out, Finding{Object: "PersistentVolume/" + pv.Name,
				Message: "uses FlexVolume driver " + pv.Spec.FlexVolume.Driver})
		}
	}
	return out
}
