// Package nodes classifies a Kubernetes Node for the upgrade: its role, its pool, whether
// it is a cloud node and whether it is Ready, read from the labels kubeadm, OpenYurt and
// ACK set (docs/design.md §2.2, §6). It is the one place those rules live: the runner
// converts Nodes for the core with ToNode, and the pre-check classifies the same Nodes
// with the same functions. It needs only the API types, no client.
package nodes

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// Well-known labels (docs/design.md §2.2, §6).
const (
	LabelControlPlane = "node-role.kubernetes.io/control-plane"
	LabelMasterLegacy = "node-role.kubernetes.io/master"
	LabelOpenYurtPool = "apps.openyurt.io/nodepool"
	LabelACKPool      = "alibabacloud.com/nodepool-id"
	LabelOpenYurtEdge = "openyurt.io/is-edge-worker"
	LabelACKEdge      = "alibabacloud.com/is-edge-worker"
	// CloudPool is the pool of cloud nodes that carry no pool label.
	CloudPool = "cloud"
)

// ToNode converts a Node for the core. poolLabel (--pool-label) overrides the known
// pool labels.
func ToNode(n *corev1.Node, poolLabel string) upgrade.Node {
	return upgrade.Node{
		Name:    n.Name,
		Role:    Role(n),
		Pool:    Pool(n, poolLabel),
		Version: n.Status.NodeInfo.KubeletVersion,
		Runtime: n.Status.NodeInfo.ContainerRuntimeVersion,
		Ready:   Ready(n),
		// When it went NotReady: the Ready condition's last transition.
		NotReadySince: notReadySince(n),
	}
}

func notReadySince(n *corev1.Node) time.Time {
	if c := ReadyCondition(n); c != nil && c.Status != corev1.ConditionTrue {
		return c.LastTransitionTime.Time
	}
	return time.Time{}
}

// Role is master for control-plane nodes (either role label), worker otherwise.
func Role(n *corev1.Node) upgrade.Role {
	_, cp := n.Labels[LabelControlPlane]
	_, legacy := n.Labels[LabelMasterLegacy]
	if cp || legacy {
		return upgrade.RoleMaster
	}
	return upgrade.RoleWorker
}

// Pool returns the node's pool: the --pool-label value, else OpenYurt's or ACK's pool
// label, else "cloud" for cloud nodes, else no pool (upgrade.NoPool).
func Pool(n *corev1.Node, poolLabel string) string {
	if poolLabel != "" {
		return n.Labels[poolLabel]
	}
	for _, l := range []string{LabelOpenYurtPool, LabelACKPool} {
		if p := n.Labels[l]; p != "" {
			return p
		}
	}
	if IsCloud(n) {
		return CloudPool
	}
	return upgrade.NoPool
}

// IsCloud reports a node marked as a cloud (non-edge) node.
func IsCloud(n *corev1.Node) bool {
	return n.Labels[LabelOpenYurtEdge] == "false" || n.Labels[LabelACKEdge] == "false"
}

// Ready reports whether the node's Ready condition is True. A node that reports no
// Ready condition is not Ready.
func Ready(n *corev1.Node) bool {
	c := ReadyCondition(n)
	return c != nil && c.Status == corev1.ConditionTrue
}

// ReadyCondition returns the node's Ready condition, nil if it reports none.
func ReadyCondition(n *corev1.Node) *corev1.NodeCondition {
	for i := range n.Status.Conditions {
		if c := &n.Status.Conditions[i]; c.Type == corev1.NodeReady {
			return c
		}
	}
	return nil
}

// Cluster is the core's view of a cluster from nodes already read: the API server
// version and the nodes sel picks (nil: all), converted. start builds its first state
// from the pre-check's node list with it instead of listing the nodes again.
func Cluster(serverVersion string, all []corev1.Node, sel labels.Selector, poolLabel string) upgrade.Cluster {
	c := upgrade.Cluster{APIServerVersion: serverVersion}
	for i := range all {
		if sel == nil || sel.Matches(labels.Set(all[i].Labels)) {
			c.Nodes = append(c.Nodes, ToNode(&all[i], poolLabel))
		}
	}
	return c
}
