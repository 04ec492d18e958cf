package fleet

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

var t0 = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

// fleetOf is a fleet of waves of named clusters: "mgmt|a,b,c" with limit 2 and a soak
// of 10 minutes after each wave.
func fleetOf(waves ...string) (*File, []Target) {
	f := &File{APIVersion: APIVersion, Kind: Kind, Spec: Spec{TargetVersion: "v1.36.3"}}
	var ts []Target
	for i, w := range waves {
		wave := Wave{MaxConcurrent: 2, Soak: Duration{10 * time.Minute}}
		for _, n := range strings.Split(w, ",") {
			wave.Clusters = append(wave.Clusters, Cluster{Context: n})
			ts = append(ts, Target{Name: n, Wave: i, Context: n})
		}
		f.Spec.Waves = append(f.Spec.Waves, wave)
	}
	return f, ts
}

// run is a cluster's latest run: phase "Paused" is a paused Nodes run; end is minutes
// after t0 for terminal runs.
func run(target, phase string, end int) Observed {
	st := &upgrade.State{RunID: "r", Spec: upgrade.Spec{TargetVersion: target}, Phase: upgrade.Phase(phase), StartedAt: t0}
	if phase == "Paused" {
		st.Phase, st.Pause = upgrade.PhaseNodes, &upgrade.Pause{Reason: "node n1 failed", ByError: true}
		st.Failures = []upgrade.Failure{{Node: "n1", Message: "boom"}}
	}
	if st.Phase.Terminal() {
		at := t0.Add(time.Duration(end) * time.Minute)
		st.FinishedAt = &at
	}
	return Observed{Run: st}
}

var (
	pending = Observed{Oldest: "v1.35.4"}
	atTgt   = Observed{Oldest: "v1.36.3", AtTarget: true}
	lost    = Observed{Err: "no answer within 10s"}
)

// TestDecide is the fleet's policy as a table: waves in order, the soak, the
// concurrency cap, a stop on any paused or failed cluster, unreachable clusters.
func TestDecide(t *testing.T) {
	for _, tc := range []struct {
		name    string
		obs     []Observed // mgmt, a, b, c
		minutes int        // now, after t0
		start   []string
		stopped []string
		wave    int
		soak    bool
		done    bool
	}{
		{name: "nothing started: the management wave first", obs: []Observed{pending, pending, pending, pending}, start: []string{"mgmt"}},
		{name: "management running: nothing else starts", obs: []Observed{run("v1.36.3", "Nodes", 0), pending, pending, pending}},
		{name: "management done, soak holds", obs: []Observed{run("v1.36.3", "Completed", 5), pending, pending, pending}, minutes: 14, wave: 1, soak: true},
		{name: "soak over: two workloads start", obs: []Observed{run("v1.36.3", "Completed", 5), pending, pending, pending}, minutes: 15, wave: 1, start: []string{"a", "b"}},
		{name: "already at target needs no run and no soak", obs: []Observed{atTgt, pending, pending, pending}, wave: 1, start: []string{"a", "b"}},
		{name: "one slot free", obs: []Observed{atTgt, run("v1.36.3", "Completed", 1), run("v1.36.3", "Masters", 0), pending}, wave: 1, start: []string{"c"}},
		{name: "cap reached", obs: []Observed{atTgt, run("v1.36.3", "Nodes", 0), run("v1.36.3", "Masters", 0), pending}, wave: 1},
		{name: "a paused cluster stops the fleet", obs: []Observed{atTgt, run("v1.36.3", "Completed", 1), run("v1.36.3", "Paused", 0), pending}, wave: 1, stopped: []string{"b"}},
		{name: "an Incomplete run stops the fleet", obs: []Observed{atTgt, run("v1.36.3", "Incomplete", 1), pending, pending}, wave: 1, stopped: []string{"a"}},
		{name: "a run to another version stops the fleet", obs: []Observed{run("v1.35.9", "Nodes", 0), pending, pending, pending}, stopped: []string{"mgmt"}},
		{name: "an older version's finished run is history", obs: []Observed{func() Observed { o := run("v1.35.4", "Completed", 0); o.Oldest = "v1.35.4"; return o }(), pending, pending, pending}, start: []string{"mgmt"}},
		{name: "a failed start stops the fleet", obs: []Observed{atTgt, {StartErr: "pre-check: found errors"}, pending, pending}, wave: 1, stopped: []string{"a"}},
		{name: "unreachable management blocks the workloads", obs: []Observed{lost, pending, pending, pending}},
		{name: "unreachable workload holds a slot, blocks nothing else", obs: []Observed{atTgt, lost, run("v1.36.3", "Completed", 0), pending}, wave: 1, start: []string{"c"}},
		{name: "unreachable done cluster keeps the fleet incomplete", obs: []Observed{atTgt, lost, atTgt, atTgt}, wave: 1},
		{name: "every cluster done", obs: []Observed{atTgt, run("v1.36.3", "Completed", 1), atTgt, atTgt}, wave: 2, done: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, ts := fleetOf("mgmt", "a,b,c")
			d := Decide(f, ts, tc.obs, t0.Add(time.Duration(tc.minutes)*time.Minute))
			if !slices.Equal(d.Start, tc.start) || !slices.Equal(d.Stopped, tc.stopped) || d.Wave != tc.wave || (d.SoakUntil != nil) != tc.soak || d.Complete != tc.done {
				t.Fatalf("got start %v stopped %v wave %d soak %v complete %v\nwant start %v stopped %v wave %d soak %v complete %v",
					d.Start, d.Stopped, d.Wave, d.SoakUntil, d.Complete, tc.start, tc.stopped, tc.wave, tc.soak, tc.done)
			}
		})
	}
}

// TestPhaseOfPausedNamesTheFailure: the cause a stopped fleet reports.
func TestPhaseOfPausedNamesTheFailure(t *testing.T) {
	p, detail := PhaseOf(run("v1.36.3", "Paused", 0), "v1.36.3")
	if p != Paused || detail != "node n1 failed (last failure: node n1: boom)" {
		t.Fatalf("%s %q", p, detail)
	}
}
