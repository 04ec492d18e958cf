package runner

import (
	"context"
	"errors"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// driverCluster holds an active driver Job with one pod in phase.
func driverCluster(t *testing.T, phase corev1.PodPhase) (*fake.Clientset, job.DriverParams) {
	t.Helper()
	p := job.DriverParams{RunID: "run1", Image: "driver:1", OwnerName: "edgeupgrade", OwnerUID: "cm-uid", Nodes: 3}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: job.DriverName("run1") + "-a", Namespace: job.Namespace,
		Labels: map[string]string{"job-name": job.DriverName("run1")}}, Status: corev1.PodStatus{Phase: phase}}
	cs := fake.NewClientset(job.BuildDriver(p), pod)
	return cs, p
}

func shortDriverWait(t *testing.T, d time.Duration) {
	t.Helper()
	old := driverExitWait
	driverExitWait = d
	t.Cleanup(func() { driverExitWait = old })
}

// A resume that finds the driver Job active while its driver exits on the pause it saw
// replaces the driver once the pod has ended, instead of counting on it.
func TestEnsureDriverReplacesADriverExitingOnThePause(t *testing.T) {
	cs, p := driverCluster(t, corev1.PodRunning)
	ctx := context.Background()
	go func() {
		time.Sleep(300 * time.Millisecond)
		pod, _ := cs.CoreV1().Pods(job.Namespace).Get(ctx, job.DriverName("run1")+"-a", metav1.GetOptions{})
		pod.Status.Phase = corev1.PodSucceeded
		_, _ = cs.CoreV1().Pods(job.Namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
	}()
	created, err := EnsureDriver(ctx, cs, p)
	if err != nil || !created {
		t.Fatalf("the exiting driver was not replaced: created %v, %v", created, err)
	}
}

// A driver that renews the Lease after the resume's read is driving: left alone.
func TestEnsureDriverKeepsADriverHoldingTheLease(t *testing.T) {
	cs, p := driverCluster(t, corev1.PodRunning)
	ctx := context.Background()
	go func() {
		time.Sleep(200 * time.Millisecond)
		now := metav1.NewMicroTime(time.Now())
		_, _ = cs.CoordinationV1().Leases(job.Namespace).Create(ctx, &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: job.LeaseName, Namespace: job.Namespace},
			Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptr.To("pod/a"), RenewTime: &now, LeaseDurationSeconds: ptr.To[int32](15)},
		}, metav1.CreateOptions{})
	}()
	began := time.Now()
	created, err := EnsureDriver(ctx, cs, p)
	if err != nil || created || time.Since(began) > 5*time.Second {
		t.Fatalf("a driving driver was replaced or waited on: created %v, %v, after %s", created, err, time.Since(began))
	}
}

// A driver pod still pending reads the state when it starts: it is left to drive at
// once, neither waited for nor replaced.
func TestEnsureDriverLeavesAStartingDriver(t *testing.T) {
	cs, p := driverCluster(t, corev1.PodPending)
	began := time.Now()
	created, err := EnsureDriver(context.Background(), cs, p)
	if err != nil || created || time.Since(began) > 2*time.Second {
		t.Fatalf("created %v, %v, after %s", created, err, time.Since(began))
	}
	noReplacement(t, cs)
}

// A running driver pod that neither ends nor takes the Lease within the wait is left
// to drive (a driver still opening its session at scale).
func TestEnsureDriverLeavesARunningDriverAfterTheWait(t *testing.T) {
	cs, p := driverCluster(t, corev1.PodRunning)
	shortDriverWait(t, 300*time.Millisecond)
	created, err := EnsureDriver(context.Background(), cs, p)
	if err != nil || created {
		t.Fatalf("created %v, %v", created, err)
	}
	noReplacement(t, cs)
}

func noReplacement(t *testing.T, cs *fake.Clientset) {
	t.Helper()
	for _, a := range cs.Actions() {
		if a.GetVerb() == "delete" || a.GetVerb() == "create" {
			t.Fatalf("the driver was replaced: %s %s", a.GetVerb(), a.GetResource().Resource)
		}
	}
}

// A driver that stops on a pause looks at the state once more after releasing the
// Lease: a resume that came meanwhile (and counted on this driver) is driven on.
func TestDriverDrivesOnAResumeThatCameAsItStopped(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cs := fake.NewSimpleClientset(node("master-1", true), node("edge-01", false))
	clock := func() time.Time { return now }
	sp := upgrade.Spec{TargetVersion: "v1.36.3", Mode: upgrade.ModeAll, JobTimeout: upgrade.Duration{Duration: time.Minute},
		DrainTimeout: upgrade.Duration{Duration: time.Minute}, PauseExpiry: upgrade.Duration{Duration: time.Hour},
		PreprocessImage: "pre", UpgradeImage: "up"}
	nodes := []upgrade.Node{ToNode(node("master-1", true), ""), ToNode(node("edge-01", false), "")}
	first, err := upgrade.NewState(sp, "run1", upgrade.Cluster{APIServerVersion: "v1.35.4", Nodes: nodes}, now)
	if err != nil {
		t.Fatal(err)
	}
	s, _, err := Begin(ctx, cs, nil, "", first, SessionOptions{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, _, err := s.Apply(ctx, upgrade.RequestPause{Reason: "operator"}); err != nil {
		t.Fatal(err)
	}
	// The master's Job succeeds and its node reports the target: the run is then fully
	// paused, with nothing in flight, and the driver stops.
	j, err := cs.BatchV1().Jobs(job.Namespace).Get(ctx, job.Name("run1", "master-1"), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	j.Status = batchv1.JobStatus{Succeeded: 1, CompletionTime: &metav1.Time{Time: now},
		Conditions: []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}}
	if _, err := cs.BatchV1().Jobs(job.Namespace).UpdateStatus(ctx, j, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	m := node("master-1", true)
	m.Status.NodeInfo.KubeletVersion = "v1.36.3"
	if _, err := cs.CoreV1().Nodes().Update(ctx, m, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	resumed := false
	show := func(st upgrade.State, obs upgrade.Observation) {
		if upgrade.StateName(st, obs) != "Paused" || resumed {
			return
		}
		resumed = true // the resume lands as this driver decides to stop
		st, cm, err := s.store.Get(ctx)
		if err != nil {
			t.Error(err)
			return
		}
		next, _, err := upgrade.Step(st, upgrade.Observation{}, upgrade.Resume{}, now)
		if err != nil || next.Pause != nil {
			t.Errorf("resume refused: %v", err)
			return
		}
		if _, err := s.store.Update(ctx, cm, next); err != nil {
			t.Error(err)
		}
	}
	go func() {
		time.Sleep(time.Second) // driving the resumed run: it would go on until cancelled
		cancel()
	}()
	st, err := s.Drive(ctx, show)
	if !resumed {
		t.Fatal("the run never showed paused")
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("the driver stopped on the pause (%v, pause %+v) although the run was resumed before it exited", err, st.Pause)
	}
}

// A resume that deletes the finished driver Job while another process (the watchdog's
// pass) replaces it waits for the Job it deleted, by UID, and leaves the new driver
// to drive, instead of waiting for the name to be free: whether the replacement came
// before its delete (the UID precondition fails) or just after it.
func TestEnsureDriverLeavesADriverAnotherProcessCreated(t *testing.T) {
	for _, before := range []bool{true, false} {
		p := job.DriverParams{RunID: "run1", Image: "driver:1", OwnerName: "edgeupgrade", OwnerUID: "cm-uid", Nodes: 3}
		finished := job.BuildDriver(p)
		finished.UID = "old"
		finished.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}
		cs := fake.NewClientset(finished)
		gvr := batchv1.SchemeGroupVersion.WithResource("jobs")
		cs.PrependReactor("delete", "jobs", func(a clienttesting.Action) (bool, runtime.Object, error) {
			replacement := job.BuildDriver(p)
			replacement.UID = "new"
			tr := cs.Tracker()
			if err := tr.Delete(gvr, job.Namespace, finished.Name); err != nil {
				return true, nil, err
			}
			if err := tr.Create(gvr, replacement, job.Namespace); err != nil {
				return true, nil, err
			}
			if before {
				return true, nil, apierrors.NewConflict(gvr.GroupResource(), finished.Name, errors.New("precondition failed: UID"))
			}
			return true, nil, nil
		})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		created, err := EnsureDriver(ctx, cs, p)
		cancel()
		if err != nil || created {
			t.Fatalf("replaced before the delete %t: created %v, %v; want the other process's driver left to drive", before, created, err)
		}
		cur, err := cs.BatchV1().Jobs(job.Namespace).Get(context.Background(), finished.Name, metav1.GetOptions{})
		if err != nil || cur.UID != "new" {
			t.Fatalf("replaced before the delete %t: the driver Job now %v, %v", before, cur, err)
		}
	}
}

// Status reads a Lease still naming a driver pod that exited (its best-effort release
// did not reach the API server) as held by nobody; a running holder holds it, and so
// does one whose pod this reader may not see.
func TestReadDriverHolderPodEnded(t *testing.T) {
	now := time.Now()
	h := Holder{Kind: DriverInCluster, Pod: job.DriverName("run1") + "-a", Node: "cloud-01"}
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod // nil: deleted
		held bool
	}{
		{"running", &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning}}, true},
		{"succeeded", &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodSucceeded}}, false},
		{"failed", &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodFailed}}, false},
		{"deleted", nil, false},
	} {
		renewed := metav1.NewMicroTime(now)
		lease := &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: job.LeaseName, Namespace: job.Namespace, Annotations: h.annotations(now)},
			Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptr.To(h.Identity()), RenewTime: &renewed, LeaseDurationSeconds: ptr.To[int32](15)},
		}
		objs := []runtime.Object{lease}
		if tc.pod != nil {
			tc.pod.ObjectMeta = metav1.ObjectMeta{Name: h.Pod, Namespace: job.Namespace}
			objs = append(objs, tc.pod)
		}
		d, err := ReadDriver(context.Background(), fake.NewClientset(objs...), "run1", now)
		if err != nil || d.Held != tc.held || d.Identity != h.Identity() {
			t.Errorf("holder pod %s: held %t (%q), %v; want held %t", tc.name, d.Held, d.Identity, err, tc.held)
		}
	}
}
