package main

import (
	"math"
	"strings"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestQuantile(t *testing.T) {
	d := distOf([]float64{5, 1, 4, 2, 3})
	if d.P50 != 3 || d.Max != 5 || d.Sum != 15 || d.N != 5 {
		t.Fatalf("%+v", d)
	}
	xs := make([]float64, 20)
	for i := range xs {
		xs[i] = float64(i + 1)
	}
	if d := distOf(xs); d.P95 != 19 {
		t.Fatalf("p95 of 1..20 = %v, want 19 (nearest rank)", d.P95)
	}
	if d := distOf(nil); d.N != 0 {
		t.Fatalf("%+v", d)
	}
}

// TestSummarize: two masters and two worker batches, 1 s simulated upgrades.
func TestSummarize(t *testing.T) {
	r := &raw{Workers: 3, Masters: 2, JobSeconds: 1, PluginStart: 0, PluginEnd: 10,
		Jobs: []jobTrace{
			{Node: "m-1", Batch: "m1", Created: 1, PodRunning: 1.1, PodDone: 2.1, Done: 2.5},
			{Node: "m-2", Batch: "m2", Created: 2.7, PodRunning: 2.8, PodDone: 3.8, Done: 4.8},
			{Node: "w-1", Batch: "1", Created: 5.0, PodRunning: 5.1, PodDone: 6.1, Done: 7.0},
			{Node: "w-2", Batch: "2", Created: 7.4, PodRunning: 7.5, PodDone: 8.5, Done: 9.5},
			{Node: "w-3", Batch: "2", Created: 7.6, PodRunning: 7.7, PodDone: 8.7, Done: 9.6},
		},
		ConfigMap: []cmSample{{At: 0.9, Batch: "m1", DataBytes: 100, ObjectBytes: 300}, {At: 2.6, Batch: "m2"},
			{At: 4.9, Batch: "1", DataBytes: 120, ObjectBytes: 320}, {At: 7.2, Batch: "2"}, {At: 7.3, Batch: "2"}},
		Requests: []request{{Verb: "create", Resource: "jobs.batch"}, {Verb: "watch", Resource: "pods"}},
		Upgraded: map[string]float64{"m-1": 2.1, "w-1": 6.1},
	}
	s := summarize(r)
	if s.Batches != 4 || s.Nodes != 5 || !near(s.Ideal, 4) || !near(s.Ratio, 2.5) {
		t.Fatalf("batches %d nodes %d ideal %v ratio %v", s.Batches, s.Nodes, s.Ideal, s.Ratio)
	}
	if got := []string{s.Batch[0].Label, s.Batch[1].Label, s.Batch[2].Label, s.Batch[3].Label}; got[0] != "m1" || got[3] != "2" {
		t.Fatalf("order %v", got)
	}
	// Reactions from the last pod done: m1→m2 0.6, m2→1 1.2, 1→2 1.3.
	if s.Reaction.N != 3 || !near(s.Reaction.Max, 1.3) || !near(s.Reaction.P50, 1.2) || !near(s.Gaps, 3.1) {
		t.Fatalf("reaction %+v", s.Reaction)
	}
	// 1→2: the last pod done at 6.1, the ConfigMap named batch 2 at 7.2 (notice 1.1),
	// first Job at 7.4 (act 0.2).
	last := s.Trans[2]
	if !near(last.Notice, 1.1) || !near(last.Act, 0.2) || !near(last.CreateSpan, 0.2) || !near(last.JobController, 0.9) {
		t.Fatalf("transition %+v", last)
	}
	if !near(s.Startup, 1) || !near(s.Tail, 10-8.7) || s.CMDataMax != 120 || s.CMObjectMax != 320 || s.Watches != 1 || !near(s.PerNode, 0.4) {
		t.Fatalf("summary %+v", s)
	}
}

// Runs with other node work than the default are kept apart (their own raw file,
// plot and column), so a 60 s run at 1,000 nodes does not replace the 5 s one.
func TestRunKeyKeepsOtherNodeWorkApart(t *testing.T) {
	for _, c := range []struct {
		workers int
		job     float64
		key     string
		label   string
	}{{1000, 5, "1000", "N=1000"}, {1000, 60, "1000-60s", "N=1000 (60 s)"}, {100, 0, "100", "N=100"}} {
		if k := runKey(c.workers, c.job); k != c.key {
			t.Errorf("runKey(%d, %g) = %q, want %q", c.workers, c.job, k, c.key)
		}
		if l := (summary{Workers: c.workers, JobSeconds: c.job}).label(); l != c.label {
			t.Errorf("label(%d, %g) = %q, want %q", c.workers, c.job, l, c.label)
		}
	}
}

// The targets of the report: the 60 s ratio and the memory rows are judged on the
// right runs, and say "not measured" rather than judging a missing one.
func TestTargetsJudgeTheRightRuns(t *testing.T) {
	sums := []summary{
		{Workers: 1000, JobSeconds: 5, PluginRatio: 1.008, RSSMiB: 70, Batches: 19, PodReads: 4},
		{Workers: 1000, JobSeconds: 60, Ratio: 1.02, PluginRatio: 1.001},
	}
	got := map[string]string{}
	for _, r := range targets(sums, nil) {
		got[r.name] = r.met + " " + r.figure
	}
	want := map[string]string{
		"the plugin's own share ≤ 1.01 at 1,000 nodes, 5 s of node work: (ideal + Σ reaction + tail) / ideal":            "yes",
		"wall / ideal ≤ 1.03 at 1,000 nodes, 60 s of node work, whole `start --wait`":                                    "yes",
		"… for reference, the plugin's peak RSS at 1000 nodes (`start --wait` from a terminal, the 63 MB plugin binary)": "– 70 MiB",
		"health gate: at most one pod read per batch (N=1000; the pre-check reads 2)":                                    "yes",
	}
	// The memory targets are the in-cluster driver's (its pod), from the detached runs.
	for _, r := range driverTargets([]*driverRaw{{Workers: 1000, MaxRSSKiB: 52 << 10}, {Workers: 5000, MaxRSSKiB: 160 << 10, Error: "timeout"}}) {
		got[r.name] = r.met + " " + r.figure
	}
	want["in-cluster driver peak RSS < 60 MiB at 1000 nodes (detached run, `edgeupgrade-driver`)"] = "yes 52 MiB"
	want["in-cluster driver peak RSS < 150 MiB at 5000 nodes (detached run, `edgeupgrade-driver`)"] = "– not measured"
	for name, prefix := range want {
		if !strings.HasPrefix(got[name], prefix) {
			t.Errorf("%s: %q, want %q…", name, got[name], prefix)
		}
	}
}

func TestBytesOf(t *testing.T) {
	for n, want := range map[int64]string{0: "–", 2048: "2 KiB", 3 << 20: "3.0 MiB"} {
		if got := bytesOf(n); got != want {
			t.Errorf("bytesOf(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestMemOfReadsPeakAndAnonymous(t *testing.T) {
	hwm, anon := memOf("Name:\tkubectl-edgeupg\nVmHWM:\t   76168 kB\nVmRSS:\t   70000 kB\nRssAnon:\t   31820 kB\nRssFile:\t   44348 kB\n")
	if hwm != 76168 || anon != 31820 {
		t.Errorf("memOf: %d, %d", hwm, anon)
	}
}
