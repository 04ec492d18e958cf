package nodes

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

func node(lbls map[string]string, ready ...corev1.ConditionStatus) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n", Labels: lbls}}
	n.Status.NodeInfo.KubeletVersion = "v1.35.4"
	for _, s := range ready {
		n.Status.Conditions = append(n.Status.Conditions, corev1.NodeCondition{Type: corev1.NodeReady, Status: s})
	}
	return n
}

func TestToNode(t *testing.T) {
	for _, tc := range []struct {
		name      string
		node      *corev1.Node
		poolLabel string
		want      upgrade.Node
	}{
		{"control-plane label", node(map[string]string{LabelControlPlane: ""}, corev1.ConditionTrue), "",
			upgrade.Node{Role: upgrade.RoleMaster, Ready: true}},
		{"legacy master label", node(map[string]string{LabelMasterLegacy: "true"}, corev1.ConditionTrue), "",
			upgrade.Node{Role: upgrade.RoleMaster, Ready: true}},
		{"OpenYurt pool", node(map[string]string{LabelOpenYurtPool: "north", LabelACKPool: "ack"}, corev1.ConditionTrue), "",
			upgrade.Node{Role: upgrade.RoleWorker, Pool: "north", Ready: true}},
		{"ACK pool", node(map[string]string{LabelACKPool: "np-1"}, corev1.ConditionFalse), "",
			upgrade.Node{Role: upgrade.RoleWorker, Pool: "np-1"}},
		{"OpenYurt cloud node", node(map[string]string{LabelOpenYurtEdge: "false"}, corev1.ConditionTrue), "",
			upgrade.Node{Role: upgrade.RoleWorker, Pool: CloudPool, Ready: true}},
		{"ACK cloud node", node(map[string]string{LabelACKEdge: "false"}, corev1.ConditionUnknown), "",
			upgrade.Node{Role: upgrade.RoleWorker, Pool: CloudPool}},
		{"edge node without a pool", node(map[string]string{LabelOpenYurtEdge: "true"}, corev1.ConditionTrue), "",
			upgrade.Node{Role: upgrade.RoleWorker, Pool: upgrade.NoPool, Ready: true}},
		{"--pool-label wins", node(map[string]string{"region": "south", LabelOpenYurtPool: "north"}, corev1.ConditionTrue), "region",
			upgrade.Node{Role: upgrade.RoleWorker, Pool: "south", Ready: true}},
		{"--pool-label absent: no pool, not the known labels", node(map[string]string{LabelOpenYurtPool: "north"}, corev1.ConditionTrue), "region",
			upgrade.Node{Role: upgrade.RoleWorker, Pool: upgrade.NoPool, Ready: true}},
		{"no Ready condition", node(nil), "", upgrade.Node{Role: upgrade.RoleWorker}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.want.Name, tc.want.Version = "n", "v1.35.4"
			if got := ToNode(tc.node, tc.poolLabel); got != tc.want {
				t.Errorf("ToNode = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestReadyCondition(t *testing.T) {
	n := node(nil)
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionTrue},
		{Type: corev1.NodeReady, Status: corev1.ConditionFalse, Reason: "KubeletNotReady"}}
	if c := ReadyCondition(n); c == nil || c.Reason != "KubeletNotReady" || Ready(n) {
		t.Errorf("ReadyCondition = %+v, Ready = %v", c, Ready(n))
	}
	if c := ReadyCondition(node(nil)); c != nil {
		t.Errorf("no conditions: %+v", c)
	}
}
