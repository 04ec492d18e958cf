package runner

import (
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// TestToJobPodSucceeded: a Job whose only pod Succeeded is done before the job
// controller records Complete (its sync batch period is 1 s per batch).
func TestToJobPodSucceeded(t *testing.T) {
	finished := metav1.NewTime(time.Date(2026, 11, 23, 10, 0, 5, 0, time.UTC))
	j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "j"}}
	succeeded := &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodSucceeded, ContainerStatuses: []corev1.ContainerStatus{
		{Name: "upgrade", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{FinishedAt: finished}}}}}}
	if got := ToJob(j, []*corev1.Pod{succeeded}); got.Phase != upgrade.JobSucceeded || !got.Finished.Equal(finished.Time) {
		t.Fatalf("pod Succeeded: got %s finished %v, want Succeeded at %v", got.Phase, got.Finished, finished)
	}
	unknown := &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodSucceeded}}
	if got := ToJob(j, []*corev1.Pod{unknown}); got.Phase != upgrade.JobActive {
		t.Fatalf("pod Succeeded without a finish time: got %s, want Active until the Job says", got.Phase)
	}
	running := &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	if got := ToJob(j, []*corev1.Pod{running}); got.Phase != upgrade.JobActive {
		t.Fatalf("pod Running: got %s", got.Phase)
	}
}

// A Job's pod has started on its node once a container ran or the pod left Pending; a
// Pending pod with no container started has not (its node may be unreachable: the
// core defers such a node instead of blaming it). Progress names the latest container
// the API server heard of.
func TestToJobStartedAndProgress(t *testing.T) {
	at := metav1.NewTime(time.Date(2026, 11, 23, 10, 0, 5, 0, time.UTC))
	j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "j", Annotations: map[string]string{job.AnnotationSkipped: "true"}}}
	for _, tc := range []struct {
		name     string
		pods     []*corev1.Pod
		started  bool
		progress string
	}{
		{"no pod yet", nil, false, ""},
		{"pending, nothing started", []*corev1.Pod{{Status: corev1.PodStatus{Phase: corev1.PodPending,
			InitContainerStatuses: []corev1.ContainerStatus{{Name: "preprocess", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{}}}}}}}, false, ""},
		{"preprocessing", []*corev1.Pod{{Status: corev1.PodStatus{Phase: corev1.PodPending,
			InitContainerStatuses: []corev1.ContainerStatus{{Name: "preprocess", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: at}}}}}}},
			true, "container preprocess running since 2026-11-23T10:00:05Z"},
		{"upgrading", []*corev1.Pod{{Status: corev1.PodStatus{Phase: corev1.PodRunning,
			InitContainerStatuses: []corev1.ContainerStatus{{Name: "preprocess", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{FinishedAt: at}}}},
			ContainerStatuses:     []corev1.ContainerStatus{{Name: "upgrade", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: at}}}}}}},
			true, "container upgrade running since 2026-11-23T10:00:05Z"},
	} {
		got := ToJob(j, tc.pods)
		if got.Started != tc.started || got.Progress != tc.progress || !got.Skipped {
			t.Errorf("%s: started %v progress %q skipped %v, want %v %q true", tc.name, got.Started, got.Progress, got.Skipped, tc.started, tc.progress)
		}
	}
}
