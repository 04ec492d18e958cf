package precheck

import (
	"fmt"
	"sort"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/hostcheck"
)

// HostCgroup: from 1.35 the kubelet refuses to start on cgroup v1 unless
// failCgroupV1 is set to false. The agent reports the node's cgroup version.
func (checks) HostCgroup() Check {
	c := hostCheck(hostcheck.CheckCgroup, "Hosts use cgroup v2 when the target needs it", SeverityError,
		"move the node to cgroup v2 (systemd.unified_cgroup_hierarchy=1), or set failCgroupV1: false in the kubelet config")
	c.Run = runHostCgroup
	return c
}

func runHostCgroup(v *View) []Finding {
	reported := map[string]bool{}
	out := hostFindings(v, func(c string) bool { return c == hostcheck.CheckCgroup })
	for _, f := range out {
		reported[f.Object] = true
	}
	if v.Target == nil || v.Target.Minor() < 35 {
		return out
	}
	nodes := make([]string, 0, len(v.Host))
	for n := range v.Host {
		nodes = append(nodes, n)
	}
	sort.Strings(nodes)
	for _, n := range nodes {
		if v.Host[n].CgroupVersion == 1 && !reported[nodeObject(n)] {
			out = append(out, Finding{Object: nodeObject(n), Source: "deep check",
				Message: fmt.Sprintf("cgroup v1: the kubelet %s refuses to start on cgroup v1 unless failCgroupV1 is false", minorString(v.Target))})
		}
	}
	return out
}
