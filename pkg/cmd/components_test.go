package cmd

import (
	"encoding/json"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/components"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/precheck/prechecktest"
)

// A DaemonSet of a namespace named with -n is found, with its pod per node, and kube-system
// is always searched; the expectations follow --to.
func TestComponentsJSON(t *testing.T) {
	tmpl := corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "kube-proxy", Image: "registry.k8s.io/kube-proxy:v1.35.2"}}}}
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "kube-proxy"}, Spec: appsv1.DaemonSetSpec{Template: tmpl}}
	ds.Status.DesiredNumberScheduled = 1
	agent := ds.DeepCopy()
	agent.Namespace, agent.Name = "edge", "tunnel-agent"
	ctrl := true
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "edge", Name: "tunnel-agent-x", OwnerReferences: []metav1.OwnerReference{{Kind: "DaemonSet", Name: "tunnel-agent", Controller: &ctrl}}},
		Spec: corev1.PodSpec{NodeName: "edge-1", Containers: []corev1.Container{{Name: "agent", Image: "example.org/tunnel-agent:v2"}}}}
	c := prechecktest.NewCluster("v1.35.2", append(prechecktest.Healthy(), ds, agent, pod)...)
	out, _, err := execute(t, c, newCmdComponents, "--to", "v1.36.1", "-n", "edge", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var r components.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if r.Kind != components.Kind || strings.Join(r.Namespaces, ",") != "kube-system,edge" || len(r.Components) != 2 || len(r.Runtimes) == 0 {
		t.Fatalf("report = %+v", r)
	}
	proxy, agentC := r.Components[0], r.Components[1]
	if proxy.Name != "kube-proxy" || proxy.Action != components.ActionMust || proxy.Expected != "v1.36.1" {
		t.Errorf("kube-proxy = %+v", proxy)
	}
	if agentC.Category != components.CategoryEdge || len(agentC.Pods) != 1 || agentC.Pods[0].Node != "edge-1" {
		t.Errorf("tunnel-agent = %+v", agentC)
	}
	if _, _, err := execute(t, c, newCmdComponents, "--to", "one"); err == nil || !strings.Contains(err.Error(), "invalid version") {
		t.Errorf("bad --to: %v", err)
	}
}
