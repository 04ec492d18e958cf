package runner

import (
	"context"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestWakeOnlyOnRelevantUpdates: heartbeats and bookkeeping updates do not wake the
// driver; every change the core reads does.
func TestWakeOnlyOnRelevantUpdates(t *testing.T) {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n", Labels: map[string]string{"pool": "a"}},
		Status: corev1.NodeStatus{NodeInfo: corev1.NodeSystemInfo{KubeletVersion: "v1.35.4"},
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
	nodeEdit := func(f func(*corev1.Node)) *corev1.Node { n := node.DeepCopy(); f(n); return n }
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "j"}}
	jobEdit := func(f func(*batchv1.Job)) *batchv1.Job { j := job.DeepCopy(); f(j); return j }
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Status: corev1.PodStatus{Phase: corev1.PodRunning,
		ContainerStatuses: []corev1.ContainerStatus{{Name: "upgrade"}}}}
	podEdit := func(f func(*corev1.Pod)) *corev1.Pod { p := pod.DeepCopy(); f(p); return p }
	now := metav1.NewTime(time.Date(2026, 11, 24, 1, 0, 0, 0, time.UTC))

	for _, tc := range []struct {
		name    string
		changed bool
		got     bool
	}{
		{"node heartbeat", false, nodeChanged(node, nodeEdit(func(n *corev1.Node) { n.Status.Conditions[0].LastHeartbeatTime = now }), "pool")},
		{"node new kubelet", true, nodeChanged(node, nodeEdit(func(n *corev1.Node) { n.Status.NodeInfo.KubeletVersion = "v1.36.3" }), "pool")},
		{"node NotReady", true, nodeChanged(node, nodeEdit(func(n *corev1.Node) { n.Status.Conditions[0].Status = corev1.ConditionFalse }), "pool")},
		{"node pool label", true, nodeChanged(node, nodeEdit(func(n *corev1.Node) { n.Labels["pool"] = "b" }), "pool")},
		{"node cordoned", true, nodeChanged(node, nodeEdit(func(n *corev1.Node) { n.Spec.Unschedulable = true }), "pool")},
		{"job ready count", false, jobChanged(job, jobEdit(func(j *batchv1.Job) { one := int32(1); j.Status.Ready = &one; j.Status.Active = 1 }))},
		{"job complete", true, jobChanged(job, jobEdit(func(j *batchv1.Job) {
			j.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: now}}
		}))},
		{"job failed", true, jobChanged(job, jobEdit(func(j *batchv1.Job) {
			j.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded"}}
		}))},
		{"job deleting", true, jobChanged(job, jobEdit(func(j *batchv1.Job) { j.DeletionTimestamp = &now }))},
		{"pod condition", false, podChanged(pod, podEdit(func(p *corev1.Pod) {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
		}))},
		{"pod succeeded", true, podChanged(pod, podEdit(func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }))},
		{"container terminated", true, podChanged(pod, podEdit(func(p *corev1.Pod) {
			p.Status.ContainerStatuses[0].State.Terminated = &corev1.ContainerStateTerminated{ExitCode: 1}
		}))},
		{"not a pod", true, podChanged(pod, "tombstone")},
	} {
		if tc.got != tc.changed {
			t.Errorf("%s: changed=%v, want %v", tc.name, tc.got, tc.changed)
		}
	}
}

func TestCoalesceScalesWithReconcileCost(t *testing.T) {
	for _, tc := range []struct{ cost, want time.Duration }{
		{time.Millisecond, settle},
		{20 * time.Millisecond, 60 * time.Millisecond},
		{5 * time.Second, maxCoalesce},
	} {
		if got := coalesce(tc.cost); got != tc.want {
			t.Errorf("coalesce(%s) = %s, want %s", tc.cost, got, tc.want)
		}
	}
}

// TestEndsBatch: the change that finishes the batch in flight is decided without
// gathering more; every other change, including those after a step already saw the
// batch finished (its gate holds), is coalesced.
func TestEndsBatch(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		sawFinished, finished bool
		want                  bool
	}{
		{"batch running", false, false, false},
		{"batch just finished", false, true, true},
		{"finished before the last step (gate, pause)", true, true, false},
		{"a new batch after a finished one", true, false, false},
	} {
		if got := endsBatch(tc.sawFinished, tc.finished); got != tc.want {
			t.Errorf("%s: endsBatch = %t, want %t", tc.name, got, tc.want)
		}
	}
}

// TestGatherReturnsWhenAChangeEndsTheBatch: a window of an hour is cut short by the
// change that ends the batch, whether it came before the window or inside it; the
// changes before it are consumed (the step reads them from the cache).
func TestGatherReturnsWhenAChangeEndsTheBatch(t *testing.T) {
	for _, before := range []int{0, 1, 3} {
		changed := make(chan struct{})
		calls := 0 // the first before the window, then one per change: the last ends the batch
		done := make(chan struct{})
		go func() {
			gather(context.Background(), changed, time.Hour, func() bool { calls++; return calls == before+1 })
			close(done)
		}()
		for i := range before {
			select {
			case changed <- struct{}{}:
			case <-done:
				t.Fatalf("%d changes to the end: gather returned after %d", before, i)
			}
		}
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("%d changes to the end: gather still waits after the batch ended", before)
		}
	}
}

// TestGatherWaitsOutTheWindowOtherwise: changes that end nothing are gathered until
// the window closes, and a cancelled context ends the wait.
func TestGatherWaitsOutTheWindowOtherwise(t *testing.T) {
	changed := make(chan struct{}, 1)
	changed <- struct{}{}
	calls := 0
	began := time.Now()
	gather(context.Background(), changed, 30*time.Millisecond, func() bool { calls++; return false })
	if waited := time.Since(began); waited < 30*time.Millisecond {
		t.Errorf("gather returned after %s, before its 30ms window", waited)
	}
	if calls != 2 || len(changed) != 0 {
		t.Errorf("gather asked ends %d times and left %d changes; want 2 (before the window, at the change) and 0", calls, len(changed))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	done := make(chan struct{})
	go func() { gather(ctx, changed, time.Hour, func() bool { return false }); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("gather ignores a cancelled context")
	}
}
