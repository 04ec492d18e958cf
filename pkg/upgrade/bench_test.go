package upgrade

// Benchmarks of the pure core at 10,000 nodes (docs/bench.md):
//
//	go test -run '^$' -bench . -benchmem ./pkg/upgrade/
//
// The fixtures are self-contained (no helpers shared with the unit tests) so the
// numbers stay comparable across refactors of those helpers.

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

var benchT0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

const (
	benchFrom   = "v1.35.4"
	benchTarget = "v1.36.3"
)

// benchNodes returns masters plus workers spread evenly over pools, named like the
// lab's nodes (edge-<pool>-NNNNN), every node Ready at benchFrom.
func benchNodes(masters, workers, pools int) []Node {
	nodes := make([]Node, 0, masters+workers)
	for i := 1; i <= masters; i++ {
		nodes = append(nodes, Node{Name: fmt.Sprintf("master-%d", i), Role: RoleMaster, Version: benchFrom, Ready: true})
	}
	for i := range workers {
		pool := fmt.Sprintf("pool-%c", 'a'+i%pools)
		nodes = append(nodes, Node{Name: fmt.Sprintf("edge-%c-%05d", 'a'+i%pools, i/pools), Role: RoleWorker, Pool: pool, Version: benchFrom, Ready: true})
	}
	return nodes
}

func benchSpec() Spec {
	return Spec{TargetVersion: benchTarget, Mode: ModeAll, JobTimeout: Duration{30 * time.Minute},
		DrainTimeout: Duration{5 * time.Minute}, PauseExpiry: Duration{DefaultPauseExpiry},
		PreprocessImage: "pre:1", UpgradeImage: "up:1"}
}

func benchState(b *testing.B, nodes []Node) State {
	b.Helper()
	st, err := NewState(benchSpec(), "2611231000-bnch", Cluster{APIServerVersion: benchFrom, Nodes: nodes}, benchT0)
	if err != nil {
		b.Fatal(err)
	}
	return st
}

// BenchmarkPlanRun plans a whole run (what `start` and `plan` print) for 3 masters and
// 10,000 workers: every batch of the run is decided by Step on the full
// observation.
func BenchmarkPlanRun(b *testing.B) {
	for _, tc := range []struct {
		name           string
		workers, pools int
	}{
		{"workers=1000/pools=1", 1000, 1},
		{"workers=10000/pools=1", 10000, 1},
		{"workers=10000/pools=4", 10000, 4},
	} {
		b.Run(tc.name, func(b *testing.B) {
			nodes := benchNodes(3, tc.workers, tc.pools)
			first := benchState(b, nodes)
			var batches int
			b.ReportAllocs()
			for b.Loop() {
				p := PlanRun(first, nodes)
				batches = len(p.Batches)
			}
			b.ReportMetric(float64(batches), "batches")
		})
	}
}

// midRun returns the state and observation in the middle of a 10,000-worker run:
// half the workers upgraded with succeeded Jobs, the current batch of Cap (1,000)
// nodes in flight (active) or, with done, finished (the decision that closes a
// batch and starts the next — the one on the critical path of every batch).
func midRun(b *testing.B, done bool) (State, Observation) {
	nodes := benchNodes(3, 10000, 1)
	st := benchState(b, nodes)
	st.Phase, st.MasterSerial, st.Pool = PhaseNodes, 3, "pool-a"
	jobs := make(map[string]Job, len(nodes))
	for i := range nodes[:3] {
		nodes[i].Version = benchTarget
		jobs[nodes[i].Name] = Job{Name: "j-" + nodes[i].Name, Node: nodes[i].Name, Batch: BatchLabel(RoleMaster, i+1), Role: RoleMaster, Phase: JobSucceeded, Finished: benchT0}
	}
	// Workers in name order: the first 5,000 are done, the next 1,000 are the batch.
	var workers []Node
	for _, n := range nodes {
		if n.Role == RoleWorker {
			workers = append(workers, n)
		}
	}
	slices.SortFunc(workers, func(a, b Node) int { return strings.Compare(a.Name, b.Name) })
	idx := map[string]int{}
	for i, n := range nodes {
		idx[n.Name] = i
	}
	for i, w := range workers[:5000] {
		nodes[idx[w.Name]].Version = benchTarget
		jobs[w.Name] = Job{Name: "j-" + w.Name, Node: w.Name, Batch: fmt.Sprint(1 + i/1000), Pool: w.Pool, Role: RoleWorker, Phase: JobSucceeded, Finished: benchT0}
	}
	cur := &Batch{Index: 14, Role: RoleWorker, Pool: "pool-a", StartedAt: benchT0, JobsCreated: true}
	for _, w := range workers[5000:6000] {
		cur.Nodes = append(cur.Nodes, w.Name)
		j := Job{Name: "j-" + w.Name, Node: w.Name, Batch: "14", Pool: w.Pool, Role: RoleWorker, Phase: JobActive, Created: benchT0}
		if done {
			j.Phase, j.Finished = JobSucceeded, benchT0.Add(time.Minute)
			nodes[idx[w.Name]].Version = benchTarget
		}
		jobs[w.Name] = j
	}
	st.Current, st.Batches, st.Ramp = cur, 14, st.Cap
	return st, Observation{Nodes: nodes, Jobs: jobs}
}

// BenchmarkReconcile is one reconcile on a 10,000-worker observation: "inflight" is the
// common case (a watch event while the batch runs: nothing to do), "batchDone" closes
// the batch of 1,000 and starts the next one.
func BenchmarkReconcile(b *testing.B) {
	for _, done := range []bool{false, true} {
		name := "nodes=10000/inflight"
		if done {
			name = "nodes=10000/batchDone"
		}
		b.Run(name, func(b *testing.B) {
			st, obs := midRun(b, done)
			now := benchT0.Add(2 * time.Minute)
			var acts []Action
			b.ReportAllocs()
			for b.Loop() {
				_, acts, _ = Step(st, obs, Tick{}, now)
			}
			if done && kindsOf(acts)[CreateJobs] != 1 {
				b.Fatalf("batchDone: want one CreateJobs, got %v", kindsOf(acts))
			}
		})
	}
}

// BenchmarkNextBatchSize is what status and progress compute on every redraw.
func BenchmarkNextBatchSize(b *testing.B) {
	st, obs := midRun(b, false)
	b.ReportAllocs()
	for b.Loop() {
		_ = NextBatchSize(st, obs)
	}
}

// BenchmarkUpgraded10000 is Upgraded over 10,000 nodes, unmemoized: the cost of every
// caller that loops over all nodes calling it (status view counts, progress line).
func BenchmarkUpgraded10000(b *testing.B) {
	nodes := benchNodes(0, 10000, 1)
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		for _, nd := range nodes {
			if Upgraded(nd.Version, benchTarget) {
				n++
			}
		}
		_ = n
	}
}

func kindsOf(acts []Action) map[ActionKind]int {
	m := map[ActionKind]int{}
	for _, a := range acts {
		m[a.Kind]++
	}
	return m
}
