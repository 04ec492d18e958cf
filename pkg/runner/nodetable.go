package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// tableAccept asks the API server for a Table of the list (what kubectl get prints):
// per node a few printed cells and its metadata, instead of the whole Node. At 5,000
// nodes a list of Nodes is tens of MB to decode; the Table is a fraction of it.
const tableAccept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"

// ListNodesLean lists the nodes sel picks as the server's Table (metadata, Status and
// Version columns) and returns them as Nodes that carry exactly what nodes.ToNode
// reads: labels, cordon, kubelet and container runtime versions (the Container-Runtime
// column of -o wide: which upgrade image a node needs), and the Ready condition. The Table says
// whether a node is Ready but not since when; the few nodes that are not Ready are
// read in full (get), so their NotReadySince is the real one.
func ListNodesLean(ctx context.Context, rc rest.Interface, cs kubernetes.Interface, sel string) ([]*corev1.Node, error) {
	raw, err := rc.Get().AbsPath("/api/v1/nodes").
		Param("labelSelector", sel).Param("resourceVersion", "0").Param("includeObject", string(metav1.IncludeMetadata)).
		SetHeader("Accept", tableAccept).Do(ctx).Raw()
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	out, notReady, err := nodesFromTable(raw)
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	if len(notReady) > maxNodeGets {
		// Many nodes offline: one full list costs less than a get for each.
		list, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: sel, ResourceVersion: "0"})
		if err != nil {
			return nil, fmt.Errorf("list nodes: %w", err)
		}
		out = out[:0]
		for i := range list.Items {
			out = append(out, &list.Items[i])
		}
		return out, nil
	}
	for _, i := range notReady {
		n, err := cs.CoreV1().Nodes().Get(ctx, out[i].Name, metav1.GetOptions{ResourceVersion: "0"})
		if err != nil {
			return nil, fmt.Errorf("read node %s: %w", out[i].Name, err)
		}
		out[i] = n
	}
	return out, nil
}

// maxNodeGets: above this many nodes not Ready, ListNodesLean lists every node in full.
const maxNodeGets = 32

// nodesFromTable converts a Table of nodes (JSON). It returns the index of every
// node that is not Ready, whose Ready condition's transition time the Table lacks.
func nodesFromTable(raw []byte) ([]*corev1.Node, []int, error) {
	// Without the Container-Runtime column the runtime is unknown, and a node gets
	// the image with containerd.
	t, col, err := decodeTable(raw, "node", "Status", "Version", "Container-Runtime")
	if err != nil {
		return nil, nil, err
	}
	statusCol, versionCol, runtimeCol := col[0], col[1], col[2]
	if statusCol < 0 || versionCol < 0 {
		return nil, nil, fmt.Errorf("the node table has no Status or Version column")
	}
	out := make([]*corev1.Node, 0, len(t.Rows))
	var notReady []int
	for _, row := range t.Rows {
		var m metav1.PartialObjectMetadata
		if err := json.Unmarshal(row.Object.Raw, &m); err != nil {
			return nil, nil, fmt.Errorf("decode a node table row: %w", err)
		}
		if len(row.Cells) <= max(statusCol, versionCol) {
			return nil, nil, fmt.Errorf("node %s: the table row has %d cells", m.Name, len(row.Cells))
		}
		st, _ := row.Cells[statusCol].(string)
		ver, _ := row.Cells[versionCol].(string)
		n := nodeFromRow(m.ObjectMeta, st, ver)
		if runtimeCol >= 0 && runtimeCol < len(row.Cells) {
			n.Status.NodeInfo.ContainerRuntimeVersion, _ = row.Cells[runtimeCol].(string)
		}
		if !isReady(n) {
			notReady = append(notReady, len(out))
		}
		out = append(out, n)
	}
	return out, notReady, nil
}

// nodeFromRow builds a Node from a Table row: the Status cell is the Ready condition
// ("Ready", "NotReady", or "Unknown" when the node reports none) and
// ",SchedulingDisabled" when cordoned (the API server's node printer).
func nodeFromRow(m metav1.ObjectMeta, status, version string) *corev1.Node {
	m.ManagedFields = nil
	n := &corev1.Node{ObjectMeta: m}
	n.Status.NodeInfo.KubeletVersion = version
	parts := strings.Split(status, ",")
	switch parts[0] {
	case "Ready":
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
	case "NotReady":
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionFalse}}
	}
	for _, p := range parts[1:] {
		if p == "SchedulingDisabled" {
			n.Spec.Unschedulable = true
		}
	}
	return n
}

func isReady(n *corev1.Node) bool {
	return len(n.Status.Conditions) == 1 && n.Status.Conditions[0].Status == corev1.ConditionTrue
}
