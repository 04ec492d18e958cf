package runner

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/store"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

var now = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func node(name string, master bool) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{LabelOpenYurtPool: "pool-a"}},
		Status: corev1.NodeStatus{NodeInfo: corev1.NodeSystemInfo{KubeletVersion: "v1.35.4"},
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
	if master {
		n.Labels = map[string]string{LabelControlPlane: ""}
	}
	return n
}

type fixture struct {
	cs     *fake.Clientset
	runner *Runner
	st     upgrade.State
}

// setup records a run on a fake cluster of one master and workers; edit, when given,
// changes the Spec first.
func setup(t testing.TB, workers int, edit ...func(*upgrade.Spec)) *fixture {
	t.Helper()
	return setupWith(t, workers, nil, edit...)
}

// setupWith is setup on a cluster that also holds more (created before the cache
// starts: the fake's watches hold 100 events at most).
func setupWith(t testing.TB, workers int, more []runtime.Object, edit ...func(*upgrade.Spec)) *fixture {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	objs := append([]runtime.Object{node("master-1", true)}, more...)
	var nodes []upgrade.Node
	nodes = append(nodes, ToNode(node("master-1", true), ""))
	for i := 1; i <= workers; i++ {
		n := node(fmt.Sprintf("edge-%02d", i), false)
		objs = append(objs, n)
		nodes = append(nodes, ToNode(n, ""))
	}
	cs := fake.NewSimpleClientset(objs...)
	sp := upgrade.Spec{TargetVersion: "v1.36.3", Mode: upgrade.ModeAll, JobTimeout: upgrade.Duration{Duration: time.Minute},
		DrainTimeout: upgrade.Duration{Duration: time.Minute}, PauseExpiry: upgrade.Duration{Duration: time.Hour},
		PreprocessImage: "pre", UpgradeImage: "up"}
	for _, e := range edit {
		e(&sp)
	}
	st, err := upgrade.NewState(sp, "run1", upgrade.Cluster{APIServerVersion: "v1.35.4", Nodes: nodes}, now)
	if err != nil {
		t.Fatal(err)
	}
	s := store.Store{Client: cs}
	cm, err := s.Create(ctx, nil, st)
	if err != nil {
		t.Fatal(err)
	}
	cm.UID = "cm-uid" // the fake API server assigns none; Jobs are owned by it
	if _, err := cs.CoreV1().ConfigMaps(job.Namespace).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	c, err := NewCache(ctx, cs, st, CacheOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	return &fixture{cs: cs, st: st, runner: &Runner{client: cs, store: s, cache: c, now: func() time.Time { return now }, runID: "run1"}}
}

func (f *fixture) jobs(t *testing.T) []batchv1.Job {
	t.Helper()
	l, err := f.cs.BatchV1().Jobs(job.Namespace).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return l.Items
}

func (f *fixture) reconcile(t testing.TB) upgrade.State {
	t.Helper()
	st, _, err := f.runner.Reconcile(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func eventually(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestReconcileCreatesTheMasterJob(t *testing.T) {
	f := setup(t, 3)
	st := f.reconcile(t)
	jobs := f.jobs(t)
	if len(jobs) != 1 || st.Current == nil || !st.Current.JobsCreated {
		t.Fatalf("jobs %d, state %+v", len(jobs), st.Current)
	}
	j := jobs[0]
	spec := j.Spec.Template.Spec
	if j.Name != job.Name("run1", "master-1") || spec.NodeName != "master-1" || *j.Spec.BackoffLimit != 0 ||
		*j.Spec.ActiveDeadlineSeconds != 60 || !spec.HostPID || !spec.HostNetwork || *spec.AutomountServiceAccountToken ||
		spec.PriorityClassName != "system-node-critical" || spec.Tolerations[0].Operator != corev1.TolerationOpExists ||
		spec.InitContainers[0].Name != job.ContainerPreprocess || spec.Containers[0].Name != job.ContainerUpgrade ||
		!*spec.Containers[0].SecurityContext.Privileged || spec.Volumes[0].HostPath.Path != "/" ||
		spec.Containers[0].TerminationMessagePolicy != corev1.TerminationMessageFallbackToLogsOnError ||
		j.Labels[job.LabelRole] != "master" || j.OwnerReferences[0].UID != "cm-uid" {
		t.Fatalf("job does not follow docs/design.md §5: %+v", j)
	}
	if env := spec.Containers[0].Env; env[1].Value != job.RoleMasterFirst {
		t.Fatalf("first master role %q", env[1].Value)
	}
}

// TestCrashBetweenSaveAndCreateIsRepaired: the batch is saved (write-ahead) but the
// process dies before creating the Job; the next reconcile creates it exactly once,
// and a Job that already exists is adopted.
func TestCrashBetweenSaveAndCreateIsRepaired(t *testing.T) {
	f := setup(t, 3)
	ctx := context.Background()
	st, cm, _ := f.runner.store.Get(ctx)
	next, _, _ := upgrade.Step(st, upgrade.Observation{Nodes: []upgrade.Node{{Name: "master-1", Role: upgrade.RoleMaster, Version: "v1.35.4", Ready: true}}}, upgrade.Tick{}, now)
	if _, err := f.runner.store.Update(ctx, cm, next); err != nil { // saved, then "crash"
		t.Fatal(err)
	}
	eventually(t, func() bool { c := f.runner.cache.StateConfigMap(); s, _ := store.Decode(c); return s.Current != nil })
	var creates atomic.Int32
	f.cs.PrependReactor("create", "jobs", func(k8stesting.Action) (bool, runtime.Object, error) {
		creates.Add(1)
		return false, nil, nil
	})
	f.reconcile(t)
	f.reconcile(t)
	if n := len(f.jobs(t)); n != 1 || creates.Load() != 1 {
		t.Fatalf("%d jobs after repair, %d creates", n, creates.Load())
	}
	// A second process that also missed the Job: AlreadyExists is adopted, no error.
	if err := f.runner.createJobs(ctx, next, cm, upgrade.Action{Kind: upgrade.CreateJobs, Batch: next.Current, Nodes: next.Current.Nodes}); err != nil {
		t.Fatalf("adopt: %v", err)
	}
	if n := len(f.jobs(t)); n != 1 {
		t.Fatalf("%d jobs after adopt", n)
	}
}

func TestConflictRereadsAndRedecides(t *testing.T) {
	f := setup(t, 3)
	var conflicts atomic.Int32
	f.cs.PrependReactor("update", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
		if conflicts.Add(1) == 1 {
			return true, nil, apierrors.NewConflict(schema.GroupResource{Resource: "configmaps"}, store.Name, errors.New("changed"))
		}
		return false, nil, nil
	})
	st := f.reconcile(t)
	if conflicts.Load() < 2 || st.Current == nil || len(f.jobs(t)) != 1 {
		t.Fatalf("conflicts %d, current %+v, jobs %d", conflicts.Load(), st.Current, len(f.jobs(t)))
	}
}

func TestCorruptStateIsRefusedAndKept(t *testing.T) {
	f := setup(t, 1)
	ctx := context.Background()
	cm, _ := f.cs.CoreV1().ConfigMaps(job.Namespace).Get(ctx, store.Name, metav1.GetOptions{})
	cm.Data[store.KeyState] = strings.Replace(cm.Data[store.KeyState], `"phase":"PreCheck"`, `"phase":"Bogus"`, 1)
	if _, err := f.cs.CoreV1().ConfigMaps(job.Namespace).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool { _, err := store.Decode(f.runner.cache.StateConfigMap()); return err != nil })
	_, _, err := f.runner.Reconcile(ctx)
	var ce *store.CorruptError
	if !errors.As(err, &ce) || Transient(err) {
		t.Fatalf("err %v", err)
	}
	after, _ := f.cs.CoreV1().ConfigMaps(job.Namespace).Get(ctx, store.Name, metav1.GetOptions{})
	if after.Data[store.KeyState] != cm.Data[store.KeyState] || len(f.jobs(t)) != 0 {
		t.Fatal("a corrupt state was overwritten or acted upon")
	}
}

func TestFailedJobPausesWithContainerMessage(t *testing.T) {
	f := setup(t, 1)
	ctx := context.Background()
	f.reconcile(t)
	j := f.jobs(t)[0]
	j.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded"}}
	if _, err := f.cs.BatchV1().Jobs(job.Namespace).UpdateStatus(ctx, &j, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: j.Name + "-x", Namespace: job.Namespace, Labels: map[string]string{batchv1.JobNameLabel: j.Name}},
		Status: corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: []corev1.ContainerStatus{{Name: job.ContainerUpgrade,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Message: "upgrade: kubeadm upgrade apply failed; rolled back to v1.35.4"}}}}}}
	for k, v := range j.Spec.Template.Labels {
		pod.Labels[k] = v
	}
	if _, err := f.cs.CoreV1().Pods(job.Namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool {
		obs, _ := f.runner.cache.Observe(f.st)
		return obs.Jobs["master-1"].FailedPods == 1
	})
	st := f.reconcile(t)
	if st.Pause == nil || !st.Pause.ByError || st.Failures[0].Container != "upgrade" || !strings.Contains(st.Failures[0].Message, "kubeadm upgrade apply failed") {
		t.Fatalf("pause %+v failures %+v", st.Pause, st.Failures)
	}
	evs, _ := f.cs.CoreV1().Events(NodeEventNamespace).List(ctx, metav1.ListOptions{})
	found := false
	for _, e := range evs.Items {
		found = found || (e.Reason == upgrade.ReasonNodeFailed && e.InvolvedObject.Kind == "Node" && e.Namespace == NodeEventNamespace && e.Labels[job.LabelRun] == "run1")
	}
	if !found {
		t.Fatal("no NodeUpgradeFailed Event on the node")
	}
}

// TestRefusedVerbSavesTheExpiry: pause and resume on a run whose pause expired are
// refused, and the expiry the reconcile found is saved and acted upon all the same:
// the run is recorded as cancelled and its Jobs, pods and Events are deleted
// (docs/design.md §2.7).
func TestRefusedVerbSavesTheExpiry(t *testing.T) {
	for _, in := range []upgrade.Input{upgrade.RequestPause{}, upgrade.Resume{}} {
		f := setup(t, 1)
		ctx := context.Background()
		f.reconcile(t)
		if _, _, err := f.runner.Mutate(ctx, upgrade.RequestPause{}); err != nil {
			t.Fatal(err)
		}
		// The fake API server sets no resourceVersion on objects: wait for the cache to see the pause.
		eventually(t, func() bool { s, _ := store.Decode(f.runner.cache.StateConfigMap()); return s.Pause != nil })
		f.runner.now = func() time.Time { return now.Add(2 * time.Hour) } // the pause expiry is 1h
		f.cs.ClearActions()
		_, _, err := f.runner.Mutate(ctx, in)
		var te *upgrade.TransitionError
		if !errors.As(err, &te) || !strings.Contains(err.Error(), "cancelled") {
			t.Fatalf("%T: err %v, want a refusal naming the cancellation", in, err)
		}
		st, _, err := f.runner.store.Get(ctx)
		if err != nil || st.Phase != upgrade.PhaseCancelled || !strings.HasPrefix(st.EndReason, "expired") {
			t.Fatalf("%T: saved phase %s, end %q, err %v", in, st.Phase, st.EndReason, err)
		}
		deleted := map[string]bool{}
		for _, a := range f.cs.Actions() {
			if dc, ok := a.(k8stesting.DeleteCollectionAction); ok && dc.GetListRestrictions().Labels.String() == job.RunSelector("run1") {
				deleted[dc.GetResource().Resource] = true
			}
		}
		if !deleted["jobs"] || !deleted["pods"] || !deleted["events"] {
			t.Fatalf("%T: the run's objects were not deleted: %v", in, deleted)
		}
	}
}

// TestDrainFailurePausesInTheSameMutate: a drain that does not finish is decided as
// DrainFailed on a fresh read within the same Mutate: the run pauses naming the
// blocker, no Job is created for the undrained batch, and the node is uncordoned.
func TestDrainFailurePausesInTheSameMutate(t *testing.T) {
	f := setup(t, 1, func(sp *upgrade.Spec) { sp.Drain = true })
	ctx := context.Background()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "default"}, Spec: corev1.PodSpec{NodeName: "master-1"}}
	if _, err := f.cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.cs.PrependReactor("delete", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewTooManyRequests("disruption budget", 1)
	})
	st := f.reconcile(t)
	if st.Pause == nil || !st.Pause.ByError || !strings.Contains(st.Pause.Reason, "drain did not finish") || st.Current != nil {
		t.Fatalf("pause %+v current %+v", st.Pause, st.Current)
	}
	if n := len(f.jobs(t)); n != 0 {
		t.Fatalf("%d Jobs created for an undrained batch", n)
	}
	n, err := f.cs.CoreV1().Nodes().Get(ctx, "master-1", metav1.GetOptions{})
	if err != nil || n.Spec.Unschedulable || n.Annotations[AnnotationCordonedBy] != "" {
		t.Fatalf("master-1 left cordoned: %v %+v", err, n.Spec)
	}
}
