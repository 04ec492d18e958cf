package upgrade

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestFullRunMastersThenPools(t *testing.T) {
	c := newCluster(3, map[string]int{"pool-a": 30, "pool-b": 20, "cloud": 10})
	st := mustStart(t, spec(), c)
	st, batches := runToEnd(t, c, st)
	if st.Phase != PhaseCompleted {
		t.Fatalf("phase %s, pause %+v", st.Phase, st.Pause)
	}
	var got []string
	for _, b := range batches {
		got = append(got, b.Label()+":"+b.Pool)
	}
	// cap = 10% of 60 = 6; pools in name order: cloud (1,2,4,3), pool-a (1,2,4,6,6,6,5),
	// pool-b (1,2,4,6,6,1).
	want := "m1:,m2:,m3:,1:cloud,2:cloud,3:cloud,4:cloud,5:pool-a,6:pool-a,7:pool-a,8:pool-a,9:pool-a,10:pool-a,11:pool-a,12:pool-b,13:pool-b,14:pool-b,15:pool-b,16:pool-b,17:pool-b"
	if strings.Join(got, ",") != want {
		t.Fatalf("batches\n got %s\nwant %s", strings.Join(got, ","), want)
	}
	if !batches[0].MasterFirst || batches[1].MasterFirst || batches[2].MasterFirst {
		t.Fatal("only the first master runs kubeadm upgrade apply")
	}
	if batches[0].Nodes[0] != "master-1" || batches[2].Nodes[0] != "master-3" {
		t.Fatal("masters are upgraded in name order")
	}
}

func TestMastersOneAtATime(t *testing.T) {
	c := newCluster(3, map[string]int{"a": 5})
	st := mustStart(t, spec(), c)
	st, acts := step(c, st, t0)
	if st.Phase != PhaseMasters || kinds(acts)[CreateJobs] != 1 || len(st.Current.Nodes) != 1 {
		t.Fatalf("first step: phase %s, %v", st.Phase, kinds(acts))
	}
	// Reconciling again while master-1 runs starts nothing new.
	st2, acts := step(c, st, t0.Add(time.Second))
	if kinds(acts)[CreateJobs] != 0 || !reflect.DeepEqual(st2.Current.Nodes, []string{"master-1"}) {
		t.Fatalf("a second master started while the first runs: %v", kinds(acts))
	}
}

func TestModes(t *testing.T) {
	c := newCluster(2, map[string]int{"a": 5})
	sp := spec()
	sp.Mode = ModeControlPlane
	st, batches := runToEnd(t, c, mustStart(t, sp, c))
	if st.Phase != PhaseCompleted || len(batches) != 2 || c.node("w-a-0001").Version != from {
		t.Fatalf("control-plane mode: %s, %d batches", st.Phase, len(batches))
	}
	sp.Mode = ModeNodes
	st, err := NewState(sp, "r", Cluster{APIServerVersion: target, Nodes: c.nodes}, t0)
	if err != nil {
		t.Fatal(err)
	}
	st, batches = runToEnd(t, c, st)
	if st.Phase != PhaseCompleted || len(batches) != 5 || batches[0].Role != RoleWorker { // cap 1 for 5 workers
		t.Fatalf("nodes mode: %s, %d batches", st.Phase, len(batches))
	}
}

func TestPauseMidBatchLetsStartedNodesFinish(t *testing.T) {
	c := newCluster(0, map[string]int{"a": 40})
	sp := spec()
	sp.Mode = ModeNodes
	st, _ := NewState(sp, "r", Cluster{APIServerVersion: target, Nodes: c.nodes}, t0)
	st, _ = step(c, st, t0) // batch 1: 1 node
	c.succeedActive(t0)
	st, _ = step(c, st, t0) // batch 2: 2 nodes
	if len(st.Current.Nodes) != 2 {
		t.Fatalf("batch 2 has %d nodes", len(st.Current.Nodes))
	}
	st, _, err := Step(st, c.obs(), RequestPause{}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if got := StateName(st, c.obs()); got != "Pausing" {
		t.Fatalf("state %s, want Pausing", got)
	}
	st, acts := step(c, st, t0.Add(time.Second))
	if kinds(acts)[CreateJobs] != 0 {
		t.Fatal("a Job was created while pausing")
	}
	c.succeedActive(t0.Add(2 * time.Second))
	st, acts = step(c, st, t0.Add(3*time.Second))
	if kinds(acts)[CreateJobs] != 0 || st.Current != nil || StateName(st, c.obs()) != "Paused" {
		t.Fatalf("after the batch finished: state %s, current %v, %v", StateName(st, c.obs()), st.Current, kinds(acts))
	}
	if _, _, err := Step(st, c.obs(), RequestPause{}, t0); !errors.Is(err, ErrNoop) {
		t.Fatalf("pausing twice: %v, want ErrNoop", err)
	}
	// Resume: the ramp restarts at 1, then doubles.
	st, _, err = Step(st, c.obs(), Resume{}, t0.Add(4*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var sizes []int
	for range 3 {
		var acts []Action
		st, acts = step(c, st, t0.Add(5*time.Second))
		for _, a := range acts {
			if a.Kind == CreateJobs {
				sizes = append(sizes, len(a.Nodes))
			}
		}
		c.succeedActive(t0.Add(5 * time.Second))
	}
	if !reflect.DeepEqual(sizes, []int{1, 2, 4}) {
		t.Fatalf("sizes after resume %v, want [1 2 4]", sizes)
	}
}

func TestResumeWhilePausingRestartsRampAtOne(t *testing.T) {
	c := newCluster(0, map[string]int{"a": 100})
	sp := spec()
	sp.Mode = ModeNodes
	st, _ := NewState(sp, "r", Cluster{APIServerVersion: target, Nodes: c.nodes}, t0)
	for range 3 { // batches 1, 2, 4
		st, _ = step(c, st, t0)
		c.succeedActive(t0)
	}
	st, _ = step(c, st, t0) // batch 4 (8 nodes) running
	st, _, _ = Step(st, c.obs(), RequestPause{}, t0)
	st, _, _ = Step(st, c.obs(), Resume{}, t0)
	c.succeedActive(t0)
	_, acts := step(c, st, t0)
	for _, a := range acts {
		if a.Kind == CreateJobs && len(a.Nodes) != 1 {
			t.Fatalf("first batch after resume has %d nodes", len(a.Nodes))
		}
	}
}

func TestFailurePausesWithCause(t *testing.T) {
	c := newCluster(0, map[string]int{"a": 40})
	sp := spec()
	sp.Mode = ModeNodes
	st, _ := NewState(sp, "r", Cluster{APIServerVersion: target, Nodes: c.nodes}, t0)
	st, _ = step(c, st, t0)
	c.succeedActive(t0)
	st, _ = step(c, st, t0) // batch 2: w-a-0002, w-a-0003
	c.fail("w-a-0002", "upgrade", "upgrade: kubelet healthz failed after restart; rolled back to v1.35.4", t0)
	st, acts := step(c, st, t0.Add(time.Second))
	if st.Pause == nil || !st.Pause.ByError || !strings.Contains(st.Pause.Reason, "w-a-0002") || !strings.Contains(st.Pause.Reason, "healthz") {
		t.Fatalf("pause %+v", st.Pause)
	}
	if got := reasons(acts); !reflect.DeepEqual(got, []string{ReasonNodeFailed, ReasonPaused}) {
		t.Fatalf("events %v", got)
	}
	f := st.Failures[0]
	if f.Node != "w-a-0002" || f.Container != "upgrade" || f.Batch != "2" || st.FailureCount != 1 {
		t.Fatalf("failure %+v", f)
	}
	// The other node of the batch finishes; nothing new starts; the failure is recorded once.
	c.succeed("w-a-0003", t0)
	st, acts = step(c, st, t0.Add(2*time.Second))
	if kinds(acts)[CreateJobs] != 0 || st.FailureCount != 1 || st.Current != nil {
		t.Fatalf("after the batch: %v, failures %d", kinds(acts), st.FailureCount)
	}
	// Resume is refused while the failed pod remains...
	var fpe *FailedPodsError
	if _, _, err := Step(st, c.obs(), Resume{}, t0); !errors.As(err, &fpe) || fpe.Nodes[0] != "w-a-0002" {
		t.Fatalf("resume with failed pods: %v", err)
	}
	// ...and --retry-failed deletes the Job and re-queues the node.
	st2, acts, err := Step(st, c.obs(), Resume{RetryFailed: true}, t0)
	if err != nil || kinds(acts)[DeleteJobs] != 1 {
		t.Fatalf("retry: %v %v", err, kinds(acts))
	}
	c.apply(acts, t0)
	st2, acts = step(c, st2, t0)
	if len(acts) == 0 || st2.Current == nil || st2.Current.Nodes[0] != "w-a-0002" {
		t.Fatalf("the failed node was not retried first: %+v", st2.Current)
	}
	// Deleting the failed pods by hand instead: resume is accepted, the node is skipped.
	j := c.jobs["w-a-0002"]
	j.Phase, j.FailedPods = JobFailed, 0
	c.jobs["w-a-0002"] = j
	if _, _, err := Step(st, c.obs(), Resume{}, t0); err != nil {
		t.Fatalf("resume after the pods were deleted: %v", err)
	}
}

func TestDeadlineExceededIsATimeout(t *testing.T) {
	c := newCluster(1, nil)
	st := mustStart(t, spec(), c)
	st, _ = step(c, st, t0)
	j := c.jobs["master-1"]
	j.Phase, j.Reason, j.Finished = JobFailed, "DeadlineExceeded", t0
	c.jobs["master-1"] = j
	st, _ = step(c, st, t0)
	if st.Pause == nil || !strings.Contains(st.Pause.Reason, "timed out") {
		t.Fatalf("pause %+v", st.Pause)
	}
}

func TestSucceededJobButOldVersionFailsAfterGrace(t *testing.T) {
	c := newCluster(1, nil)
	st := mustStart(t, spec(), c)
	st, _ = step(c, st, t0)
	j := c.jobs["master-1"]
	j.Phase, j.Finished = JobSucceeded, t0
	c.jobs["master-1"] = j
	if st, _ = step(c, st, t0.Add(VersionGrace)); st.Pause != nil {
		t.Fatal("failed within the grace period")
	}
	st, _ = step(c, st, t0.Add(VersionGrace+time.Second))
	if st.Pause == nil || !strings.Contains(st.Pause.Reason, "still reports kubelet v1.35.4") {
		t.Fatalf("pause %+v", st.Pause)
	}
}

func TestCancelOnlyWhenPaused(t *testing.T) {
	c := newCluster(1, map[string]int{"a": 10})
	st := mustStart(t, spec(), c)
	st, _ = step(c, st, t0)
	var te *TransitionError
	if _, _, err := Step(st, c.obs(), Cancel{}, t0); !errors.As(err, &te) || !strings.Contains(err.Error(), "pause it first") {
		t.Fatalf("cancel while running: %v", err)
	}
	st, _, _ = Step(st, c.obs(), RequestPause{}, t0)
	st, acts, err := Step(st, c.obs(), Cancel{}, t0)
	if err != nil || st.Phase != PhaseCancelled || st.FinishedAt == nil {
		t.Fatalf("cancel: %v %s", err, st.Phase)
	}
	if got := reasons(acts); !reflect.DeepEqual(got, []string{ReasonCancelled}) {
		t.Fatalf("events %v", got)
	}
	// The started master finishes; nothing else starts.
	c.succeedActive(t0)
	st, acts = step(c, st, t0)
	if len(acts) != 0 || c.node("w-a-0001").Version != from {
		t.Fatalf("a cancelled run acted: %v", kinds(acts))
	}
	if _, _, err := Step(st, c.obs(), Cancel{}, t0); !errors.Is(err, ErrNoop) {
		t.Fatalf("cancel twice: %v", err)
	}
	if _, _, err := Step(st, c.obs(), Resume{}, t0); !errors.As(err, &te) {
		t.Fatalf("resume after cancel: %v", err)
	}
}

func TestExpiryAtTheBoundary(t *testing.T) {
	c := newCluster(1, map[string]int{"a": 10})
	st := mustStart(t, spec(), c)
	st, _ = step(c, st, t0)
	c.succeedActive(t0)
	st, _, _ = Step(st, c.obs(), RequestPause{}, t0)
	exp := st.Spec.PauseExpiry.Duration
	at, acts := step(c, st, t0.Add(exp))
	if at.Phase.Terminal() || kinds(acts)[DeleteRun] != 0 {
		t.Fatal("expired at exactly the boundary")
	}
	after, acts := step(c, st, t0.Add(exp+time.Nanosecond))
	if after.Phase != PhaseCancelled || kinds(acts)[DeleteRun] != 1 || !strings.HasPrefix(after.EndReason, "expired") {
		t.Fatalf("not expired after the boundary: %s %v", after.Phase, kinds(acts))
	}
	// A running (not paused) run never expires.
	st, _, _ = Step(st, c.obs(), Resume{}, t0)
	if run, _ := step(c, st, t0.Add(100*exp)); run.Phase.Terminal() {
		t.Fatal("a running run expired")
	}
}

func TestWriteAheadRepairAndTampering(t *testing.T) {
	c := newCluster(1, map[string]int{"a": 10})
	st := mustStart(t, spec(), c)
	// The batch is decided (and saved) but the process dies before creating Jobs.
	st, acts := tick(st, c.obs(), t0)
	if kinds(acts)[CreateJobs] != 1 || st.Current == nil || st.Current.JobsCreated {
		t.Fatal("no write-ahead batch")
	}
	// The next reconcile re-issues the creation for the same node only.
	st2, acts := tick(st, c.obs(), t0)
	if kinds(acts)[CreateJobs] != 1 || !reflect.DeepEqual(acts[len(acts)-1].Nodes, []string{"master-1"}) || st2.MasterSerial != 1 {
		t.Fatalf("repair: %v serial %d", kinds(acts), st2.MasterSerial)
	}
	c.apply(acts, t0)
	st2, _ = step(c, st2, t0)
	if !st2.Current.JobsCreated {
		t.Fatal("JobsCreated not recorded once the Job exists")
	}
	// Someone deletes the Job: reported, not guessed.
	delete(c.jobs, "master-1")
	st3, acts := step(c, st2, t0)
	if st3.Pause == nil || !strings.Contains(st3.Pause.Reason, "deleted") || kinds(acts)[CreateJobs] != 0 {
		t.Fatalf("tampering not reported: %+v", st3.Pause)
	}
	// Resume re-queues the node; it gets a new batch.
	st4, _, err := Step(st3, c.obs(), Resume{}, t0)
	if err != nil || st4.Current != nil {
		t.Fatalf("resume after tampering: %v %+v", err, st4.Current)
	}
	st4, acts = step(c, st4, t0)
	if kinds(acts)[CreateJobs] != 1 || st4.Current.Nodes[0] != "master-1" {
		t.Fatal("node not re-queued")
	}
}

func TestPausedBeforeJobsCreatedDoesNotStartThem(t *testing.T) {
	c := newCluster(0, map[string]int{"a": 20})
	sp := spec()
	sp.Mode = ModeNodes
	st, _ := NewState(sp, "r", Cluster{APIServerVersion: target, Nodes: c.nodes}, t0)
	st, _ = tick(st, c.obs(), t0) // batch recorded, crash before Jobs
	// The pause is saved with the batch still unstarted; the process dies again.
	st, _, _ = Step(st, c.obs(), RequestPause{}, t0)
	st, acts := tick(st, c.obs(), t0)
	if kinds(acts)[CreateJobs] != 0 || st.Current != nil || StateName(st, c.obs()) != "Paused" {
		t.Fatalf("paused run started Jobs: %v", kinds(acts))
	}
}

// A NotReady worker is deferred, with or without --skip-unready (which only lets the
// pre-check accept it at start): the run goes on and ends Incomplete, naming it.
func TestNotReadyNodes(t *testing.T) {
	for _, skipUnready := range []bool{false, true} {
		c := newCluster(0, map[string]int{"a": 10})
		c.node("w-a-0001").Ready = false
		sp := spec()
		sp.Mode = ModeNodes
		sp.SkipUnready = skipUnready
		st, _ := NewState(sp, "r", Cluster{APIServerVersion: target, Nodes: c.nodes}, t0)
		st, batches := runToEnd(t, c, st)
		want := []LeftNode{{Node: "w-a-0001", Reason: LeftOffline}}
		if st.Phase != PhaseIncomplete || !reflect.DeepEqual(st.LeftBehind, want) || st.LeftBehindCount != 1 || len(batches) == 0 {
			t.Fatalf("--skip-unready=%v: %s left behind %v after %d batches", skipUnready, st.Phase, st.LeftBehind, len(batches))
		}
		if !reflect.DeepEqual(Deferred(st, c.obs()), []string{"w-a-0001"}) {
			t.Fatalf("deferred %v", Deferred(st, c.obs()))
		}
	}
}

// Workers out of scope are never deferred: --mode control-plane never upgrades them.
func TestDeferredOnlyInScope(t *testing.T) {
	c := newCluster(1, map[string]int{"a": 4})
	c.node("w-a-0001").Ready = false
	sp := spec()
	sp.SkipUnready = true
	for mode, want := range map[Mode][]string{ModeAll: {"w-a-0001"}, ModeNodes: {"w-a-0001"}, ModeControlPlane: nil} {
		sp.Mode = mode
		st, err := NewState(sp, "r", Cluster{APIServerVersion: "v1.35.4", Nodes: c.nodes}, t0)
		if mode == ModeNodes {
			st, err = NewState(sp, "r", Cluster{APIServerVersion: target, Nodes: c.nodes}, t0)
		}
		if err != nil {
			t.Fatal(err)
		}
		if got := Deferred(st, c.obs()); !reflect.DeepEqual(got, want) {
			t.Errorf("--mode %s: deferred %v, want %v", mode, got, want)
		}
	}
}

func TestAlreadyUpgradedNodesAreNoops(t *testing.T) {
	c := newCluster(1, map[string]int{"a": 10})
	for i := range c.nodes {
		if c.nodes[i].Name != "w-a-0005" {
			c.nodes[i].Version = target
		}
	}
	st, err := NewState(spec(), "r", Cluster{APIServerVersion: target, Nodes: c.nodes}, t0)
	if err != nil {
		t.Fatal(err)
	}
	_, batches := runToEnd(t, c, st)
	if len(batches) != 1 || batches[0].Nodes[0] != "w-a-0005" {
		t.Fatalf("batches %v", batches)
	}
	for i := range c.nodes {
		c.nodes[i].Version = target
	}
	if _, err := NewState(spec(), "r", Cluster{APIServerVersion: target, Nodes: c.nodes}, t0); !errors.Is(err, ErrNothingToDo) {
		t.Fatalf("all at target: %v", err)
	}
}

func TestReconcileIsIdempotent(t *testing.T) {
	c := newCluster(2, map[string]int{"a": 30, "b": 7})
	st := mustStart(t, spec(), c)
	now := t0
	for i := 0; i < 200 && !st.Phase.Terminal(); i++ {
		st, _ = step(c, st, now)
		st, _ = step(c, st, now) // records that the new Jobs exist
		again, acts := tick(st, c.obs(), now)
		if !reflect.DeepEqual(again, st) || len(acts) != 0 {
			t.Fatalf("step %d: reconciling a settled state changed it or acted: %v", i, kinds(acts))
		}
		c.succeedActive(now)
		now = now.Add(time.Second)
	}
}

// TestFailureMessageIsBounded: a 4 KiB termination message is clipped in the state
// (docs/design.md §4: the ConfigMap stays small), on a character boundary.
func TestFailureMessageIsBounded(t *testing.T) {
	c := newCluster(0, map[string]int{"a": 10})
	sp := spec()
	sp.Mode = ModeNodes
	st, _ := NewState(sp, "r", Cluster{APIServerVersion: target, Nodes: c.nodes}, t0)
	st, _ = step(c, st, t0)
	if st.Current == nil || st.Current.Nodes[0] != "w-a-0001" {
		t.Fatalf("first batch %+v, jobs %v", st.Current, c.jobs)
	}
	long := "kubeadm: " + strings.Repeat("é", 4096)
	c.fail("w-a-0001", "upgrade", long, t0)
	st, _ = step(c, st, t0.Add(time.Second))
	got := st.Failures[0].Message
	if len(got) > MaxMessage || !utf8.ValidString(got) || !strings.HasPrefix(got, "kubeadm: éé") || !strings.HasSuffix(got, "…") {
		t.Fatalf("message of %d bytes (valid UTF-8 %v): %.40q…", len(got), utf8.ValidString(got), got)
	}
	if len(st.Pause.Reason) > MaxMessage+200 {
		t.Fatalf("pause reason of %d bytes", len(st.Pause.Reason))
	}
}
