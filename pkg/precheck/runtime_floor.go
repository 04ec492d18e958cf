package precheck

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/version"
)

// RuntimeFindings applies the runtime-version check's rules to nodes alone, every node
// in scope: what `components` reports as the runtime's supported floor for a target,
// from the one table the pre-check keeps.
func RuntimeFindings(nodes []corev1.Node, server, target *version.Version) []Finding {
	if server == nil || target == nil {
		return nil
	}
	return runRuntimeVersion(&View{Nodes: nodes, Server: server, Target: target})
}
