package precheck

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/version"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/hostcheck"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/nodes"
)

// testNow is the clock of every test view.
var testNow = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// newView is a healthy cluster at v1.35.2 (one control-plane node, two edge workers)
// upgrading to v1.36.1; cases change what they need.
func newView(o Options) *View {
	if o.TargetVersion == "" {
		o.TargetVersion = "v1.36.1"
	}
	v := &View{
		Options:          o,
		Now:              testNow,
		ServerGitVersion: "v1.35.2",
		Server:           version.MustParseGeneric("v1.35.2"),
		Nodes:            []corev1.Node{newNode("cp-1", true), newNode("edge-1", false), newNode("edge-2", false)},
		Namespaces:       map[string]corev1.Namespace{},
		Readyz:           "ok",
		Metrics:          map[string][]Sample{},
		Unavailable:      map[Source]error{},
		Host:             map[string]hostcheck.Result{},
		HostErrors:       map[string]string{},
	}
	v.Target, v.TargetErr = parseTarget(o.TargetVersion)
	for _, ns := range []string{"default", "kube-system", "kube-node-lease"} {
		v.Namespaces[ns] = corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"kubernetes.io/metadata.name": ns}}}
	}
	return v
}

func newNode(name string, controlPlane bool) corev1.Node {
	n := corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}},
		Status: corev1.NodeStatus{
			Conditions: []corev1.NodeCondition{
				{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: metav1.NewTime(testNow.Add(-10 * time.Second))},
				{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse},
				{Type: corev1.NodeDiskPressure, Status: corev1.ConditionFalse},
			},
			NodeInfo: corev1.NodeSystemInfo{KubeletVersion: "v1.35.2", ContainerRuntimeVersion: "containerd://2.1.4"},
		},
	}
	if controlPlane {
		n.Labels[nodes.LabelControlPlane] = ""
	}
	return n
}

// node returns the named node of the view, to change it.
func node(t *testing.T, v *View, name string) *corev1.Node {
	t.Helper()
	for i := range v.Nodes {
		if v.Nodes[i].Name == name {
			return &v.Nodes[i]
		}
	}
	t.Fatalf("no node %s", name)
	return nil
}

func setCondition(n *corev1.Node, c corev1.NodeCondition) {
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == c.Type {
			n.Status.Conditions[i] = c
			return
		}
	}
	n.Status.Conditions = append(n.Status.Conditions, c)
}

// helmReleaseData encodes a release the way Helm v3 stores it (JSON, gzip, base64).
func helmReleaseData(t *testing.T, name, namespace string, revision int, manifest string) []byte {
	t.Helper()
	js, err := json.Marshal(map[string]any{
		"name": name, "namespace": namespace, "version": revision, "manifest": manifest,
		"info":  map[string]any{"status": "deployed"},
		"chart": map[string]any{"metadata": map[string]any{"name": name, "version": "1.0.0"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write(js); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return []byte(base64.StdEncoding.EncodeToString(b.Bytes()))
}
