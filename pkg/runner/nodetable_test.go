package runner

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/nodes"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// nodeTable is a Table of nodes as the API server's node printer writes it (the
// columns of kubectl get nodes -o wide, metadata as the row object).
func nodeTable(t *testing.T, rows ...[3]any) []byte {
	t.Helper()
	tab := metav1.Table{TypeMeta: metav1.TypeMeta{Kind: "Table", APIVersion: "meta.k8s.io/v1"}}
	for _, c := range []string{"Name", "Status", "Roles", "Age", "Version", "Internal-IP", "Container-Runtime"} {
		tab.ColumnDefinitions = append(tab.ColumnDefinitions, metav1.TableColumnDefinition{Name: c, Type: "string"})
	}
	for _, r := range rows {
		m := r[0].(metav1.ObjectMeta)
		m.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubelet", Operation: metav1.ManagedFieldsOperationUpdate}}
		raw, err := json.Marshal(metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{Kind: "PartialObjectMetadata", APIVersion: "meta.k8s.io/v1"}, ObjectMeta: m})
		if err != nil {
			t.Fatal(err)
		}
		tab.Rows = append(tab.Rows, metav1.TableRow{Cells: []any{m.Name, r[1], "<none>", "5m", r[2], "127.0.0.2", "containerd://2.2.9"},
			Object: runtime.RawExtension{Raw: raw}})
	}
	b, err := json.Marshal(tab)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The Table's cells carry what the core reads of a Ready node (role and pool from the
// labels, kubelet version, Ready, cordon); a node that is not Ready is read in full
// for the time it went NotReady.
func TestListNodesLeanReadsTheTableAndGetsTheNodesNotReady(t *testing.T) {
	pool := map[string]string{nodes.LabelOpenYurtPool: "hangzhou"}
	master := map[string]string{nodes.LabelControlPlane: ""}
	since := metav1.NewTime(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))
	offline := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "edge-2", Labels: pool},
		Status: corev1.NodeStatus{NodeInfo: corev1.NodeSystemInfo{KubeletVersion: "v1.35.4", ContainerRuntimeVersion: "containerd://1.6.20"},
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionUnknown, LastTransitionTime: since}}}}
	var query, accept string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		query, accept = r.URL.RawQuery, r.Header.Get("Accept")
		_, _ = w.Write(nodeTable(t,
			[3]any{metav1.ObjectMeta{Name: "master-1", UID: "u1", Labels: master}, "Ready", "v1.36.3"},
			[3]any{metav1.ObjectMeta{Name: "edge-1", UID: "u2", Labels: pool}, "Ready,SchedulingDisabled", "v1.35.4"},
			[3]any{metav1.ObjectMeta{Name: "edge-2", UID: "u3", Labels: pool}, "NotReady", "v1.35.4"},
		))
	}))
	defer srv.Close()
	core, err := corev1client.NewForConfig(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	list, err := ListNodesLean(context.Background(), core.RESTClient(), fake.NewClientset(offline), "edge=true")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(accept, "as=Table") || !strings.Contains(query, "includeObject=Metadata") || !strings.Contains(query, "labelSelector=edge%3Dtrue") {
		t.Errorf("request: Accept %q, query %q; want a Table with metadata of the selected nodes", accept, query)
	}
	var got []upgrade.Node
	for _, n := range list {
		got = append(got, nodes.ToNode(n, ""))
		if n.ManagedFields != nil {
			t.Errorf("%s keeps its managed fields", n.Name)
		}
	}
	want := []upgrade.Node{
		{Name: "master-1", Role: upgrade.RoleMaster, Pool: upgrade.NoPool, Version: "v1.36.3", Runtime: "containerd://2.2.9", Ready: true},
		{Name: "edge-1", Role: upgrade.RoleWorker, Pool: "hangzhou", Version: "v1.35.4", Runtime: "containerd://2.2.9", Ready: true},
		{Name: "edge-2", Role: upgrade.RoleWorker, Pool: "hangzhou", Version: "v1.35.4", Runtime: "containerd://1.6.20", NotReadySince: since.Time},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("node %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	if !list[1].Spec.Unschedulable || list[0].Spec.Unschedulable || list[0].UID != "u1" {
		t.Errorf("cordon or UID lost: %+v %+v", list[0], list[1])
	}
}

// A Table the converter cannot read (another kind, missing columns, short rows) is
// an error, never nodes with empty versions.
func TestNodesFromTableRejectsWhatItCannotRead(t *testing.T) {
	good := nodeTable(t, [3]any{metav1.ObjectMeta{Name: "a"}, "Ready", "v1.36.3"})
	for name, raw := range map[string][]byte{
		"not a table":   []byte(`{"kind":"NodeList","apiVersion":"v1","items":[]}`),
		"no version":    []byte(strings.ReplaceAll(string(good), `"name":"Version"`, `"name":"Kubelet"`)),
		"short row":     []byte(strings.Replace(string(good), `"cells":["a","Ready","\u003cnone\u003e","5m","v1.36.3","127.0.0.2","containerd://2.2.9"]`, `"cells":["a"]`, 1)),
		"not even JSON": []byte(`<html>`),
	} {
		if _, _, err := nodesFromTable(raw); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, notReady, err := nodesFromTable(good); err != nil || len(notReady) != 0 {
		t.Errorf("good table: %v %v", notReady, err)
	}
}
