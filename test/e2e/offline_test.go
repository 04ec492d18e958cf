package e2e

// Edge robustness through the binary (docs/design.md §2.11–13, §6): nodes that go
// offline before or during their upgrade, the documented recovery path, honest
// completion, health gates and soak, and tampering whichever command drives. Every
// test here has its own small lab and runs in parallel with the others of this file.

import (
	"bytes"
	"context"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/status"
	"github.com/edgeupgrade/kubectl-edgeupgrade/test/lab"
)

// exitIncomplete is the documented exit code of a driven run that ends Incomplete.
const exitIncomplete = 5

// waitExit waits for a background plugin and returns its exit code.
func waitExit(t *testing.T, cmd *exec.Cmd, out *bytes.Buffer, timeout time.Duration) int {
	t.Helper()
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
		return cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
		t.Fatalf("the plugin did not exit within %s:\n%s", timeout, out)
		return -1
	}
}

func nodeEvents(t *testing.T, e *env, reason, node string) int {
	t.Helper()
	evs, err := e.lab.Client.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{FieldSelector: "reason=" + reason})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ev := range evs.Items {
		if ev.InvolvedObject.Name == node {
			n += max(1, int(ev.Count))
		}
	}
	return n
}

// batchOf returns the history entry of the batch that upgraded node.
func batchOf(s *status.Status, node string) *status.Batch {
	for i := range s.Batches {
		if slices.Contains(s.Batches[i].Nodes, node) {
			return &s.Batches[i]
		}
	}
	return nil
}

// A node that goes offline for good during its upgrade pauses the run within
// --offline-grace, not at the Job deadline: status and the cause name the node, since
// when it is NotReady and how far its upgrade got; one NodeNotReady Event says so.
// Skipping it is explicit (resume --skip-failed), recorded, and the run ends
// Incomplete with it left behind (exit 5).
func TestOfflineForGoodDuringUpgrade(t *testing.T) {
	t.Parallel()
	e := startLab(t, lab.Config{Workers: 3, Pools: 1, NotReadyDuring: map[string]time.Duration{"edge-a-001": 0}})
	began := time.Now()
	r := e.run(startArgs("--mode", "nodes", "--wait", "--offline-grace", "5s")...)
	took := time.Since(began)
	t.Logf("paused %s after start (--offline-grace 5s)", took.Round(100*time.Millisecond))
	if r.code != 3 || !contains(r.err, "edge-a-001") || !contains(r.err, "NotReady since") || contains(r.err, "deadline") {
		t.Fatalf("start --wait with a node offline during its upgrade: %s", r)
	}
	if took > 5*time.Second+15*time.Second {
		t.Fatalf("paused %s after start: not within --offline-grace 5s and a few seconds", took)
	}
	s := e.status()
	if s.Phase != "Paused" || len(s.Failures) != 1 || s.Failures[0].Reason != "NodeNotReady" || !contains(s.Failures[0].Message, "container upgrade running since") {
		t.Fatalf("status: %s %+v", s.Phase, s.Failures)
	}
	if b := s.CurrentBatch; b == nil || len(b.Offline) != 1 || b.Offline[0].Node != "edge-a-001" || b.Offline[0].NotReadySince.IsZero() || b.Offline[0].UpgradeRunning == "" {
		t.Fatalf("current batch does not show the offline node: %+v", s.CurrentBatch)
	}
	if r := e.run("status"); r.code != 0 || !contains(r.out, "NotReady:") || !contains(r.out, "edge-a-001 since") {
		t.Fatalf("human status: %s", r)
	}
	if n := nodeEvents(t, e, "NodeNotReady", "edge-a-001"); n != 1 {
		t.Fatalf("%d NodeNotReady Events on edge-a-001, want 1", n)
	}
	r = e.run("resume", "--skip-failed", "--wait")
	if r.code != exitIncomplete || !contains(r.err, "edge-a-001 (failed, skipped") {
		t.Fatalf("resume --skip-failed --wait: %s", r)
	}
	s = e.status()
	if s.Phase != "Incomplete" || s.SkippedCount != 1 || s.LeftBehindCount != 1 || s.LeftBehind[0].Node != "edge-a-001" || s.Nodes.Upgraded != 2 {
		t.Fatalf("after skipping: %s skipped %v left %+v nodes %+v", s.Phase, s.SkippedNodes, s.LeftBehind, s.Nodes)
	}
}

// A node offline for 20 s during its upgrade, within --offline-grace 1m, and whose
// upgrade then succeeds: no pause, the run completes.
func TestOfflineBlipWithinGrace(t *testing.T) {
	t.Parallel()
	e := startLab(t, lab.Config{Workers: 2, Pools: 1, NotReadyDuring: map[string]time.Duration{"edge-a-001": 20 * time.Second}})
	r := e.run(startArgs("--mode", "nodes", "--wait", "--offline-grace", "1m")...)
	if r.code != 0 {
		t.Fatalf("start --wait: %s", r)
	}
	s := e.status()
	if s.Phase != "Completed" || s.Nodes.Upgraded != 2 || len(s.Failures) != 0 {
		t.Fatalf("%s %+v failures %+v", s.Phase, s.Nodes, s.Failures)
	}
	if n := nodeEvents(t, e, "NodeNotReady", "edge-a-001"); n != 1 {
		t.Fatalf("%d NodeNotReady Events on edge-a-001, want 1", n)
	}
}

// A node NotReady when its batch is formed is deferred, not blamed, and the run goes
// on; back Ready before the end, it is upgraded in a catch-up batch and the run is
// Completed with every node at the target.
func TestDeferredNodeCaughtUp(t *testing.T) {
	t.Parallel()
	e := startLab(t, lab.Config{Workers: 5, Pools: 1, JobDuration: 1500 * time.Millisecond})
	ctx := context.Background()
	// The last node takes long enough for edge-a-004 to come back while it runs.
	if err := e.lab.SetJobDuration(ctx, "edge-a-005", 6*time.Second); err != nil {
		t.Fatal(err)
	}
	cmd, out := e.background(startArgs("--mode", "nodes", "--wait")...)
	e.waitFor("the first batch", time.Minute, func(s *status.Status) bool { return s.CurrentBatch != nil })
	if err := e.lab.SetReady(ctx, "edge-a-004", false); err != nil {
		t.Fatal(err)
	}
	e.waitFor("edge-a-005 upgrading past the offline edge-a-004", time.Minute, func(s *status.Status) bool {
		return s.CurrentBatch != nil && slices.Contains(s.CurrentBatch.Nodes, "edge-a-005") && slices.Contains(s.DeferredNodes, "edge-a-004")
	})
	if err := e.lab.SetReady(ctx, "edge-a-004", true); err != nil {
		t.Fatal(err)
	}
	if code := waitExit(t, cmd, out, 2*time.Minute); code != 0 {
		t.Fatalf("start --wait exited %d:\n%s", code, out)
	}
	s := e.status()
	if s.Phase != "Completed" || s.Nodes.Upgraded != 5 || len(s.Failures) != 0 {
		t.Fatalf("%s %+v failures %+v", s.Phase, s.Nodes, s.Failures)
	}
	for n, v := range e.versions() {
		if v != target {
			t.Errorf("node %s at %s", n, v)
		}
	}
	late, before := batchOf(s, "edge-a-004"), batchOf(s, "edge-a-005")
	if late == nil || before == nil || !late.StartedAt.After(*before.StartedAt) {
		t.Fatalf("edge-a-004 not caught up after edge-a-005: %+v", s.Batches)
	}
}

// A node offline for the whole run is left behind: the run ends Incomplete (exit 5),
// listing it; a later start to the same version upgrades exactly that node.
func TestDeferredNodeNeverBack(t *testing.T) {
	t.Parallel()
	e := startLab(t, lab.Config{Workers: 4, Pools: 1, JobDuration: time.Second})
	ctx := context.Background()
	cmd, out := e.background(startArgs("--mode", "nodes", "--wait")...)
	e.waitFor("the first batch", time.Minute, func(s *status.Status) bool { return s.CurrentBatch != nil })
	if err := e.lab.SetReady(ctx, "edge-a-004", false); err != nil {
		t.Fatal(err)
	}
	if code := waitExit(t, cmd, out, 2*time.Minute); code != exitIncomplete || !strings.Contains(out.String(), "edge-a-004 (offline") {
		t.Fatalf("start --wait exited %d, want %d naming edge-a-004:\n%s", code, exitIncomplete, out)
	}
	s := e.status()
	if s.Phase != "Incomplete" || s.LeftBehindCount != 1 || s.LeftBehind[0] != (status.LeftNode{Node: "edge-a-004", Reason: "offline (NotReady)"}) {
		t.Fatalf("%s left behind %+v", s.Phase, s.LeftBehind)
	}
	if err := e.lab.SetReady(ctx, "edge-a-004", true); err != nil {
		t.Fatal(err)
	}
	if err := e.lab.WaitReady(ctx, "edge-a-004", true); err != nil {
		t.Fatal(err)
	}
	// The run ends when the last pod succeeds; the job controller marks its Job
	// Complete a second later, and the pre-check refuses a start before that.
	e.waitJobsFinished(30 * time.Second)
	if r := e.run(startArgs("--mode", "nodes", "--wait")...); r.code != 0 {
		t.Fatalf("start again: %s", r)
	}
	s = e.status()
	if s.Phase != "Completed" || len(s.Batches) != 1 || len(s.Batches[0].Nodes) != 1 || s.Batches[0].Nodes[0] != "edge-a-004" {
		t.Fatalf("the second run: %s batches %+v", s.Phase, s.Batches)
	}
}

// More offline workers than --max-deferred: something systemic; the run pauses with
// the count.
func TestMaxDeferredPauses(t *testing.T) {
	t.Parallel()
	e := startLab(t, lab.Config{Workers: 5, Pools: 1, Unready: []string{"edge-a-004", "edge-a-005"}})
	r := e.run(startArgs("--mode", "nodes", "--skip-unready", "--max-deferred", "1", "--wait")...)
	if r.code != 3 || !contains(r.err, "2 nodes offline") || !contains(r.err, "--max-deferred allows (1)") {
		t.Fatalf("start with 2 offline nodes, --max-deferred 1: %s", r)
	}
	if s := e.status(); s.Nodes.Upgraded != 0 || len(s.DeferredNodes) != 2 {
		t.Fatalf("%+v deferred %v", s.Nodes, s.DeferredNodes)
	}
}

// The documented recovery path: on a failure the run pauses; fix the cause, delete
// the failed pods in kube-upgrade, resume: the node is retried in this run (its Job
// replaced) and the run is Completed.
func TestRecoveryPathRetriesTheNode(t *testing.T) {
	t.Parallel()
	e := startLab(t, lab.Config{Workers: 4, Pools: 1, Fail: map[string]string{"edge-a-002": "upgrade: kubelet healthz failed after restart; rolled back"}})
	ctx := context.Background()
	if r := e.run(startArgs("--mode", "nodes", "--wait")...); r.code != 3 || !contains(r.err, "edge-a-002") {
		t.Fatalf("start --wait: %s", r)
	}
	if err := e.lab.ClearFaults(ctx, "edge-a-002"); err != nil {
		t.Fatal(err)
	}
	err := e.lab.Client.CoreV1().Pods(job.Namespace).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{FieldSelector: "status.phase=Failed"})
	if err != nil {
		t.Fatal(err)
	}
	if r := e.run("resume", "--wait"); r.code != 0 {
		t.Fatalf("resume --wait after deleting the failed pods: %s", r)
	}
	s := e.status()
	if s.Phase != "Completed" || s.Nodes.Upgraded != 4 || e.versions()["edge-a-002"] != target {
		t.Fatalf("%s %+v edge-a-002 at %s", s.Phase, s.Nodes, e.versions()["edge-a-002"])
	}
}

// The health gate: a DaemonSet pod on a node just upgraded that is not Ready pauses
// the run, naming the node and the pod.
func TestHealthGateDaemonSetPod(t *testing.T) {
	t.Parallel()
	e := startLab(t, lab.Config{Workers: 3, Pools: 1, JobDuration: 2 * time.Second})
	ctx := context.Background()
	if err := e.lab.DaemonSet(ctx, "tunnel"); err != nil {
		t.Fatal(err)
	}
	pod, err := e.lab.DaemonPod(ctx, "tunnel", "edge-a-001")
	if err != nil {
		t.Fatal(err)
	}
	cmd, out := e.background(startArgs("--mode", "nodes", "--wait", "--offline-grace", "3s")...)
	e.waitFor("the first batch", time.Minute, func(s *status.Status) bool { return s.CurrentBatch != nil })
	if err := e.lab.SetPodReady(ctx, lab.DaemonSetNamespace, pod, false); err != nil {
		t.Fatal(err)
	}
	if code := waitExit(t, cmd, out, time.Minute); code != 3 {
		t.Fatalf("start --wait exited %d, want 3:\n%s", code, out)
	}
	s := e.status()
	if s.Pause == nil || !contains(s.Pause.Reason, "health gate failed") || !contains(s.Pause.Reason, "edge-a-001") || !contains(s.Pause.Reason, "kube-system/"+pod) {
		t.Fatalf("pause %+v", s.Pause)
	}
	if s.Nodes.Upgraded != 1 || s.CurrentBatch == nil || s.CurrentBatch.Gate == nil {
		t.Fatalf("nodes %+v batch %+v: the next batch started", s.Nodes, s.CurrentBatch)
	}
	if n := nodeEvents(t, e, "HealthGateFailed", "edge-a-001"); n != 1 {
		t.Fatalf("%d HealthGateFailed Events on edge-a-001", n)
	}
}

// --soak 10s: the next batch starts 10 s after the previous one finished, with the
// gate holding, as the batch timestamps show.
func TestSoakBetweenBatches(t *testing.T) {
	t.Parallel()
	e := startLab(t, lab.Config{Workers: 2, Pools: 1})
	if err := e.lab.DaemonSet(context.Background(), "tunnel"); err != nil {
		t.Fatal(err)
	}
	if r := e.run(append([]string{"plan", "--to", target, "--mode", "nodes", "--soak", "10s"}, images...)...); r.code != 0 || !contains(r.out, "--soak 10s") {
		t.Fatalf("plan shows no soak: %s", r)
	}
	if r := e.run(startArgs("--mode", "nodes", "--soak", "10s", "--wait")...); r.code != 0 {
		t.Fatalf("start --soak 10s --wait: %s", r)
	}
	s := e.status()
	if s.Phase != "Completed" || len(s.Batches) != 2 {
		t.Fatalf("%s batches %+v", s.Phase, s.Batches)
	}
	gap := s.Batches[1].StartedAt.Sub(*s.Batches[0].FinishedAt)
	t.Logf("batch 2 started %s after batch 1 finished (--soak 10s)", gap)
	// Job times are whole seconds, and a Job is marked Complete about a second after its
	// pod, which is when the soak starts: a 10 s soak shows as 8 s at least.
	if gap < 8*time.Second || gap > 20*time.Second {
		t.Fatalf("batch 2 started %s after batch 1 finished, want about 10s: %+v", gap, s.Batches)
	}
}

// A Job of the batch in flight deleted while one-shot status calls drive the run
// (the status call started the batch) pauses it as tampering; it is never recreated.
func TestTamperingWithOneShotStatus(t *testing.T) {
	t.Parallel()
	e := startLab(t, lab.Config{Workers: 3, Pools: 1, JobDuration: time.Minute})
	ctx := context.Background()
	if err := e.lab.SetJobDuration(ctx, "edge-a-001", 500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if r := e.run(startArgs("--mode", "nodes")...); r.code != 0 {
		t.Fatalf("start: %s", r)
	}
	// One-shot status calls until one of them starts batch 2.
	var s *status.Status
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(300 * time.Millisecond) {
		if r := e.run("status"); r.code != 0 {
			t.Fatalf("status: %s", r)
		}
		if s = e.status(); s.CurrentBatch != nil && s.CurrentBatch.Index == "2" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("batch 2 never started: %+v", s.CurrentBatch)
		}
	}
	victim := s.CurrentBatch.Nodes[0]
	bg := metav1.DeletePropagationBackground
	if err := e.lab.Client.BatchV1().Jobs(job.Namespace).Delete(ctx, job.Name(s.RunID, victim), metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for e.jobCount(job.LabelBatch+"=2") != 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if r := e.run("status"); r.code != 0 {
		t.Fatalf("status: %s", r)
	}
	s = e.status()
	if s.Phase != "Paused" || s.Pause == nil || !contains(s.Pause.Reason, "deleted") || !contains(s.Pause.Reason, victim) {
		t.Fatalf("no tampering pause: %s %+v", s.Phase, s.Pause)
	}
	if n := e.jobCount(job.LabelBatch + "=2"); n != 0 {
		t.Fatalf("the deleted Job was recreated (%d Jobs in batch 2)", n)
	}
	evs, err := e.lab.Client.CoreV1().Events(job.Namespace).List(ctx, metav1.ListOptions{FieldSelector: "reason=TamperingDetected"})
	if err != nil || len(evs.Items) != 1 {
		t.Fatalf("TamperingDetected Events: %v %d", err, len(evs.Items))
	}
}
