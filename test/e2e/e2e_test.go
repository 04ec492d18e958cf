package e2e

import (
	"context"
	"fmt"
	"math/rand"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/status"
	"github.com/edgeupgrade/kubectl-edgeupgrade/test/lab"
)

// 1. Full upgrade over 3 pools: 1,2,4,... per pool capped at 10%, masters one at a
// time in name order, every node at the target.
func TestFullUpgrade(t *testing.T) {
	e := startLab(t, lab.Config{Masters: 3, Workers: 45, Pools: 3, CloudWorkers: 5})
	w := e.watchJobs()
	// --no-stage: the masters' order below is read from the Jobs' completion times, which
	// the job controller writes later (by seconds on a loaded machine) while it also
	// runs the staging Jobs of every node; staging has its own test (stage_test.go).
	if r := e.run(startArgs("--wait", "--no-stage")...); r.code != 0 {
		t.Fatalf("start --wait: %s", r)
	}
	s := e.status()
	if s.Phase != "Completed" || s.Nodes.Upgraded != 53 || s.Nodes.Total != 53 || s.Masters.Upgraded != 3 || s.Cap != 5 {
		t.Fatalf("status: phase %s nodes %+v masters %+v cap %d", s.Phase, s.Nodes, s.Masters, s.Cap)
	}
	want := map[string][]int{"cloud": ramp(5, 5), "pool-a": ramp(15, 5), "pool-b": ramp(15, 5), "pool-c": ramp(15, 5)}
	if got := sizesByPool(s); !reflect.DeepEqual(got, want) {
		t.Fatalf("batch sizes per pool %v, want %v", got, want)
	}
	var prevEnd *time.Time
	for i, b := range s.Batches[:3] {
		if b.Index != fmt.Sprintf("m%d", i+1) || b.Nodes[0] != fmt.Sprintf("master-%d", i+1) {
			t.Fatalf("master batch %d is %+v", i, b)
		}
		if prevEnd != nil && b.StartedAt.Before(prevEnd.Add(-time.Second)) { // timestamps have 1 s resolution
			t.Fatalf("master %d started before master %d finished", i+1, i)
		}
		prevEnd = b.FinishedAt
	}
	for n, v := range e.versions() {
		if v != target {
			t.Errorf("node %s at %s", n, v)
		}
	}
	w.check(t, 5)
	// Completed runs are idempotent: a second start has nothing to do.
	if r := e.run(startArgs()...); r.code != 0 || !contains(r.out, "already at") {
		t.Fatalf("second start: %s", r)
	}
}

// 2. --max-batch-size is honoured.
func TestMaxBatchSize(t *testing.T) {
	e := startLab(t, lab.Config{Masters: 1, Workers: 20, Pools: 1})
	if r := e.run(startArgs("--wait", "--max-batch-size", "3")...); r.code != 0 {
		t.Fatalf("start: %s", r)
	}
	if got := sizesByPool(e.status())["pool-a"]; !reflect.DeepEqual(got, ramp(20, 3)) {
		t.Fatalf("sizes %v, want %v", got, ramp(20, 3))
	}
}

// 3 and 4. Pause while a batch runs: started nodes finish, nothing new starts for 3x
// the job duration, pausing then paused; resume restarts the ramp at 1.
func TestPauseAndResume(t *testing.T) {
	const d = 3 * time.Second
	e := startLab(t, lab.Config{Masters: 0, Workers: 40, Pools: 1, JobDuration: d})
	// No control-plane nodes are visible, so only --mode nodes is allowed: the lab's
	// API server already runs v1.36.3.
	cmd, out := e.background(startArgs("--wait", "--mode", "nodes")...)
	e.waitFor("batch 3", time.Minute, func(s *status.Status) bool { return s.CurrentBatch != nil && s.CurrentBatch.Index == "3" })
	if r := e.run("pause", "--reason", "e2e"); r.code != 0 {
		t.Fatalf("pause: %s", r)
	}
	if s := e.status(); s.Phase != "Pausing" || s.Pause == nil || s.Pause.Reason != "e2e" {
		t.Fatalf("right after pause: phase %s pause %+v", s.Phase, s.Pause)
	}
	if r := e.run("pause"); r.code != 0 || !contains(r.out, "already paused") {
		t.Fatalf("second pause: %s", r)
	}
	err := cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 3 {
		t.Fatalf("start --wait ended with %v (exit %d), want 3 (paused)\n%s", err, code, out)
	}
	s := e.status()
	if s.Phase != "Paused" || s.Nodes.Upgraded != 7 { // batches 1+2+4 all finished
		t.Fatalf("paused: phase %s nodes %+v", s.Phase, s.Nodes)
	}
	jobs := e.jobCount(job.LabelManagedBy + "=" + job.ManagedBy)
	time.Sleep(3 * d)
	if n := e.jobCount(job.LabelManagedBy + "=" + job.ManagedBy); n != jobs {
		t.Fatalf("%d new Jobs while paused", n-jobs)
	}
	if r := e.run("resume", "--wait"); r.code != 0 {
		t.Fatalf("resume: %s", r)
	}
	got := sizesByPool(e.status())["pool-a"]
	want := append([]int{1, 2, 4}, ramp(33, 4)...)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("sizes %v, want %v (ramp restarts at 1 after resume)", got, want)
	}
}

// 5. Cancel: refused while running, accepted when paused; started nodes finish, the
// rest stay old; a new start can follow.
func TestCancel(t *testing.T) {
	e := startLab(t, lab.Config{Workers: 30, Pools: 1, JobDuration: 2 * time.Second})
	// --no-stage: start's own pass then starts the first node's Job at once (with
	// staging it waits for that node's pull, and a cancel before it finds no node started).
	if r := e.run(startArgs("--mode", "nodes", "--no-stage")...); r.code != 0 {
		t.Fatalf("start: %s", r)
	}
	if r := e.run("cancel", "--yes"); r.code == 0 || !contains(r.err, "pause it first") {
		t.Fatalf("cancel while running: %s", r)
	}
	if r := e.run("pause"); r.code != 0 {
		t.Fatalf("pause: %s", r)
	}
	if r := e.run("cancel"); r.code == 0 || !contains(r.err, "--yes") {
		t.Fatalf("cancel without a terminal and without --yes: %s", r)
	}
	if r := e.run("cancel", "--yes"); r.code != 0 {
		t.Fatalf("cancel: %s", r)
	}
	e.waitFor("the started node", time.Minute, func(s *status.Status) bool { return s.Nodes.InProgress == 0 })
	e.waitJobsFinished(time.Minute)
	s := e.status()
	if s.Phase != "Cancelled" || s.Nodes.Upgraded != 1 || s.Nodes.Pending != 29 {
		t.Fatalf("after cancel: phase %s nodes %+v", s.Phase, s.Nodes)
	}
	if r := e.run(startArgs("--mode", "nodes", "--wait")...); r.code != 0 {
		t.Fatalf("new start after cancel: %s", r)
	}
}

// 6. A failing node pauses with node, container and message in status and an Event;
// resume is refused until the failed pods are gone; --retry-failed works.
func TestFailingNode(t *testing.T) {
	e := startLab(t, lab.Config{Workers: 20, Pools: 1, Fail: map[string]string{"edge-a-002": "upgrade: kubelet healthz failed after restart; rolled back to v1.35.4"}})
	r := e.run(startArgs("--mode", "nodes", "--wait")...)
	if r.code != 3 || !contains(r.err, "edge-a-002") {
		t.Fatalf("start --wait with a failing node: %s", r)
	}
	s := e.status()
	if s.Phase != "Paused" || s.Pause == nil || !s.Pause.ByError || len(s.Failures) != 1 {
		t.Fatalf("status: %s %+v %+v", s.Phase, s.Pause, s.Failures)
	}
	f := s.Failures[0]
	if f.Node != "edge-a-002" || f.Container != "upgrade" || !contains(f.Message, "healthz failed") {
		t.Fatalf("failure %+v", f)
	}
	evs, err := e.lab.Client.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{FieldSelector: "reason=NodeUpgradeFailed"})
	if err != nil || len(evs.Items) != 1 || evs.Items[0].InvolvedObject.Name != "edge-a-002" {
		t.Fatalf("NodeUpgradeFailed Event: %v %d", err, len(evs.Items))
	}
	if r := e.run("logs", "edge-a-002"); r.code != 0 || !contains(r.out, "upgrade: FAILED: upgrade: kubelet healthz failed") {
		t.Fatalf("logs of the failed node: %s", r)
	}
	if r := e.run("resume"); r.code == 0 || !contains(r.err, "--retry-failed") {
		t.Fatalf("resume with failed pods: %s", r)
	}
	if err := e.lab.ClearFaults(context.Background(), "edge-a-002"); err != nil {
		t.Fatal(err)
	}
	if r := e.run("resume", "--retry-failed", "--wait"); r.code != 0 {
		t.Fatalf("resume --retry-failed: %s", r)
	}
	if v := e.versions()["edge-a-002"]; v != target {
		t.Fatalf("retried node at %s", v)
	}
}

// 7. A hanging node: the Job deadline fires and the run pauses with a timeout.
func TestHangingNode(t *testing.T) {
	e := startLab(t, lab.Config{Workers: 10, Pools: 1, Hang: []string{"edge-a-001"}})
	r := e.run(startArgs("--mode", "nodes", "--wait", "--job-timeout", "5s")...)
	if r.code != 3 {
		t.Fatalf("start: %s", r)
	}
	s := e.status()
	if len(s.Failures) != 1 || s.Failures[0].Node != "edge-a-001" || !contains(s.Failures[0].Message, "timed out") {
		t.Fatalf("failures %+v", s.Failures)
	}
}

// 8. Expiry: a paused run is cancelled by the next invocation after --pause-expiry,
// and its Jobs, pods and Events are gone.
func TestPauseExpiry(t *testing.T) {
	e := startLab(t, lab.Config{Workers: 10, Pools: 1})
	if r := e.run(startArgs("--mode", "nodes", "--pause-expiry", "3s")...); r.code != 0 {
		t.Fatalf("start: %s", r)
	}
	if r := e.run("pause"); r.code != 0 {
		t.Fatalf("pause: %s", r)
	}
	run := e.status().RunID
	time.Sleep(4 * time.Second)
	if r := e.run("status"); r.code != 0 {
		t.Fatalf("status: %s", r)
	}
	s := e.status()
	if s.Phase != "Cancelled" || !contains(s.EndReason, "expired") {
		t.Fatalf("phase %s end %q", s.Phase, s.EndReason)
	}
	sel := metav1.ListOptions{LabelSelector: job.LabelRun + "=" + run}
	ctx := context.Background()
	jobs, _ := e.lab.Client.BatchV1().Jobs(job.Namespace).List(ctx, sel)
	evs, _ := e.lab.Client.CoreV1().Events(job.Namespace).List(ctx, sel)
	nodeEvs, _ := e.lab.Client.CoreV1().Events("default").List(ctx, sel)
	if len(jobs.Items)+len(evs.Items)+len(nodeEvs.Items) != 0 {
		t.Fatalf("left behind: %d jobs, %d events, %d node events", len(jobs.Items), len(evs.Items), len(nodeEvs.Items))
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		pods, _ := e.lab.Client.CoreV1().Pods(job.Namespace).List(ctx, sel)
		if len(pods.Items) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d pods left", len(pods.Items))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// 9. Unready nodes: the pre-check fails listing them; --skip-unready defers them, and
// the run, which leaves them behind, ends Incomplete (exit 5) listing them.
func TestUnreadyNodes(t *testing.T) {
	e := startLab(t, lab.Config{Workers: 10, Pools: 1, Unready: []string{"edge-a-004"}})
	r := e.run(startArgs("--mode", "nodes")...)
	if r.code != 2 || !contains(r.err, "edge-a-004") {
		t.Fatalf("start with an unready node: %s", r)
	}
	if _, err := e.lab.Client.CoreV1().ConfigMaps(job.Namespace).Get(context.Background(), "edgeupgrade", metav1.GetOptions{}); err == nil {
		t.Fatal("a refused start wrote the state")
	}
	if r := e.run(startArgs("--mode", "nodes", "--skip-unready", "--wait")...); r.code != 5 || !contains(r.out, "edge-a-004") || !contains(r.err, "edge-a-004 (offline") {
		t.Fatalf("start --skip-unready: %s", r)
	}
	s := e.status()
	if s.Phase != "Incomplete" || s.Nodes.Deferred != 1 || s.DeferredNodes[0] != "edge-a-004" || e.versions()["edge-a-004"] != from ||
		s.LeftBehindCount != 1 || s.LeftBehind[0].Node != "edge-a-004" {
		t.Fatalf("deferred: %s %+v %v left behind %+v", s.Phase, s.Nodes, s.DeferredNodes, s.LeftBehind)
	}
}

// 10. Bad input is refused with one line and writes nothing.
func TestBadInputWritesNothing(t *testing.T) {
	e := startLab(t, lab.Config{Masters: 1, Workers: 3, Pools: 1})
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"start", "--to", "v1.37.0"}, "upgrade to v1.36 first"},
		{[]string{"start", "--to", "v1.34.1"}, "downgrades are not supported"},
		{[]string{"start", "--to", "latest"}, "invalid version"},
		{[]string{"start", "--to", target, "--mode", "everything"}, "unknown --mode"},
		{[]string{"start", "--to", target, "--max-batch-size", "-2"}, "--max-batch-size"},
		{[]string{"start", "--to", target, "--bogus"}, "unknown flag"},
		{[]string{"resume"}, "no upgrade found"},
		{[]string{"status"}, "no upgrade found"},
		{[]string{"pause"}, "no upgrade found"},
		{[]string{"plan", "--to", "v1.37.0"}, "upgrade to v1.36 first"},
	} {
		r := e.run(tc.args...)
		if r.code == 0 || !contains(r.err, tc.want) {
			t.Errorf("%v: %s\nwant %q", tc.args, r, tc.want)
		}
		if lines := len(splitLines(r.err)); lines != 1 {
			t.Errorf("%v: %d lines of error", tc.args, lines)
		}
	}
	ns, _ := e.lab.Client.CoreV1().Namespaces().Get(context.Background(), job.Namespace, metav1.GetOptions{})
	if ns != nil && ns.Name != "" {
		if cms, _ := e.lab.Client.CoreV1().ConfigMaps(job.Namespace).List(context.Background(), metav1.ListOptions{}); len(cms.Items) > 1 {
			t.Fatalf("refused commands wrote %d ConfigMaps", len(cms.Items))
		}
	}
	// A second start while a run exists is refused too.
	if r := e.run(startArgs()...); r.code != 0 {
		t.Fatalf("start: %s", r)
	}
	if r := e.run(startArgs()...); r.code == 0 || !contains(r.err, "already running") {
		t.Fatalf("second start: %s", r)
	}
	if r := e.run("resume"); r.code == 0 || !contains(r.err, "it is not paused") {
		t.Fatalf("resume while running: %s", r)
	}
}

// 11. The least-privilege operator runs the whole flow; the viewer can only read.
func TestRBAC(t *testing.T) {
	e := startLab(t, lab.Config{Masters: 1, Workers: 10, Pools: 1})
	e.bindRBAC()
	viewer, operator := e.lab.ViewerKubeconfig, e.lab.OperatorKubeconfig
	// The operator role reads no Secrets: the Helm check is skipped for that, not failed.
	if r := e.runAs(operator, "check", "--to", target); r.code != 0 || !contains(r.out+r.err, "no permission to list Secrets") {
		t.Fatalf("operator check without the Secrets role: %s", r)
	}
	if r := e.runAs(viewer, startArgs()...); r.code == 0 {
		t.Fatalf("the viewer started an upgrade: %s", r)
	}
	if r := e.runAs(operator, startArgs("--max-batch-size", "2")...); r.code != 0 {
		t.Fatalf("operator start: %s", r)
	}
	if r := e.runAs(operator, "pause"); r.code != 0 {
		t.Fatalf("operator pause: %s", r)
	}
	if r := e.runAs(viewer, "status", "--read-only", "-o", "json"); r.code != 0 {
		t.Fatalf("viewer status --read-only: %s", r)
	}
	for _, args := range [][]string{{"resume"}, {"cancel", "--yes"}} {
		if r := e.runAs(viewer, args...); r.code == 0 {
			t.Fatalf("the viewer could %v: %s", args, r)
		}
	}
	if r := e.runAs(operator, "resume", "--wait"); r.code != 0 {
		t.Fatalf("operator resume: %s", r)
	}
	for n, v := range e.versions() {
		if v != target {
			t.Errorf("after the operator's whole upgrade, %s is at %s", n, v)
		}
	}
	// The API server fetches the logs from the node's kubelet endpoint (kwok, on
	// loopback): the simulated agent's lines of that node, both containers.
	r := e.runAs(operator, "logs", "edge-a-001")
	if r.code != 0 {
		t.Fatalf("operator logs: %s", r)
	}
	for _, want := range []string{
		"container preprocess <==",
		"preprocess: node edge-a-001 (simulated by the lab): host checks",
		"preprocess: backup of the kubelet and kubeadm binaries and configs saved",
		"container upgrade <==",
		"upgrade: node edge-a-001: kubelet " + from + " -> " + target,
		"upgrade: node edge-a-001: kubelet " + target + " restarted, healthy",
	} {
		if !contains(r.out, want) {
			t.Errorf("logs edge-a-001: no %q in:\n%s", want, r.out)
		}
	}
	if contains(r.out, "(no logs") || contains(r.out, "edge-a-002") {
		t.Errorf("logs edge-a-001: missing or another node's logs:\n%s", r.out)
	}
	if r := e.runAs(operator, "logs", "edge-a-001", "--container", "upgrade", "--tail", "1"); r.code != 0 ||
		contains(r.out, "preprocess:") || !contains(r.out, "restarted, healthy") || contains(r.out, "-> "+target) {
		t.Errorf("logs --container upgrade --tail 1: %s", r)
	}
}

// 12. Crash safety: SIGKILL the driver at random moments (seeded), restart it; no node
// ever gets two Jobs, no batch exceeds the cap, the upgrade completes.
func TestCrashSafety(t *testing.T) {
	// Node work of 1.5 s: the run lasts long enough for 20+ kills however fast the
	// driver reacts (it reacts in well under a second to a batch's end).
	e := startLab(t, lab.Config{Masters: 3, Workers: 60, Pools: 2, JobDuration: 1500 * time.Millisecond})
	w := e.watchJobs()
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewSource(seed))
	args := startArgs("--wait")
	kills := 0
	for i := 0; i < 60; i++ {
		cmd, _ := e.background(args...)
		// The run's state is what is checked, not how the killed process exited.
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(time.Duration(rng.Intn(1500)) * time.Millisecond):
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-done
			kills++
		}
		s, _ := e.tryStatus()
		if s == nil {
			continue // killed before the run was recorded: start again
		}
		args = []string{"status", "--watch"}
		if s.Phase == "Completed" && kills >= 20 {
			break
		}
	}
	if r := e.run("status", "--watch"); r.code != 0 {
		t.Fatalf("final drive: %s", r)
	}
	t.Logf("%d kills", kills)
	if kills < 20 {
		t.Fatalf("only %d kills before the upgrade completed", kills)
	}
	s := e.status()
	if s.Phase != "Completed" || s.Nodes.Upgraded != 63 {
		t.Fatalf("after the crashes: %s %+v", s.Phase, s.Nodes)
	}
	w.check(t, s.Cap)
}

// 13. Four drivers at once on one run: same invariants.
func TestConcurrentDrivers(t *testing.T) {
	e := startLab(t, lab.Config{Masters: 3, Workers: 40, Pools: 2})
	w := e.watchJobs()
	if r := e.run(startArgs()...); r.code != 0 {
		t.Fatalf("start: %s", r)
	}
	done := make(chan int, 4)
	for range 4 {
		cmd, _ := e.background("status", "--watch")
		go func() { _ = cmd.Wait(); done <- cmd.ProcessState.ExitCode() }()
	}
	for range 4 {
		if code := <-done; code != 0 {
			t.Errorf("a driver exited %d", code)
		}
	}
	s := e.status()
	if s.Phase != "Completed" || s.Nodes.Upgraded != 43 {
		t.Fatalf("%s %+v", s.Phase, s.Nodes)
	}
	w.check(t, s.Cap)
}

func splitLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}
