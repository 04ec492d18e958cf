package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/runner"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// DefaultSettle is how long a Deployment's rollout must stay healthy before its run
// completes: the edge documents ask to wait about five minutes after each component.
const DefaultSettle = 5 * time.Minute

// revisionAnnotation is the Deployment controller's revision number of a Deployment
// and of each of its ReplicaSets.
const revisionAnnotation = "deployment.kubernetes.io/revision"

func kindName(sp upgrade.Spec) string {
	if sp.Kind == upgrade.KindDeployment {
		return "Deployment"
	}
	return "DaemonSet"
}

// runDeployment sets the Deployment's new template, waits for its controller to
// start the rollout (a new ReplicaSet), records the run and starts it. The previous
// template is kept in the run's spec: a cancel patches it back.
func (o *ComponentUpgradeOptions) runDeployment(ctx context.Context, prev upgrade.State, prevCM *corev1.ConfigMap) error {
	d, err := o.client.AppsV1().Deployments(o.Namespace).Get(ctx, o.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("read Deployment %s/%s: %w", o.Namespace, o.Name, err)
	}
	saved, err := json.Marshal(d.Spec.Template)
	if err != nil {
		return err
	}
	next := d.DeepCopy()
	if err := o.newTemplate(d.Namespace, d.Name, &next.Spec.Template); err != nil {
		return err
	}
	if apiequality.Semantic.DeepEqual(next.Spec.Template, d.Spec.Template) {
		_, err := fmt.Fprintf(o.streams.Out, "Deployment %s/%s already has this template (revision %s): %s\n", d.Namespace, d.Name,
			d.Annotations[revisionAnnotation], upgrade.ErrNothingToDo)
		return err
	}
	fromRev, fromHash, err := o.deploymentRevision(ctx, d, false)
	if err != nil {
		return err
	}
	sp := upgrade.Spec{
		Kind: upgrade.KindDeployment, Mode: upgrade.ModeAll, PauseExpiry: upgrade.Duration{Duration: o.PauseExpiry},
		FromVersion: upgrade.RevisionVersion(fromRev),
		Component: upgrade.ComponentSpec{Namespace: d.Namespace, Name: d.Name, FromHash: fromHash, Template: string(saved),
			Images:     strings.Join(containerImages(next.Spec.Template.Spec.Containers), ", "),
			PodTimeout: upgrade.Duration{Duration: o.PodTimeout}, Settle: upgrade.Duration{Duration: o.Settle}},
	}
	updated, err := o.client.AppsV1().Deployments(d.Namespace).Update(ctx, next, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("set the new template of Deployment %s/%s: %w", d.Namespace, d.Name, err)
	}
	toRev, toHash, err := o.deploymentRevision(ctx, updated, true)
	if err != nil {
		o.release(ctx, sp)
		return err
	}
	sp.TargetVersion, sp.Component.TargetHash = upgrade.RevisionVersion(toRev), toHash
	pseudo := upgrade.Node{Name: "deployment/" + d.Name, Role: upgrade.RoleWorker, Ready: true, Version: sp.FromVersion}
	first, err := upgrade.NewComponentState(sp, runner.NewRunID(o.now()), []upgrade.Node{pseudo}, o.now().UTC())
	if err != nil {
		o.release(ctx, sp)
		return err
	}
	return o.begin(ctx, prev, prevCM, first)
}

// deploymentRevision is the Deployment's revision and the pod-template-hash of its
// ReplicaSet of that revision; with wait, once its controller has seen the Deployment
// as given (its new template).
func (o *ComponentUpgradeOptions) deploymentRevision(ctx context.Context, d *appsv1.Deployment, wait bool) (int64, string, error) {
	var rev int64
	var hash string
	timeout := time.Minute
	if !wait {
		timeout = 0
	}
	err := pollOnce(ctx, timeout, func(ctx context.Context) (bool, error) {
		cur, err := o.client.AppsV1().Deployments(d.Namespace).Get(ctx, d.Name, metav1.GetOptions{})
		if err != nil || cur.Status.ObservedGeneration < d.Generation {
			return false, err
		}
		rev, hash, err = o.replicaSetOf(ctx, cur)
		return err == nil && hash != "", nil
	})
	if err != nil || hash == "" {
		return 0, "", fmt.Errorf("the Deployment controller did not roll Deployment %s/%s to a new ReplicaSet within %s (is kube-controller-manager running?): %v",
			d.Namespace, d.Name, timeout, err)
	}
	return rev, hash, nil
}

// replicaSetOf finds the ReplicaSet of the Deployment's current revision.
func (o *ComponentUpgradeOptions) replicaSetOf(ctx context.Context, d *appsv1.Deployment) (int64, string, error) {
	want := d.Annotations[revisionAnnotation]
	rev, err := strconv.ParseInt(want, 10, 64)
	if err != nil {
		return 0, "", nil // no revision yet: its controller has not seen it
	}
	rss, err := o.client.AppsV1().ReplicaSets(d.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, "", err
	}
	for _, rs := range rss.Items {
		if ref := metav1.GetControllerOf(&rs); ref != nil && ref.UID == d.UID && rs.Annotations[revisionAnnotation] == want {
			return rev, rs.Labels[appsv1.DefaultDeploymentUniqueLabelKey], nil
		}
	}
	return rev, "", nil
}

// pollOnce polls cond every 100 ms until timeout, or once when timeout is zero.
func pollOnce(ctx context.Context, timeout time.Duration, cond wait.ConditionWithContextFunc) error {
	if timeout == 0 {
		ok, err := cond(ctx)
		if err == nil && !ok {
			err = errors.New("not found")
		}
		return err
	}
	return wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, timeout, true, cond)
}
