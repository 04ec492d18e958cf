package lab

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/edgeupgrade/kubectl-edgeupgrade/test/lab/sim"
)

// DaemonSetNamespace holds the DaemonSets the lab creates (as kube-proxy, a CNI or an
// edge tunnel agent would live there).
const DaemonSetNamespace = "kube-system"

// DaemonSet creates a DaemonSet named name in kube-system whose pods run on the named
// nodes, or on every node when none is named (they tolerate every taint; kwok runs
// them), and waits until every pod is Ready.
func (l *Lab) DaemonSet(ctx context.Context, name string, nodes ...string) error {
	labels := map[string]string{"app": name}
	var affinity *corev1.Affinity
	if len(nodes) > 0 {
		affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{
				{Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpIn, Values: nodes}}}}}}}
	}
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: DaemonSetNamespace},
		Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					Containers:  []corev1.Container{{Name: name, Image: "lab/" + name + ":1"}},
					Tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
					Affinity:    affinity,
				}}}}
	if _, err := l.Client.AppsV1().DaemonSets(DaemonSetNamespace).Create(ctx, ds, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create DaemonSet %s: %w", name, err)
	}
	var last *appsv1.DaemonSet
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		d, err := l.Client.AppsV1().DaemonSets(DaemonSetNamespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = d
		s := d.Status
		return s.ObservedGeneration == d.Generation && s.DesiredNumberScheduled > 0 && s.NumberReady == s.DesiredNumberScheduled, nil
	})
	if err != nil {
		return fmt.Errorf("DaemonSet %s not Ready on every node: %+v: %w", name, last.Status, err)
	}
	return nil
}

// DaemonPod returns the name of the DaemonSet's pod on node.
func (l *Lab) DaemonPod(ctx context.Context, ds, node string) (string, error) {
	pods, err := l.Client.CoreV1().Pods(DaemonSetNamespace).List(ctx, metav1.ListOptions{
		LabelSelector: "app=" + ds, FieldSelector: "spec.nodeName=" + node})
	if err != nil || len(pods.Items) != 1 {
		return "", fmt.Errorf("the pod of DaemonSet %s on node %s: %d found, %v", ds, node, len(pods.Items), err)
	}
	return pods.Items[0].Name, nil
}

// SetPodReady makes kwok report the pod not Ready (ready=false), or Ready again, with
// the label sim.LabelNotReady; it waits until the pod's Ready condition says so.
func (l *Lab) SetPodReady(ctx context.Context, namespace, pod string, ready bool) error {
	v := `"true"`
	if ready {
		v = "null"
	}
	patch := []byte(`{"metadata":{"labels":{"` + sim.LabelNotReady + `":` + v + `}}}`)
	if _, err := l.Client.CoreV1().Pods(namespace).Patch(ctx, pod, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("label pod %s/%s: %w", namespace, pod, err)
	}
	want := corev1.ConditionFalse
	if ready {
		want = corev1.ConditionTrue
	}
	return wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		p, err := l.Client.CoreV1().Pods(namespace).Get(ctx, pod, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady {
				return c.Status == want, nil
			}
		}
		return false, nil
	})
}
