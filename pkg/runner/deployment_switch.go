package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// revisionAnnotation is the Deployment controller's revision number of a Deployment
// and of each of its ReplicaSets.
const revisionAnnotation = "deployment.kubernetes.io/revision"

// SwitchDeployment sets a recorded Deployment run's new template (kept in the state,
// upgrade.SwitchPending) on its Deployment, waits for the controller to start the
// rollout (a ReplicaSet of the new revision), and returns the spec with that revision
// as the target. Idempotent: a Deployment already holding the template is only read,
// so a run whose driver stopped between recording and switching is switched by the
// next one.
func SwitchDeployment(ctx context.Context, cs kubernetes.Interface, sp upgrade.Spec) (upgrade.Spec, error) {
	c := sp.Component
	var tmpl corev1.PodTemplateSpec
	if err := json.Unmarshal([]byte(c.NewTemplate), &tmpl); err != nil {
		return sp, fmt.Errorf("the run's new template of Deployment %s/%s: %w", c.Namespace, c.Name, err)
	}
	d, err := cs.AppsV1().Deployments(c.Namespace).Get(ctx, c.Name, metav1.GetOptions{})
	if err != nil {
		return sp, fmt.Errorf("read Deployment %s/%s of the run: %w", c.Namespace, c.Name, err)
	}
	if !apiequality.Semantic.DeepEqual(d.Spec.Template, tmpl) {
		next := d.DeepCopy()
		next.Spec.Template = tmpl
		if d, err = cs.AppsV1().Deployments(c.Namespace).Update(ctx, next, metav1.UpdateOptions{}); err != nil {
			return sp, fmt.Errorf("set the new template of Deployment %s/%s: %w", c.Namespace, c.Name, err)
		}
	}
	return awaitRevision(ctx, sp, func(ctx context.Context) (int64, string, bool) {
		cur, err := cs.AppsV1().Deployments(c.Namespace).Get(ctx, c.Name, metav1.GetOptions{})
		if err != nil || cur.Status.ObservedGeneration < d.Generation {
			return 0, "", false
		}
		num, hash, err := DeploymentRevision(ctx, cs, cur)
		return num, hash, err == nil && hash != ""
	}, fmt.Sprintf("the Deployment controller did not roll Deployment %s/%s to a new ReplicaSet", c.Namespace, c.Name))
}

// DeploymentRevision is the Deployment's revision and the pod-template-hash of its
// ReplicaSet of that revision; no hash when its controller has not made it yet.
func DeploymentRevision(ctx context.Context, cs kubernetes.Interface, d *appsv1.Deployment) (int64, string, error) {
	want := d.Annotations[revisionAnnotation]
	rev, err := strconv.ParseInt(want, 10, 64)
	if err != nil {
		return 0, "", nil // no revision yet: its controller has not seen it
	}
	rss, err := cs.AppsV1().ReplicaSets(d.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, "", fmt.Errorf("read the ReplicaSets of Deployment %s/%s: %w", d.Namespace, d.Name, err)
	}
	for _, rs := range rss.Items {
		if ref := metav1.GetControllerOf(&rs); ref != nil && ref.UID == d.UID && rs.Annotations[revisionAnnotation] == want {
			return rev, rs.Labels[appsv1.DefaultDeploymentUniqueLabelKey], nil
		}
	}
	return rev, "", nil
}

// switchWorkload switches the workload of a run recorded before its switch.
func switchWorkload(ctx context.Context, cs kubernetes.Interface, sp upgrade.Spec) (upgrade.Spec, error) {
	if upgrade.KindOf(sp) == upgrade.KindDeployment {
		return SwitchDeployment(ctx, cs, sp)
	}
	return SwitchDaemonSet(ctx, cs, sp)
}
