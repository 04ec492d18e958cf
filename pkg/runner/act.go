package runner

import (
	"context"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// createParallelism bounds concurrent Job creations in one batch.
const createParallelism = 32

func (r *Runner) act(ctx context.Context, st upgrade.State, cm *corev1.ConfigMap, acts []upgrade.Action) error {
	if isDaemonSetRun(st) {
		return r.actDaemonSet(ctx, st, cm, acts)
	}
	// Jobs before Events: closing a batch emits one NodeUpgraded Event per node, and
	// written first they would delay the next batch's Jobs by one request each (and
	// spend the client's rate limit before them). Events are best effort and are
	// written even when an action fails.
	var events []upgrade.Action
	defer func() {
		for _, a := range events {
			r.Emit(ctx, st, cm, *a.Event)
		}
	}()
	for _, a := range acts {
		var err error
		switch a.Kind {
		case upgrade.CreateJobs:
			err = r.createJobs(ctx, st, cm, a)
		case upgrade.Drain:
			err = r.drain(ctx, st, a.Nodes)
		case upgrade.Uncordon:
			err = r.uncordon(ctx, st.RunID, a.Nodes)
		case upgrade.DeleteJobs:
			err = r.deleteJobs(ctx, st.RunID, a.Nodes)
		case upgrade.DeferJobs:
			err = r.deferJobs(ctx, st.RunID, a.Nodes)
		case upgrade.CreateStage:
			err = r.createStage(ctx, st, cm, a)
		case upgrade.DeleteStage:
			err = r.deleteStage(ctx, st.RunID, a.Nodes)
		case upgrade.MarkSkipped:
			err = r.markSkipped(ctx, st.RunID, a.Nodes)
		case upgrade.DeleteRun:
			err = r.deleteRun(ctx, st.RunID)
		case upgrade.Emit:
			events = append(events, a)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (r *Runner) createJobs(ctx context.Context, st upgrade.State, cm *corev1.ConfigMap, a upgrade.Action) error {
	b := a.Batch
	p := job.Params{
		RunID: st.RunID, TargetVersion: st.Spec.TargetVersion,
		TimeoutSeconds: int64(st.Spec.JobTimeout.Seconds()), RuntimeVersion: st.Spec.RuntimeVersion,
		OwnerName: cm.Name, OwnerUID: cm.UID,
	}
	var nodes map[string]upgrade.Node
	if st.Spec.RuntimeImage != "" {
		nodes = r.cache.nodeInfo(st, a.Nodes) // which upgrade image: the node's containerd
	}
	role := job.RoleWorker
	if b.Role == upgrade.RoleMaster {
		role = job.RoleMaster
		if b.MasterFirst {
			role = job.RoleMasterFirst
		}
	}
	names := make([]string, len(a.Nodes))
	jobs := make([]*batchv1.Job, len(a.Nodes))
	for i, node := range a.Nodes {
		// The node's variant, by digest once staging reported it: what it staged.
		p.PreprocessImage, p.UpgradeImage = upgrade.NodeImages(st, nodes[node].Runtime)
		jobs[i] = job.Build(p, job.NodeJob{Node: node, Pool: b.Pool, Batch: b.Label(), Role: role})
		names[i] = jobs[i].Name
	}
	errs := forEachLimit(len(jobs), createParallelism, func(i int) error {
		_, err := r.client.BatchV1().Jobs(job.Namespace).Create(ctx, jobs[i], metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) { // AlreadyExists: adopt it
			return fmt.Errorf("create upgrade Job for node %q: %w", a.Nodes[i], err)
		}
		return nil
	})
	// Every node that failed, not the first: a person fixes them all in one go.
	if err := utilerrors.NewAggregate(errs); err != nil {
		return err
	}
	r.cache.WaitFor(ctx, func() bool { return r.cache.HasJobs(names) })
	return nil
}

// deleteJobs deletes the named nodes' Jobs with their pods and waits until they are
// gone, so the same deterministic name can be created again for a retry.
func (r *Runner) deleteJobs(ctx context.Context, runID string, nodes []string) error {
	fg := metav1.DeletePropagationForeground
	for _, n := range nodes {
		name := job.Name(runID, n)
		err := r.client.BatchV1().Jobs(job.Namespace).Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &fg})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete failed Job %s of node %q: %w", name, n, err)
		}
	}
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		for _, n := range nodes {
			_, err := r.client.BatchV1().Jobs(job.Namespace).Get(ctx, job.Name(runID, n), metav1.GetOptions{})
			if !apierrors.IsNotFound(err) {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("the failed Jobs were not deleted within 2m (is the garbage collector running?): %w", err)
	}
	return nil
}

// deleteRun removes every Job, pod and Event of a run (pause expiry, docs/design.md §2.7).
func (r *Runner) deleteRun(ctx context.Context, runID string) error {
	sel := metav1.ListOptions{LabelSelector: job.RunSelector(runID)}
	bg := metav1.DeletePropagationBackground
	ns := job.Namespace
	if err := r.client.BatchV1().Jobs(ns).DeleteCollection(ctx, metav1.DeleteOptions{PropagationPolicy: &bg}, sel); err != nil {
		return fmt.Errorf("delete the Jobs of expired run %s: %w", runID, err)
	}
	if err := r.client.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}, sel); err != nil {
		return fmt.Errorf("delete the pods of expired run %s: %w", runID, err)
	}
	for _, evNS := range []string{ns, NodeEventNamespace} {
		if err := r.client.CoreV1().Events(evNS).DeleteCollection(ctx, metav1.DeleteOptions{}, sel); err != nil {
			return fmt.Errorf("delete the Events of expired run %s in %s: %w", runID, evNS, err)
		}
	}
	return nil
}

// deferJobs deletes the Jobs of nodes that went offline before their upgrade started,
// with their pods in the background and without waiting: a pod bound to an unreachable
// node is only removed once its kubelet is back, and that kubelet never starts a pod
// marked for deletion. The name is free again as soon as the Job object is gone.
func (r *Runner) deferJobs(ctx context.Context, runID string, nodes []string) error {
	return r.deleteNodeJobs(ctx, nodes, func(n string) string { return job.Name(runID, n) }, "the Job %s of offline node %q")
}

// deleteNodeJobs deletes the Job name(node) of every node, its pods in the background,
// without waiting; one already gone is fine. what describes a Job and its node in an
// error ("the Job %s of offline node %q").
func (r *Runner) deleteNodeJobs(ctx context.Context, nodes []string, name func(node string) string, what string) error {
	bg := metav1.DeletePropagationBackground
	for _, n := range nodes {
		err := r.client.BatchV1().Jobs(job.Namespace).Delete(ctx, name(n), metav1.DeleteOptions{PropagationPolicy: &bg})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete "+what+": %w", name(n), n, err)
		}
	}
	return nil
}

// markSkipped annotates the failed Jobs the operator skipped (resume --skip-failed),
// so that no later resume retries them; the Jobs and their pods stay for diagnosis.
func (r *Runner) markSkipped(ctx context.Context, runID string, nodes []string) error {
	patch := []byte(`{"metadata":{"annotations":{"` + job.AnnotationSkipped + `":"true"}}}`)
	for _, n := range nodes {
		name := job.Name(runID, n)
		_, err := r.client.BatchV1().Jobs(job.Namespace).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("mark the Job %s of node %q as skipped: %w", name, n, err)
		}
	}
	return nil
}
