package runner

import (
	"context"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
)

// TestBatchFinishedFollowsTheCore: the cache's quick check says a batch has finished
// exactly when the core would read every Job of it as finished: a pod Succeeded with
// its finish time, a failed pod, or the Job's own condition; a running pod, a
// Succeeded pod without a finish time, a batch not recorded as created, or one whose
// health gate already runs, is not.
func TestBatchFinishedFollowsTheCore(t *testing.T) {
	f := setup(t, 3)
	st := f.reconcile(t) // master-1's Job, recorded as created
	name := job.Name("run1", "master-1")
	if st.Current == nil || !st.Current.JobsCreated || st.Current.Nodes[0] != "master-1" {
		t.Fatalf("batch in flight %+v, want master-1 with its Job created", st.Current)
	}
	ctx := context.Background()
	pods := f.cs.CoreV1().Pods(job.Namespace)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name + "-x", Namespace: job.Namespace,
		Labels: map[string]string{batchv1.JobNameLabel: name, job.LabelManagedBy: job.ManagedBy, job.LabelRun: "run1",
			job.LabelComponent: job.ComponentNodeUpgrade}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	check := func(what string, want bool, edit func(p *corev1.Pod)) {
		t.Helper()
		p := pod.DeepCopy()
		edit(p)
		if _, err := pods.UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, func() bool {
			got, err := f.runner.cache.pods.Pods(job.Namespace).Get(p.Name)
			return err == nil && got.Status.Phase == p.Status.Phase && len(got.Status.ContainerStatuses) == len(p.Status.ContainerStatuses)
		})
		if got := f.runner.cache.batchFinished(st); got != want {
			t.Errorf("%s: batchFinished = %v, want %v", what, got, want)
		}
	}
	finishedAt := metav1.NewTime(time.Date(2026, 12, 2, 23, 0, 0, 0, time.UTC))
	done := []corev1.ContainerStatus{{Name: job.ContainerUpgrade, State: corev1.ContainerState{
		Terminated: &corev1.ContainerStateTerminated{FinishedAt: finishedAt}}}}
	check("pod running", false, func(*corev1.Pod) {})
	check("pod Succeeded without a finish time", false, func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded })
	check("pod Succeeded", true, func(p *corev1.Pod) { p.Status.Phase, p.Status.ContainerStatuses = corev1.PodSucceeded, done })
	check("pod Failed", true, func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed })

	// A Job past its deadline: the job controller deleted the pod and marked the Job.
	if err := pods.Delete(ctx, pod.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool {
		_, err := f.runner.cache.pods.Pods(job.Namespace).Get(pod.Name)
		return err != nil
	})
	if f.runner.cache.batchFinished(st) {
		t.Error("pod gone, Job active: batchFinished = true, want false")
	}
	j, err := f.cs.BatchV1().Jobs(job.Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	j.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue,
		Reason: batchv1.JobReasonDeadlineExceeded, LastTransitionTime: finishedAt}}
	if _, err := f.cs.BatchV1().Jobs(job.Namespace).UpdateStatus(ctx, j, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool { return f.runner.cache.batchFinished(st) })

	notCreated := st
	b := *st.Current
	b.JobsCreated = false
	notCreated.Current = &b
	if f.runner.cache.batchFinished(notCreated) {
		t.Error("a batch whose Jobs are not recorded as created counts as finished")
	}
	gating := st
	g := *st.Current
	g.GateSince = &finishedAt.Time
	gating.Current = &g
	if f.runner.cache.batchFinished(gating) {
		t.Error("a batch held by its health gate counts as finished (the gate's changes would not be coalesced)")
	}
	none := st
	none.Current = nil
	if f.runner.cache.batchFinished(none) {
		t.Error("no batch in flight counts as finished")
	}
}
