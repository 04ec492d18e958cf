package view

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
	"github.com/google/go-cmp/cmp"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/internal/golden"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/status"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// run is a cluster of 3 masters and workers-3 workers in 4 pools, upgraded as far as
// batch number `batches` (the last one running), each batch taking 40 s.
type run struct {
	st  upgrade.State
	obs upgrade.Observation
	now time.Time
}

func newRun(nodes, batches int) run {
	const masters = 3
	workers := nodes - masters
	r := run{obs: upgrade.Observation{Jobs: map[string]upgrade.Job{}}}
	r.st = upgrade.State{
		RunID: "2611231000-abcd", Phase: upgrade.PhaseMasters, StartedAt: t0, Workers: workers, Masters: masters,
		Cap:  upgrade.CapFor(workers, 0),
		Spec: upgrade.Spec{TargetVersion: "v1.36.3", FromVersion: "v1.35.4", Mode: upgrade.ModeAll},
	}
	for i := 1; i <= masters; i++ {
		r.obs.Nodes = append(r.obs.Nodes, upgrade.Node{Name: fmt.Sprintf("master-%d", i), Role: upgrade.RoleMaster, Version: "v1.35.4", Ready: true})
	}
	pools := []string{"pool-a", "pool-b", "pool-c", "pool-d"}
	for i := range workers {
		p := i * len(pools) / workers
		r.obs.Nodes = append(r.obs.Nodes, upgrade.Node{Name: fmt.Sprintf("edge-%c-%04d", 'a'+p, i+1), Role: upgrade.RoleWorker, Pool: pools[p], Version: "v1.35.4", Ready: true})
	}
	plan := upgrade.PlanRun(r.st, r.obs.Nodes)
	if batches < 0 || batches > len(plan.Batches) {
		batches = len(plan.Batches)
	}
	at := t0
	for i, b := range plan.Batches[:batches] {
		last := i == batches-1
		r.st.Phase = upgrade.PhaseMasters
		if b.Role == upgrade.RoleWorker {
			r.st.Phase, r.st.Pool, r.st.Batches = upgrade.PhaseNodes, b.Pool, b.Index
		} else {
			r.st.MasterSerial = b.Index
		}
		label := upgrade.BatchLabel(b.Role, b.Index)
		for k, n := range b.Nodes {
			j := upgrade.Job{Name: "upgrade-" + n, Node: n, Batch: label, Pool: b.Pool, Role: b.Role, Phase: upgrade.JobSucceeded,
				Created: at.Add(time.Duration(k%7) * 100 * time.Millisecond), Finished: at.Add(40 * time.Second)}
			if last {
				j.Phase, j.Finished = upgrade.JobActive, time.Time{}
				j.Created = at.Add(time.Duration(k%9) * time.Second)
			} else {
				r.setVersion(n, "v1.36.3")
			}
			r.obs.Jobs[n] = j
		}
		if last {
			r.st.Current = &upgrade.Batch{Index: b.Index, Role: b.Role, Pool: b.Pool, Nodes: b.Nodes, StartedAt: at, JobsCreated: true}
			r.st.Ramp = min(2*len(b.Nodes), r.st.Cap)
		}
		at = at.Add(41 * time.Second)
	}
	r.now = at.Add(-41 * time.Second).Add(25 * time.Second)
	return r
}

func (r *run) setVersion(node, v string) {
	for i := range r.obs.Nodes {
		if r.obs.Nodes[i].Name == node {
			r.obs.Nodes[i].Version = v
		}
	}
}

// fail makes the first running node of the current batch fail and pauses the run.
func (r *run) fail(msg string) {
	n := r.st.Current.Nodes[0]
	j := r.obs.Jobs[n]
	j.Phase, j.Finished, j.Container, j.Message = upgrade.JobFailed, r.now, "upgrade", msg
	r.obs.Jobs[n] = j
	r.st.Failures = append(r.st.Failures, upgrade.Failure{Node: n, Batch: j.Batch, Container: "upgrade", Message: msg, At: r.now})
	r.st.FailureCount++
	r.st.Current.Failed = []string{n}
	r.st.Pause = &upgrade.Pause{Reason: fmt.Sprintf("node %s failed (upgrade): %s", n, msg), Since: r.now, ByError: true}
}

func events(n int) []status.Event {
	var out []status.Event
	for i := range n {
		out = append(out, status.Event{Time: t0.Add(time.Duration(i) * time.Minute), Type: "Normal", Reason: upgrade.ReasonBatchStarted,
			Object: "ConfigMap/edgeupgrade", Message: fmt.Sprintf("batch %d started", i+1)})
	}
	return out
}

const healthzFailure = "upgrade: kubelet healthz failed: Get \"http://127.0.0.1:10248/healthz\": dial tcp 127.0.0.1:10248: connect: connection refused " +
	"(the new kubelet exited 3 times in 20s; its last log line: E1123 10:03:07 run.go:72 \"command failed\" err=\"failed to load kubelet config file, " +
	"path: /var/lib/kubelet/config.yaml, error: strict decoding error: unknown field \\\"cgroupDriverx\\\"\"); rolled back to v1.35.4"

// The live view, drawn on fixed-size screens: it must fit whatever the node count,
// keep the failure in full at the bottom, and say what the run does.
func TestRenderGolden(t *testing.T) {
	cases := []struct {
		name   string
		nodes  int
		batch  int
		screen Screen
		change func(*run)
	}{
		{name: "25-masters", nodes: 25, batch: 2, screen: Screen{Width: 100, Height: 30}},
		{name: "25-nodes", nodes: 25, batch: 6, screen: Screen{Width: 100, Height: 30}},
		{name: "1000-nodes", nodes: 1000, batch: 12, screen: Screen{Width: 100, Height: 30}},
		{name: "10000-nodes", nodes: 10000, batch: 14, screen: Screen{Width: 100, Height: 30}},
		{name: "10000-nodes-80x24", nodes: 10000, batch: 14, screen: Screen{Width: 80, Height: 24}},
		{name: "1000-paused-by-user", nodes: 1000, batch: 9, screen: Screen{Width: 100, Height: 30}, change: func(r *run) {
			r.st.Pause = &upgrade.Pause{Reason: "maintenance window over", Since: r.now}
		}},
		{name: "1000-failed", nodes: 1000, batch: 9, screen: Screen{Width: 100, Height: 30}, change: func(r *run) { r.fail(healthzFailure) }},
		{name: "10000-failed-80x24", nodes: 10000, batch: 14, screen: Screen{Width: 80, Height: 24}, change: func(r *run) { r.fail(healthzFailure) }},
		{name: "25-completed", nodes: 25, batch: -1, screen: Screen{Width: 100, Height: 30}, change: func(r *run) {
			for _, n := range r.st.Current.Nodes {
				j := r.obs.Jobs[n]
				j.Phase, j.Finished = upgrade.JobSucceeded, r.now
				r.obs.Jobs[n] = j
				r.setVersion(n, "v1.36.3")
			}
			r.st.Current, r.st.Phase = nil, upgrade.PhaseCompleted
			r.st.FinishedAt = &r.now
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newRun(c.nodes, c.batch)
			if c.change != nil {
				c.change(&r)
			}
			got := Render(NewSnapshot(r.st, r.obs, events(8), r.now), c.screen)
			lines := strings.Split(got, "\n")
			if len(lines) > c.screen.Height {
				t.Errorf("%d lines on a screen of %d", len(lines), c.screen.Height)
			}
			for i, l := range lines {
				if w := ansi.StringWidth(l); w > c.screen.Width {
					t.Errorf("line %d is %d wide on a screen of %d: %q", i+1, w, c.screen.Width, l)
				}
			}
			golden.Compare(t, filepath.Join("testdata", "live-"+c.name+".golden"), screenText(got, c.screen))
		})
	}
}

// screenText frames the view as the screen shows it, so a golden file shows its size.
func screenText(view string, sc Screen) string {
	var b strings.Builder
	edge := "+" + strings.Repeat("-", sc.Width) + "+\n"
	b.WriteString(edge)
	lines := strings.Split(view, "\n")
	for i := range sc.Height {
		l := ""
		if i < len(lines) {
			l = lines[i]
		}
		b.WriteString("|" + l + strings.Repeat(" ", sc.Width-ansi.StringWidth(l)) + "|\n")
	}
	b.WriteString(edge)
	return b.String()
}

func TestRenderKeepsFailureInFullWhenItFits(t *testing.T) {
	r := newRun(1000, 9)
	r.fail(healthzFailure)
	got := Render(NewSnapshot(r.st, r.obs, nil, r.now), Screen{Width: 100, Height: 30})
	flat := strings.Join(strings.Fields(got), " ")
	if !strings.Contains(flat, "unknown field \\\"cgroupDriverx\\\"\"); rolled back to v1.35.4") {
		t.Fatalf("the failure is not shown in full:\n%s", got)
	}
}

func TestRenderColorOnlyWhenAsked(t *testing.T) {
	r := newRun(25, 6)
	s := NewSnapshot(r.st, r.obs, nil, r.now)
	if plain := Render(s, Screen{Width: 80, Height: 24}); strings.Contains(plain, "\x1b[") {
		t.Fatalf("escape codes without colour:\n%q", plain)
	}
	if col := Render(s, Screen{Width: 80, Height: 24, Color: true}); !strings.Contains(col, "\x1b[") {
		t.Fatalf("no colour with colour")
	}
}

// The lines for logs: one per batch and phase change, failures and pauses in full,
// whatever the number of nodes; the first says where the run is.
func TestLinesGolden(t *testing.T) {
	var b bytes.Buffer
	l := NewLines(&b)
	r := newRun(1000, 2)
	l.Show(NewSnapshot(r.st, r.obs, nil, r.now))
	l.Show(NewSnapshot(r.st, r.obs, nil, r.now.Add(time.Second))) // nothing changed: no line
	for batch := 3; batch <= 12; batch++ {
		r = newRun(1000, batch)
		l.Show(NewSnapshot(r.st, r.obs, nil, r.now))
	}
	r.fail(healthzFailure)
	l.Show(NewSnapshot(r.st, r.obs, nil, r.now))
	l.Show(NewSnapshot(r.st, r.obs, nil, r.now.Add(time.Second)))
	golden.Compare(t, "testdata/lines-1000.golden", b.String())
	if n := strings.Count(b.String(), "\n"); n > 30 {
		t.Fatalf("%d lines for 12 batches of a 1,000-node run", n)
	}
}

func TestLinesCompleted(t *testing.T) {
	var b bytes.Buffer
	l := NewLines(&b)
	r := newRun(25, -1)
	l.Show(NewSnapshot(r.st, r.obs, nil, r.now))
	for _, n := range r.st.Current.Nodes {
		j := r.obs.Jobs[n]
		j.Phase, j.Finished = upgrade.JobSucceeded, r.now
		r.obs.Jobs[n] = j
		r.setVersion(n, "v1.36.3")
	}
	r.st.Current, r.st.Phase, r.st.FinishedAt = nil, upgrade.PhaseCompleted, &r.now
	// A node that failed and was retried with success is not left behind.
	r.st.Failures = []upgrade.Failure{{Node: "edge-a-0004", Batch: "3", Container: "upgrade", Message: "boom", At: t0}}
	r.st.FailureCount = 1
	l.Show(NewSnapshot(r.st, r.obs, nil, r.now))
	golden.Compare(t, "testdata/lines-completed.golden", b.String())
	if strings.Contains(b.String(), "not upgraded") {
		t.Errorf("a retried node is reported left behind:\n%s", b.String())
	}
}

// -o json streams one object per change, not per redraw.
func TestJSONStreamsChangesOnly(t *testing.T) {
	var b bytes.Buffer
	j := NewJSON(&b)
	r := newRun(25, 4)
	j.Show(NewSnapshot(r.st, r.obs, nil, r.now))
	j.Show(NewSnapshot(r.st, r.obs, events(2), r.now.Add(3*time.Second))) // clocks and Events only
	r = newRun(25, 5)
	j.Show(NewSnapshot(r.st, r.obs, nil, r.now))
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d objects, want 2:\n%s", len(lines), b.String())
	}
	for _, l := range lines {
		var s status.Status
		if err := json.Unmarshal([]byte(l), &s); err != nil || s.Kind != "UpgradeStatus" {
			t.Fatalf("not a status object (%v): %s", err, l)
		}
	}
}

func TestPools(t *testing.T) {
	r := newRun(1000, 14)
	p := NewSnapshot(r.st, r.obs, nil, r.now).Pools
	want := Pools{Done: []string{"pool-a"}, Current: "pool-b", Left: []string{"pool-c", "pool-d"}}
	if !cmp.Equal(p, want) {
		t.Fatalf("pools %s", cmp.Diff(want, p))
	}
}

// Progress keeps the latest Events for the view, but not one per node upgraded, and in
// the line format prints the warnings no batch line tells (a retry on a weak network)
// and the end of an outage.
func TestProgressEvents(t *testing.T) {
	var b bytes.Buffer
	p := NewProgress(&b, FormatLines, func() time.Time { return t0 })
	p.OnEvent(upgrade.Event{Type: upgrade.Normal, Reason: upgrade.ReasonBatchStarted, Message: "batch 1 started"})
	p.OnEvent(upgrade.Event{Type: upgrade.Normal, Reason: upgrade.ReasonNodeUpgraded, Node: "edge-1", Message: "node edge-1 upgraded"})
	p.OnEvent(upgrade.Event{Type: upgrade.Warning, Reason: "Retrying", Message: "connection refused"})
	p.OnEvent(upgrade.Event{Type: upgrade.Warning, Reason: upgrade.ReasonNodeFailed, Node: "edge-2", Message: "node edge-2 failed"})
	p.OnEvent(upgrade.Event{Type: upgrade.Normal, Reason: upgrade.ReasonAPIReachable, Message: "the API server answers again"})
	if got, want := b.String(), "10:00:00  Retrying: connection refused\n10:00:00  APIServerReachable: the API server answers again\n"; got != want {
		t.Errorf("lines %q, want %q", got, want)
	}
	var reasons []string
	for _, e := range p.events {
		reasons = append(reasons, e.Reason)
	}
	if want := []string{upgrade.ReasonBatchStarted, "Retrying", upgrade.ReasonNodeFailed, upgrade.ReasonAPIReachable}; !cmp.Equal(reasons, want) {
		t.Errorf("events kept %v, want %v", reasons, want)
	}
}

// What a driver spends per reconcile on the view at 10,000 nodes (1,000 in flight):
// the snapshot (the status view) and one frame.
func BenchmarkSnapshotAndRender10000(b *testing.B) {
	r := newRun(10000, 14)
	for b.Loop() {
		s := NewSnapshot(r.st, r.obs, events(5), r.now)
		_ = Render(s, Screen{Width: 120, Height: 40, Color: true})
	}
}

// An Incomplete run names the nodes it left behind and why, in the lines and on screen.
func TestIncompleteNamesLeftBehind(t *testing.T) {
	r := newRun(25, -1)
	var b bytes.Buffer
	lines := NewLines(&b)
	lines.Show(NewSnapshot(r.st, r.obs, nil, r.now)) // the run as it was, then its end
	r.st.Current, r.st.Phase, r.st.FinishedAt = nil, upgrade.PhaseIncomplete, &r.now
	r.st.LeftBehind = []upgrade.LeftNode{{Node: "edge-a-0004", Reason: upgrade.LeftOffline}, {Node: "edge-b-0002", Reason: upgrade.LeftSkipped}}
	r.st.LeftBehindCount = 2
	snap := NewSnapshot(r.st, r.obs, nil, r.now)
	lines.Show(snap)
	screen := Render(snap, Screen{Width: 100, Height: 30})
	for _, want := range []string{"Incomplete", "2 left behind", "edge-a-0004 (offline (NotReady))", "edge-b-0002 (failed, skipped"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("lines lack %q:\n%s", want, b.String())
		}
	}
	if !strings.Contains(screen, "2 not at the target: edge-a-0004 (offline (NotReady))") {
		t.Errorf("screen lacks the left-behind nodes:\n%s", screen)
	}
}
