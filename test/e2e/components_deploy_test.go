package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	"github.com/edgeupgrade/kubectl-edgeupgrade/test/lab"
)

// A Deployment run: its native rollout to a new image, verified and settled, completes;
// a second run whose new pods never become Ready pauses naming a pod, and its cancel
// rolls the Deployment back to the template it had before that run.
func TestComponentsUpgradeDeployment(t *testing.T) {
	t.Parallel()
	e := startLab(t, lab.Config{Workers: 2, Pools: 1})
	ctx := context.Background()
	deployment(t, e, "web", 2)

	r := e.run("components", "upgrade", "deployment/web", "--image", "web=lab/web:2", "--settle", "2s", "--pod-timeout", "30s", "--wait", "--no-tty")
	if r.code != 0 {
		t.Fatalf("components upgrade deployment/web exited %d, want 0:\n%s", r.code, r)
	}
	s := e.status()
	if s.Phase != "Completed" || s.RunKind != "deployment" {
		t.Fatalf("phase %s kind %q, want a Completed deployment run: %+v", s.Phase, s.RunKind, s)
	}
	if s.FinishedAt == nil || s.FinishedAt.Sub(s.StartedAt) < 2*time.Second {
		t.Errorf("the run did not settle for 2s: started %s, finished %v", s.StartedAt, s.FinishedAt)
	}
	pods := webPods(t, e)
	if len(pods) != 2 {
		t.Fatalf("%d pods after the rollout, want 2", len(pods))
	}
	for _, p := range pods {
		if p.Spec.Containers[0].Image != "lab/web:2" || !podReady(&p) {
			t.Errorf("pod %s runs %s, Ready %v", p.Name, p.Spec.Containers[0].Image, podReady(&p))
		}
	}

	// The next template's pods never become Ready (the lab's annotation, on every node).
	file := deployManifest(t, "web", "lab/web:3", `lab.edgeupgrade.io/not-ready-on: "*"`)
	r = e.run("components", "upgrade", "deployment/web", "-f", file, "--settle", "1s", "--pod-timeout", "3s", "--wait", "--no-tty")
	if r.code != 3 {
		t.Fatalf("components upgrade of a template never Ready exited %d, want 3 (paused):\n%s", r.code, r)
	}
	s = e.status()
	if s.Pause == nil || !contains(s.Pause.Reason, "pod kube-system/web-") || !contains(s.Pause.Reason, "not Ready within 3s") {
		t.Fatalf("pause %+v, want the pod that is not Ready named", s.Pause)
	}
	if r := e.run("status"); r.code != 0 || !contains(r.out, "Deployment kube-system/web") {
		t.Errorf("status of the Deployment run: %s", r)
	}
	if r := e.run("cancel", "--yes"); r.code != 0 {
		t.Fatalf("cancel: %s", r)
	}
	d, err := e.lab.Client.AppsV1().Deployments(lab.DaemonSetNamespace).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if img := d.Spec.Template.Spec.Containers[0].Image; img != "lab/web:2" || d.Spec.Template.Annotations[notReadyOn] != "" {
		t.Fatalf("after cancel the Deployment's template runs %s with annotations %v: want lab/web:2 back, without the new annotation",
			img, d.Spec.Template.Annotations)
	}
	if s := e.status(); s.Phase != "Cancelled" {
		t.Errorf("phase %s, want Cancelled", s.Phase)
	}
}

// deployment creates a Deployment of replicas pods in the lab and waits until it is
// available.
func deployment(t *testing.T, e *env, name string, replicas int32) {
	t.Helper()
	ctx := context.Background()
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: lab.DaemonSetNamespace},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To(replicas), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{
				Containers:  []corev1.Container{{Name: name, Image: "lab/" + name + ":1"}},
				Tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpExists}}}}}}
	if _, err := e.lab.Client.AppsV1().Deployments(d.Namespace).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		cur, err := e.lab.Client.AppsV1().Deployments(d.Namespace).Get(ctx, name, metav1.GetOptions{})
		return err == nil && cur.Status.ObservedGeneration == cur.Generation && cur.Status.AvailableReplicas == replicas, nil
	})
	if err != nil {
		t.Fatalf("Deployment %s not available: %v", name, err)
	}
}

func webPods(t *testing.T, e *env) []corev1.Pod {
	t.Helper()
	pods, err := e.lab.Client.CoreV1().Pods(lab.DaemonSetNamespace).List(context.Background(), metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	var out []corev1.Pod
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

// deployManifest writes a Deployment whose template is deployment's with image and an
// annotation.
func deployManifest(t *testing.T, name, image, annotation string) string {
	t.Helper()
	doc := fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
  namespace: kube-system
spec:
  selector:
    matchLabels:
      app: %[1]s
  template:
    metadata:
      labels:
        app: %[1]s
      annotations:
        %[3]s
    spec:
      containers:
      - name: %[1]s
        image: %[2]s
      tolerations:
      - operator: Exists
`, name, image, annotation)
	path := filepath.Join(t.TempDir(), name+".yaml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
