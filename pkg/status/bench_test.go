package status

// Benchmark of the status view (docs/bench.md):
//
//	go test -run '^$' -bench . -benchmem ./pkg/status/
//
// Build runs on every `status` and on every redraw of `status --watch`; at the end of a
// run it sees one Job per node.

import (
	"encoding/json"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

var benchT0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// finishedRun is a completed run over 3 masters and `workers` workers in one pool with
// the standard ramp (1, 2, 4, ... capped at 10%): every node has a succeeded Job.
func finishedRun(workers int) (upgrade.State, upgrade.Observation) {
	const target = "v1.36.3"
	obs := upgrade.Observation{Jobs: map[string]upgrade.Job{}}
	at := benchT0
	for i := 1; i <= 3; i++ {
		n := fmt.Sprintf("master-%d", i)
		obs.Nodes = append(obs.Nodes, upgrade.Node{Name: n, Role: upgrade.RoleMaster, Version: target, Ready: true})
		obs.Jobs[n] = upgrade.Job{Name: "j-" + n, Node: n, Batch: upgrade.BatchLabel(upgrade.RoleMaster, i), Role: upgrade.RoleMaster,
			Phase: upgrade.JobSucceeded, Created: at, Finished: at.Add(5 * time.Second)}
		at = at.Add(6 * time.Second)
	}
	cp := upgrade.CapFor(workers, 0)
	size, batch := 1, 1
	for i := 0; i < workers; batch++ {
		for k := 0; k < size && i < workers; k, i = k+1, i+1 {
			n := fmt.Sprintf("edge-a-%05d", i)
			obs.Nodes = append(obs.Nodes, upgrade.Node{Name: n, Role: upgrade.RoleWorker, Pool: "pool-a", Version: target, Ready: true})
			obs.Jobs[n] = upgrade.Job{Name: "j-" + n, Node: n, Batch: fmt.Sprint(batch), Pool: "pool-a", Role: upgrade.RoleWorker,
				Phase: upgrade.JobSucceeded, Created: at, Finished: at.Add(5 * time.Second)}
		}
		at = at.Add(6 * time.Second)
		size = min(2*size, cp)
	}
	fin := at
	st := upgrade.State{SchemaVersion: upgrade.SchemaVersion, RunID: "2611231000-abcd", Phase: upgrade.PhaseCompleted,
		StartedAt: benchT0, FinishedAt: &fin, Workers: workers, Masters: 3, Cap: cp, Batches: batch - 1, MasterSerial: 3,
		Spec: upgrade.Spec{TargetVersion: target, FromVersion: "v1.35.4", Mode: upgrade.ModeAll}}
	return st, obs
}

func BenchmarkBuild(b *testing.B) {
	for _, workers := range []int{1000, 5000, 10000} {
		b.Run(fmt.Sprintf("nodes=%d", workers), func(b *testing.B) {
			st, obs := finishedRun(workers)
			var v *Status
			b.ReportAllocs()
			for b.Loop() {
				v = Build(st, obs, nil, benchT0)
			}
			b.ReportMetric(float64(len(v.Batches)), "batches")
		})
	}
}

// BenchmarkBuildAndEncodeJSON is Build plus the JSON encoding `status -o json` prints
// (the printer adds YAML/JSON framing on top; this is the dominant part).
func BenchmarkBuildAndEncodeJSON(b *testing.B) {
	st, obs := finishedRun(10000)
	b.ReportAllocs()
	var n int
	for b.Loop() {
		v := Build(st, obs, nil, benchT0)
		buf, err := json.Marshal(v)
		if err != nil {
			b.Fatal(err)
		}
		n = len(buf)
	}
	b.ReportMetric(float64(n), "json-bytes")
}

// BenchmarkPrintHuman renders the human view of a finished 10,000-node run.
func BenchmarkPrintHuman(b *testing.B) {
	st, obs := finishedRun(10000)
	v := Build(st, obs, nil, benchT0)
	b.ReportAllocs()
	for b.Loop() {
		if err := PrintHuman(io.Discard, v); err != nil {
			b.Fatal(err)
		}
	}
}
