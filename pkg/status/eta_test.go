package status

import (
	"fmt"
	"testing"
	"time"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// The estimate counts the batches the policy will run (masters one at a time, each
// pool's ramp from 1, or from the current ramp in the pool in progress, up to the cap)
// and prices them at the mean finished batch of the same role.
func TestEstimate(t *testing.T) {
	st, obs := fixture()
	e := Build(st, obs, nil, t0.Add(90*time.Second)).ETA
	// master-2 in flight (50 s mean, 30 s gone), master-3, and edge-1 (edge-2 is deferred).
	if e.BatchesLeft != 3 || e.Remaining != "2m0s" || e.CompletesAt == nil || !e.CompletesAt.Equal(t0.Add(210*time.Second)) || e.FinishedBatches != 1 {
		t.Fatalf("estimate %+v", e)
	}

	st.Pause = &upgrade.Pause{Reason: "by user", Since: t0}
	if e := Build(st, obs, nil, t0.Add(90*time.Second)).ETA; e.CompletesAt != nil || e.Remaining != "2m0s" {
		t.Fatalf("paused: %+v", e)
	}
	st.Pause = nil

	delete(obs.Jobs, "master-1")
	if e := Build(st, obs, nil, t0.Add(90*time.Second)).ETA; e.CompletesAt != nil || e.Remaining != "" || e.FinishedBatches != 0 {
		t.Fatalf("no finished batch: %+v", e)
	}

	st.Phase = upgrade.PhaseCompleted
	if e := Build(st, obs, nil, t0).ETA; e != nil {
		t.Fatalf("an ended run has an estimate: %+v", e)
	}
}

func TestBatchesLeftFollowsThePolicy(t *testing.T) {
	cases := []struct {
		pools      []int // pending workers per pool
		cap        int
		curPool    int // index of the pool of the latest batch, -1 for none
		ramp, want int
	}{
		{pools: []int{10}, cap: 4, curPool: -1, want: 4},               // 1 2 4 3
		{pools: []int{10, 3}, cap: 4, curPool: -1, want: 6},            // 1 2 4 3 | 1 2
		{pools: []int{7, 3}, cap: 4, curPool: 0, ramp: 4, want: 2 + 2}, // 4 3 | 1 2
		{pools: []int{100}, cap: 10, curPool: -1, want: 4 + 9},         // 1 2 4 8 (15) then 10 × 8.5
		{pools: []int{0, 5}, cap: 10, curPool: 0, ramp: 8, want: 3},    // pool 2 starts at 1: 1 2 2
	}
	for i, c := range cases {
		st := upgrade.State{Phase: upgrade.PhaseNodes, Cap: c.cap, Ramp: c.ramp, Spec: upgrade.Spec{TargetVersion: "v1.36.3", Mode: upgrade.ModeAll}}
		var obs upgrade.Observation
		for p, n := range c.pools {
			for k := range n {
				obs.Nodes = append(obs.Nodes, upgrade.Node{Name: fmt.Sprintf("n-%d-%d", p, k), Pool: fmt.Sprintf("pool-%d", p), Role: upgrade.RoleWorker, Version: "v1.35.4", Ready: true})
			}
		}
		if c.curPool >= 0 {
			st.Batches, st.Pool = 1, fmt.Sprintf("pool-%d", c.curPool)
		}
		if got := batchesLeft(st, obs); got.workers != c.want || got.masters != 0 {
			t.Errorf("case %d: %+v, want %d worker batches", i, got, c.want)
		}
	}
}
