package e2e

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/test/lab"
)

func (e *env) deployment(name string, replicas int32) {
	e.t.Helper()
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To(replicas), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "lab/app:1"}}}}}}
	if _, err := e.lab.Client.AppsV1().Deployments("default").Create(context.Background(), d, metav1.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		got, _ := e.lab.Client.AppsV1().Deployments("default").Get(context.Background(), name, metav1.GetOptions{})
		if got != nil && got.Status.ReadyReplicas == replicas {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("deployment %s not ready", name)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// --drain cordons and drains each batch, and uncordons what it cordoned on success.
func TestDrain(t *testing.T) {
	e := startLab(t, lab.Config{Workers: 6, Pools: 1})
	e.deployment("web", 6)
	if r := e.run(startArgs("--mode", "nodes", "--drain", "--wait")...); r.code != 0 {
		t.Fatalf("start --drain: %s", r)
	}
	nodes, _ := e.lab.Client.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	for _, n := range nodes.Items {
		if n.Spec.Unschedulable || n.Annotations["edgeupgrade.io/cordoned-by"] != "" {
			t.Errorf("node %s left cordoned", n.Name)
		}
	}
}

// A PodDisruptionBudget that allows no disruption blocks the drain: the run pauses
// naming the blocking pod, and the node stays cordoned.
func TestDrainBlockedByPDB(t *testing.T) {
	e := startLab(t, lab.Config{Workers: 3, Pools: 1})
	e.deployment("db", 3)
	pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "default"},
		Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr.To(intstr.FromInt32(3)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}}}
	if _, err := e.lab.Client.PolicyV1().PodDisruptionBudgets("default").Create(context.Background(), pdb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	r := e.run(startArgs("--mode", "nodes", "--drain", "--drain-timeout", "4s", "--wait", "--skip-check", "pdb-zero-disruption")...)
	if r.code != 3 || !contains(r.err, "drain did not finish") {
		t.Fatalf("start --drain with a blocking PDB: %s", r)
	}
	s := e.status()
	if s.Pause == nil || !s.Pause.ByError || !contains(s.Pause.Reason, "edge-a-001") {
		t.Fatalf("pause %+v", s.Pause)
	}
	if s.Nodes.Upgraded != 0 || e.jobCount(job.LabelManagedBy+"="+job.ManagedBy+","+job.LabelComponent+"="+job.ComponentNodeUpgrade) != 0 {
		t.Fatal("a node was upgraded although its drain failed")
	}
}
