package status

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/internal/golden"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func fixture() (upgrade.State, upgrade.Observation) {
	st := upgrade.State{
		RunID: "2611231000-abcd", Phase: upgrade.PhaseMasters, StartedAt: t0, Workers: 4, Masters: 3, Cap: 1, Ramp: 1, MasterSerial: 2,
		Spec:    upgrade.Spec{TargetVersion: "v1.36.3", FromVersion: "v1.35.4", Mode: upgrade.ModeAll, SkipUnready: true},
		Current: &upgrade.Batch{Index: 2, Role: upgrade.RoleMaster, Nodes: []string{"master-2"}, StartedAt: t0.Add(time.Minute), JobsCreated: true},
	}
	obs := upgrade.Observation{Nodes: []upgrade.Node{
		{Name: "master-1", Role: upgrade.RoleMaster, Version: "v1.36.3", Ready: true},
		{Name: "master-2", Role: upgrade.RoleMaster, Version: "v1.35.4", Ready: true},
		{Name: "master-3", Role: upgrade.RoleMaster, Version: "v1.35.4", Ready: true},
		{Name: "edge-1", Role: upgrade.RoleWorker, Pool: "a", Version: "v1.35.4", Ready: true},
		{Name: "edge-2", Role: upgrade.RoleWorker, Pool: "a", Version: "v1.35.4", Ready: false},
	}, Jobs: map[string]upgrade.Job{
		"master-1": {Node: "master-1", Batch: "m1", Role: upgrade.RoleMaster, Phase: upgrade.JobSucceeded, Created: t0, Finished: t0.Add(50 * time.Second)},
		"master-2": {Node: "master-2", Batch: "m2", Role: upgrade.RoleMaster, Phase: upgrade.JobActive, Created: t0.Add(time.Minute)},
	}}
	return st, obs
}

func TestBuild(t *testing.T) {
	st, obs := fixture()
	s := Build(st, obs, nil, t0.Add(90*time.Second))
	if s.Phase != "Masters" || s.Elapsed != "1m30s" {
		t.Fatalf("phase %s elapsed %s", s.Phase, s.Elapsed)
	}
	if want := (Masters{Total: 3, Upgraded: 1, Current: &Master{Serial: 2, Node: "master-2"}}); !cmp.Equal(s.Masters, want) {
		t.Fatalf("masters %s", cmp.Diff(want, s.Masters))
	}
	if want := (Nodes{Total: 5, Upgraded: 1, InProgress: 1, Pending: 2, Deferred: 1}); s.Nodes != want {
		t.Fatalf("nodes %+v, want %+v", s.Nodes, want)
	}
	if len(s.Batches) != 2 || s.Batches[0].Index != "m1" || s.Batches[0].Result != "Succeeded" || s.Batches[1].Result != "Running" || s.Batches[1].FinishedAt != nil {
		t.Fatalf("history %+v", s.Batches)
	}
	if s.NextBatchSize != 1 || s.DeferredNodes[0] != "edge-2" {
		t.Fatalf("next %d deferred %v", s.NextBatchSize, s.DeferredNodes)
	}
	st.Pause = &upgrade.Pause{Reason: "paused by user", Since: t0}
	if got := Build(st, obs, nil, t0).Phase; got != "Pausing" {
		t.Fatalf("phase with a pause and a running Job: %s", got)
	}
}

func TestPrintHumanGolden(t *testing.T) {
	st, obs := fixture()
	st.Failures = []upgrade.Failure{{Node: "edge-9", Batch: "3", Container: "upgrade", Message: "upgrade: kubelet healthz failed; rolled back to v1.35.4", At: t0}}
	st.FailureCount = 1
	ev := []Event{{Time: t0, Type: "Normal", Reason: "BatchStarted", Object: "ConfigMap/edgeupgrade", Message: "master 2 started: master-2"}}
	var b bytes.Buffer
	if err := PrintHuman(&b, Build(st, obs, ev, t0.Add(90*time.Second))); err != nil {
		t.Fatal(err)
	}
	golden.Compare(t, "testdata/status.golden", b.String())
}

// The batch in flight shows its NotReady nodes (since when, how long their upgrade has
// run, how far it got) and, once every node is upgraded, its gate and soak; an
// Incomplete run lists the nodes it left behind.
func TestBuildOfflineGateAndLeftBehind(t *testing.T) {
	st, obs := fixture()
	obs.Nodes[1].Ready, obs.Nodes[1].NotReadySince = false, t0.Add(70*time.Second)
	j := obs.Jobs["master-2"]
	j.Progress = "container upgrade running since 2026-11-23T10:01:05Z"
	obs.Jobs["master-2"] = j
	s := Build(st, obs, nil, t0.Add(3*time.Minute))
	want := []OfflineNode{{Node: "master-2", NotReadySince: t0.Add(70 * time.Second), UpgradeRunning: "2m0s", Progress: j.Progress}}
	if !cmp.Equal(s.CurrentBatch.Offline, want) {
		t.Fatalf("offline %s", cmp.Diff(want, s.CurrentBatch.Offline))
	}
	var out bytes.Buffer
	if err := PrintHuman(&out, s); err != nil || !bytes.Contains(out.Bytes(), []byte("NotReady:     master-2 since 2026-11-23T10:01:10Z, its upgrade running for 2m0s; last reported: container upgrade")) {
		t.Fatalf("human output lacks the NotReady node (%v):\n%s", err, out.String())
	}

	gate := t0.Add(2 * time.Minute)
	st.Current.GateSince, st.Spec.Soak = &gate, upgrade.Duration{Duration: 10 * time.Second}
	s = Build(st, obs, nil, t0.Add(3*time.Minute))
	if g := s.CurrentBatch.Gate; s.CurrentBatch.Result != "Gating" || g == nil || !g.Since.Equal(gate) || g.SoakUntil == nil || !g.SoakUntil.Equal(gate.Add(10*time.Second)) {
		t.Fatalf("gate %+v result %s", g, s.CurrentBatch.Result)
	}

	end := t0.Add(time.Hour)
	st.Phase, st.FinishedAt, st.Current = upgrade.PhaseIncomplete, &end, nil
	st.LeftBehind, st.LeftBehindCount = []upgrade.LeftNode{{Node: "edge-2", Reason: upgrade.LeftOffline}}, 1
	s = Build(st, obs, nil, end)
	out.Reset()
	if err := PrintHuman(&out, s); err != nil || s.Phase != "Incomplete" || s.LeftBehindCount != 1 || s.LeftBehind[0] != (LeftNode{Node: "edge-2", Reason: upgrade.LeftOffline}) ||
		!bytes.Contains(out.Bytes(), []byte("Left behind:  1 node not at the target: edge-2 (offline (NotReady))")) {
		t.Fatalf("left behind %+v (%v):\n%s", s.LeftBehind, err, out.String())
	}
}
