package runner

import (
	"context"
	"fmt"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// Every input that starts a batch records at once that its Jobs exist, not only the
// drivers' Tick: a Job deleted after a one-shot status or resume started its batch is
// then tampering, never silently recreated (docs/design.md §2.9).
func TestEveryInputRecordsJobsCreated(t *testing.T) {
	for name, in := range map[string]upgrade.Input{"status": upgrade.Tick{}, "pause": upgrade.RequestPause{}} {
		t.Run(name, func(t *testing.T) {
			f := setup(t, 3)
			st, _, err := f.runner.Mutate(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			if st.Current == nil || !st.Current.JobsCreated || len(f.jobs(t)) != 1 {
				t.Fatalf("batch %+v, %d jobs", st.Current, len(f.jobs(t)))
			}
			if err := f.cs.BatchV1().Jobs(job.Namespace).Delete(context.Background(), job.Name("run1", "master-1"), metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			eventually(t, func() bool { return !f.runner.cache.HasJobs([]string{job.Name("run1", "master-1")}) })
			st, _, err = f.runner.Mutate(context.Background(), upgrade.Tick{})
			if err != nil {
				t.Fatal(err)
			}
			if len(f.jobs(t)) != 0 || st.Pause == nil || !st.Pause.ByError {
				t.Fatalf("deleted Job recreated (%d jobs) or no tampering pause: %+v", len(f.jobs(t)), st.Pause)
			}
		})
	}
}

// The health gate reads the DaemonSet pods of the finished batch's nodes, and only
// those: a pod of another controller, or on another node, is not the gate's. The
// DaemonSet and StatefulSet controllers label their pods with their revision
// (daemonPodSelector); the StatefulSet's is left out by its owner.
func TestObserveReadsDaemonPodsOfTheGatedBatch(t *testing.T) {
	f := setup(t, 3)
	ctx := context.Background()
	st := f.reconcile(t)
	restarted := metav1.NewTime(now.Add(time.Minute))
	ds := metav1.OwnerReference{APIVersion: "apps/v1", Kind: "DaemonSet", Name: "tunnel", UID: "ds", Controller: new(true)}
	rs := metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web", UID: "rs", Controller: new(true)}
	sts := metav1.OwnerReference{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "db", UID: "sts", Controller: new(true)}
	rev := map[string]string{daemonPodSelector: "5d8f7"}
	for _, p := range []*corev1.Pod{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "tunnel-m", Labels: rev, OwnerReferences: []metav1.OwnerReference{ds}},
			Spec: corev1.PodSpec{NodeName: "master-1"},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}},
				ContainerStatuses: []corev1.ContainerStatus{{Name: "agent", RestartCount: 1,
					LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{FinishedAt: restarted}}}}}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web", OwnerReferences: []metav1.OwnerReference{rs}},
			Spec: corev1.PodSpec{NodeName: "master-1"}, Status: corev1.PodStatus{Phase: corev1.PodRunning}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "db-0", Labels: rev, OwnerReferences: []metav1.OwnerReference{sts}},
			Spec: corev1.PodSpec{NodeName: "master-1"}, Status: corev1.PodStatus{Phase: corev1.PodRunning}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "tunnel-e", Labels: rev, OwnerReferences: []metav1.OwnerReference{ds}},
			Spec: corev1.PodSpec{NodeName: "edge-01"}, Status: corev1.PodStatus{Phase: corev1.PodRunning}},
	} {
		if _, err := f.cs.CoreV1().Pods(p.Namespace).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	obs, err := f.runner.cache.Observe(st)
	if err != nil || obs.Pods != nil {
		t.Fatalf("pods read while the batch runs: %v %v", obs.Pods, err)
	}
	j, err := f.cs.BatchV1().Jobs(job.Namespace).Get(ctx, job.Name("run1", "master-1"), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	j.Status.Conditions = append(j.Status.Conditions, batchv1.JobCondition{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(now)})
	if _, err := f.cs.BatchV1().Jobs(job.Namespace).UpdateStatus(ctx, j, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool {
		o, _ := f.runner.cache.Observe(st)
		return o.Jobs["master-1"].Phase == upgrade.JobSucceeded
	})
	obs, err = f.runner.cache.Observe(st)
	want := []upgrade.Pod{{Name: "kube-system/tunnel-m", Ready: false, RestartedAt: restarted.Time}}
	if err != nil || len(obs.Pods) != 1 || len(obs.Pods["master-1"]) != 1 || obs.Pods["master-1"][0] != want[0] {
		t.Fatalf("gate pods %+v %v, want master-1: %+v", obs.Pods, err, want)
	}
}

// A gate over more nodes than gatePerNodeMax is one label-selected list of the
// DaemonSet pods, not one list per node.
func TestDaemonPodsOfABigBatchIsOneList(t *testing.T) {
	ds := metav1.OwnerReference{APIVersion: "apps/v1", Kind: "DaemonSet", Name: "proxy", UID: "ds", Controller: new(true)}
	rev := map[string]string{daemonPodSelector: "1"}
	cs := fake.NewClientset()
	var names []string
	for i := range 2 * gatePerNodeMax {
		node := fmt.Sprintf("edge-%02d", i)
		names = append(names, node)
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "proxy-" + node, Labels: rev, OwnerReferences: []metav1.OwnerReference{ds}},
			Spec: corev1.PodSpec{NodeName: node}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}
		if _, err := cs.CoreV1().Pods(p.Namespace).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	cs.ClearActions()
	got, err := DaemonPods(context.Background(), cs, names[1:])
	if err != nil {
		t.Fatal(err)
	}
	if a := cs.Actions(); len(a) != 1 || a[0].(clienttesting.ListAction).GetListRestrictions().Labels.String() != daemonPodSelector {
		t.Errorf("requests %+v, want one list of %s", a, daemonPodSelector)
	}
	if len(got) != len(names)-1 || len(got["edge-01"]) != 1 || got["edge-01"][0].Name != "kube-system/proxy-edge-01" || got["edge-00"] != nil {
		t.Errorf("gate pods %+v", got)
	}
}

// A driver watches the DaemonSet pods for the gate; when it may not, the gate fails
// at once with the API server's answer instead of waiting out its timeout.
func TestGateWatchForbiddenFailsFast(t *testing.T) {
	cs := fake.NewClientset()
	forbid := func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(corev1.Resource("pods"), "", fmt.Errorf("no"))
	}
	cs.PrependReactor("list", "pods", forbid)
	cs.PrependWatchReactor("pods", func(clienttesting.Action) (bool, watch.Interface, error) {
		return true, nil, apierrors.NewForbidden(corev1.Resource("pods"), "", fmt.Errorf("no"))
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := &Cache{client: cs, ctx: ctx}
	began := time.Now()
	_, err := c.daemonPods([]string{"edge-1"})
	if !apierrors.IsForbidden(err) || time.Since(began) > gateTimeout/2 {
		t.Fatalf("after %s: %v, want forbidden at once", time.Since(began), err)
	}
}

// A restart counts for the gate when the container ran and stopped; a start the
// runtime never completed (StartError: the kubelet was restarted while it started
// the container, as when kubeadm rolls kube-proxy out just before the agent restarts
// the kubelet) does not.
func TestToPodCountsRestartsOfContainersThatRan(t *testing.T) {
	at := metav1.NewTime(now)
	for _, tc := range []struct {
		name string
		cs   corev1.ContainerStatus
		want time.Time
	}{
		{"never restarted", corev1.ContainerStatus{}, time.Time{}},
		{"crashed and restarted", corev1.ContainerStatus{RestartCount: 1, LastTerminationState: corev1.ContainerState{
			Terminated: &corev1.ContainerStateTerminated{ExitCode: 2, Reason: "Error", StartedAt: at, FinishedAt: at}}}, now},
		{"killed (OOM) and restarted", corev1.ContainerStatus{RestartCount: 3, LastTerminationState: corev1.ContainerState{
			Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled", FinishedAt: at}}}, now},
		{"start interrupted by a kubelet restart", corev1.ContainerStatus{RestartCount: 1, LastTerminationState: corev1.ContainerState{
			Terminated: &corev1.ContainerStateTerminated{ExitCode: 128, Reason: startError, FinishedAt: at}}}, time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &corev1.Pod{Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{tc.cs}}}
			if got := ToPod(p).RestartedAt; !got.Equal(tc.want) {
				t.Fatalf("RestartedAt %s, want %s", got, tc.want)
			}
		})
	}
}
