package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// SwitchDaemonSet holds a recorded DaemonSet run's DaemonSet on OnDelete with the new
// template kept in the state (upgrade.SwitchPending), waits for its controller to
// record the revision, and returns the spec with that revision as the target.
// Idempotent: a DaemonSet already switched is only read, so a run whose driver stopped
// between recording and switching is switched by the next one.
func SwitchDaemonSet(ctx context.Context, cs kubernetes.Interface, sp upgrade.Spec) (upgrade.Spec, error) {
	c := sp.Component
	var tmpl corev1.PodTemplateSpec
	if err := json.Unmarshal([]byte(c.NewTemplate), &tmpl); err != nil {
		return sp, fmt.Errorf("the run's new template of DaemonSet %s/%s: %w", c.Namespace, c.Name, err)
	}
	ds, err := cs.AppsV1().DaemonSets(c.Namespace).Get(ctx, c.Name, metav1.GetOptions{})
	if err != nil {
		return sp, fmt.Errorf("read DaemonSet %s/%s of the run: %w", c.Namespace, c.Name, err)
	}
	if ds.Spec.UpdateStrategy.Type != appsv1.OnDeleteDaemonSetStrategyType || !apiequality.Semantic.DeepEqual(ds.Spec.Template, tmpl) {
		next := ds.DeepCopy()
		next.Spec.Template = tmpl
		next.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}
		if ds, err = cs.AppsV1().DaemonSets(c.Namespace).Update(ctx, next, metav1.UpdateOptions{}); err != nil {
			return sp, fmt.Errorf("hold DaemonSet %s/%s on OnDelete with the new template: %w", c.Namespace, c.Name, err)
		}
	}
	return awaitRevision(ctx, sp, func(ctx context.Context) (int64, string, bool) {
		cur, err := cs.AppsV1().DaemonSets(c.Namespace).Get(ctx, c.Name, metav1.GetOptions{})
		if err != nil || cur.Status.ObservedGeneration < ds.Generation {
			return 0, "", false
		}
		num, hash, err := CurrentRevision(ctx, cs, cur)
		return num, hash, err == nil
	}, fmt.Sprintf("the DaemonSet controller did not record the new template of %s/%s", c.Namespace, c.Name))
}

// awaitRevision polls revision until the workload's controller has made the revision
// of its new template (ok), for at most a minute, and returns the spec with that
// revision as the run's target. stalled says what did not happen, for the error.
func awaitRevision(ctx context.Context, sp upgrade.Spec, revision func(context.Context) (int64, string, bool), stalled string) (upgrade.Spec, error) {
	var num int64
	var hash string
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		var ok bool
		num, hash, ok = revision(ctx)
		return ok, nil
	})
	if err != nil {
		return sp, fmt.Errorf("%s within 1m (is kube-controller-manager running?): %w", stalled, err)
	}
	sp.Component.TargetHash, sp.TargetVersion = hash, upgrade.RevisionVersion(num)
	return sp, nil
}

// CurrentRevision is the DaemonSet's newest ControllerRevision: its number and hash.
func CurrentRevision(ctx context.Context, cs kubernetes.Interface, ds *appsv1.DaemonSet) (int64, string, error) {
	revs, err := cs.AppsV1().ControllerRevisions(ds.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, "", fmt.Errorf("read the revisions of DaemonSet %s/%s: %w", ds.Namespace, ds.Name, err)
	}
	var num int64
	hash := ""
	for _, r := range revs.Items {
		if ref := metav1.GetControllerOf(&r); ref != nil && ref.UID == ds.UID && r.Revision > num {
			num, hash = r.Revision, r.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]
		}
	}
	if hash == "" {
		return 0, "", fmt.Errorf("DaemonSet %s/%s has no revision yet: is kube-controller-manager running?", ds.Namespace, ds.Name)
	}
	return num, hash, nil
}

// switchPending switches the DaemonSet or Deployment of a run recorded before its
// switch and saves the target it got, before any decision is made on the run.
func (r *Runner) switchPending(ctx context.Context, st upgrade.State, cm *corev1.ConfigMap) error {
	sp, err := switchWorkload(ctx, r.client, st.Spec)
	if err != nil {
		return err
	}
	next := st.Clone()
	next.Spec = sp
	_, err = r.store.Update(ctx, cm, next)
	return err
}
