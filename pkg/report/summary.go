package report

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/internal/words"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/status"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// Summary is the report's content, computed once for both formats.
type Summary struct {
	Title      string
	Generated  string
	Parameters []KV
	Outcome    []KV
	Phases     []Span
	Pools      []Span
	Batches    []Span
	Failures   []FailureRow
	LeftBehind []LeftRow
	PreCheck   string
	Events     []status.Event
	Timeline   Timeline
}

// KV is one row of a two-column table.
type KV struct{ Key, Value string }

// Span is a phase, a pool or a batch, and how long it took.
type Span struct {
	Name, Pool, Result string
	Nodes, Batches     int
	Start, Duration    string
}

// FailureRow is a failed node: where, at which step, the agent's message, and what
// became of the node (retried, or left behind).
type FailureRow struct{ Node, Batch, Step, At, Message, Then string }

// LeftRow is a node in scope that the run did not upgrade, and why.
type LeftRow struct{ Node, Why string }

// Summarize computes the report's tables from the run.
func Summarize(r *Run) Summary {
	s, st := r.Status, r.State
	sum := Summary{
		Title:     fmt.Sprintf("Upgrade %s: %s → %s", s.RunID, s.FromVersion, s.TargetVersion),
		Generated: r.At.UTC().Format(time.RFC3339),
		PreCheck:  r.PreCheck,
		Events:    r.Events,
		Timeline:  NewTimeline(r),
	}
	if sum.PreCheck == "" {
		sum.PreCheck = "not recorded (no PreCheckPassed Event: Events expire, by default after an hour)"
	}
	sum.Parameters = parameters(st)
	sum.Outcome = outcome(s)
	sum.Phases, sum.Pools, sum.Batches = spans(s)
	sum.Failures = failures(r)
	sum.LeftBehind = leftBehind(r)
	return sum
}

func parameters(st upgrade.State) []KV {
	sp := st.Spec
	orNone := func(s string) string {
		if s == "" {
			return "(none)"
		}
		return s
	}
	maxBatch := fmt.Sprintf("%d (10%% of %d workers, at least 1)", st.Cap, st.Workers)
	if sp.MaxBatchSize > 0 {
		maxBatch = fmt.Sprintf("%d (--max-batch-size)", sp.MaxBatchSize)
	}
	return []KV{
		{"run", st.RunID},
		{"versions", sp.FromVersion + " → " + sp.TargetVersion},
		{"mode", string(sp.Mode)},
		{"nodes in scope at start", fmt.Sprintf("%d masters, %d workers", st.Masters, st.Workers)},
		{"selector", orNone(sp.Selector)},
		{"pool label", orNone(sp.PoolLabel)},
		{"largest batch", maxBatch},
		{"drain", fmt.Sprintf("%t (timeout %s)", sp.Drain, sp.DrainTimeout.Duration)},
		{"job timeout", sp.JobTimeout.String()},
		{"pause expiry", sp.PauseExpiry.String()},
		{"skip unready", fmt.Sprint(sp.SkipUnready)},
		{"skipped checks", orNone(strings.Join(sp.SkipChecks, ", "))},
		{"images", strings.Join(slices.DeleteFunc([]string{sp.PreprocessImage, sp.UpgradeImage, sp.RuntimeImage}, func(s string) bool { return s == "" }), ", ")},
	}
}

func outcome(s *status.Status) []KV {
	end := "(running)"
	if s.FinishedAt != nil {
		end = s.FinishedAt.UTC().Format(time.RFC3339)
	}
	out := []KV{
		{"outcome", s.Phase},
		{"started", s.StartedAt.UTC().Format(time.RFC3339)},
		{"ended", end},
		{"elapsed", s.Elapsed},
		{"nodes", fmt.Sprintf("%d of %d upgraded; %d failed, %d deferred, %d in progress, %d pending",
			s.Nodes.Upgraded, s.Nodes.Total, s.Nodes.Failed, s.Nodes.Deferred, s.Nodes.InProgress, s.Nodes.Pending)},
		{"batches", fmt.Sprint(len(s.Batches))},
	}
	if s.EndReason != "" {
		out = append(out, KV{"end reason", s.EndReason})
	}
	if p := s.Pause; p != nil {
		out = append(out, KV{"paused", fmt.Sprintf("since %s: %s", p.Since.UTC().Format(time.RFC3339), p.Reason)})
	}
	if e := s.ETA; e != nil && e.CompletesAt != nil {
		out = append(out, KV{"estimated end", fmt.Sprintf("%s (%s)", e.CompletesAt.UTC().Format(time.RFC3339), e.Basis)})
	}
	return out
}

// spans are the durations per phase, per pool and per batch, from the batches.
func spans(s *status.Status) (phases, pools, batches []Span) {
	type acc struct {
		start, end      time.Time
		nodes, n, fails int
		run             bool
	}
	add := func(m map[string]*acc, key string, b status.Batch) {
		a := m[key]
		if a == nil {
			a = &acc{}
			m[key] = a
		}
		if b.StartedAt != nil && (a.start.IsZero() || b.StartedAt.Before(a.start)) {
			a.start = *b.StartedAt
		}
		if b.FinishedAt != nil && b.FinishedAt.After(a.end) {
			a.end = *b.FinishedAt
		}
		a.nodes += b.Size
		a.n++
		if b.Result == "Failed" {
			a.fails++
		}
		a.run = a.run || b.Result == "Running"
	}
	byPhase, byPool := map[string]*acc{}, map[string]*acc{}
	var poolOrder []string
	for _, b := range s.Batches {
		phase := "Nodes"
		if b.Role == "master" {
			phase = "Masters"
		} else {
			if byPool[b.Pool] == nil {
				poolOrder = append(poolOrder, b.Pool)
			}
			add(byPool, b.Pool, b)
		}
		add(byPhase, phase, b)
		batches = append(batches, Span{Name: b.Index, Pool: poolName(b.Pool), Nodes: b.Size, Batches: 1, Result: b.Result,
			Start: offset(s.StartedAt, b.StartedAt), Duration: between(b.StartedAt, b.FinishedAt)})
	}
	span := func(name, pool string, a *acc) Span {
		// A phase or pool is not "Failed" for a failure that was retried: it says
		// how many of its batches had one (the failures table says what followed).
		result := "Succeeded"
		switch {
		case a.run:
			result = "Running"
		case a.fails > 0:
			result = fmt.Sprintf("%s with failures", words.Plural(a.fails, "1 batch", fmt.Sprintf("%d batches", a.fails)))
		}
		start := a.start
		var end *time.Time
		if !a.end.IsZero() && !a.run {
			end = &a.end
		}
		return Span{Name: name, Pool: pool, Nodes: a.nodes, Batches: a.n, Result: result, Start: offset(s.StartedAt, &start), Duration: between(&start, end)}
	}
	for _, ph := range []string{"Masters", "Nodes"} {
		if a := byPhase[ph]; a != nil {
			phases = append(phases, span(ph, "", a))
		}
	}
	for _, p := range poolOrder {
		pools = append(pools, span(poolName(p), poolName(p), byPool[p]))
	}
	return phases, pools, batches
}

func offset(start time.Time, t *time.Time) string {
	if t == nil {
		return "-"
	}
	return "+" + t.Sub(start).Round(time.Second).String()
}

func between(a, b *time.Time) string {
	if a == nil || b == nil {
		return "-"
	}
	return b.Sub(*a).Round(time.Second).String()
}

// failures lists every failed node the run still shows: its Jobs (all of them, when
// the state keeps only the latest 20) and the failures the state recorded.
func failures(r *Run) []FailureRow {
	var out []FailureRow
	seen := map[string]bool{}
	latest := map[string]NodeHistory{}
	for _, n := range r.Nodes {
		latest[n.Node] = n
	}
	then := func(node, batch string) string {
		n, ok := latest[node]
		switch {
		case !ok:
			return "its Job is gone: not retried"
		case n.Batch != batch:
			return fmt.Sprintf("retried in batch %s: %s", n.Batch, n.Result)
		}
		return "not retried"
	}
	for _, f := range r.Status.Failures {
		seen[f.Node] = true
		out = append(out, FailureRow{Node: f.Node, Batch: f.Batch, Step: stepOf(f.Container, f.Message), At: f.At.UTC().Format(time.RFC3339),
			Message: f.Message, Then: then(f.Node, f.Batch)})
	}
	for _, n := range r.Nodes {
		if n.Result != "Failed" || seen[n.Node] {
			continue
		}
		container := ""
		for _, c := range n.Containers {
			if c.ExitCode != nil && *c.ExitCode != 0 {
				container = c.Name
			}
		}
		at := ""
		if n.End != nil {
			at = n.End.UTC().Format(time.RFC3339)
		}
		out = append(out, FailureRow{Node: n.Node, Batch: n.Batch, Step: stepOf(container, n.Message), At: at, Message: n.Message, Then: "not retried"})
	}
	return out
}

// stepOf names the step that failed: the container, and the agent's step when its
// message names one ("upgrade: kubeadm: ...").
func stepOf(container, msg string) string {
	if container == "" {
		container = "-"
	}
	parts := strings.SplitN(msg, ": ", 3)
	if len(parts) == 3 && parts[0] == container && !strings.Contains(parts[1], " ") {
		return container + " / " + parts[1]
	}
	return container
}

// leftBehind are the nodes in scope not at the target, each with why. Nodes a run
// never reached are grouped by reason, so a run paused early at 10,000 nodes gives a
// few rows, not thousands.
func leftBehind(r *Run) []LeftRow {
	st, s := r.State, r.Status
	deferred := map[string]bool{}
	for _, n := range s.DeferredNodes {
		deferred[n] = true
	}
	var out []LeftRow
	grouped := map[string][]string{}
	var reasons []string
	group := func(why, node string) {
		if grouped[why] == nil {
			reasons = append(reasons, why)
		}
		grouped[why] = append(grouped[why], node)
	}
	for _, n := range r.obs.Nodes {
		if !upgrade.InMode(st.Spec.Mode, n.Role) || upgrade.Upgraded(n.Version, st.Spec.TargetVersion) {
			continue
		}
		j, hasJob := r.obs.Jobs[n.Name]
		switch {
		case deferred[n.Name]:
			group("deferred: NotReady (--skip-unready), left for a later run", n.Name)
		case hasJob && j.Phase == upgrade.JobFailed:
			out = append(out, LeftRow{Node: n.Name, Why: "failed and not retried: " + j.Message})
		case hasJob && j.Phase == upgrade.JobActive:
			group("upgrade in progress", n.Name)
		case hasJob && j.Phase == upgrade.JobSucceeded:
			out = append(out, LeftRow{Node: n.Name, Why: "its Job succeeded but the node reports " + n.Version})
		case st.Phase == upgrade.PhaseCancelled:
			group("not started: the run was cancelled", n.Name)
		case st.Pause != nil:
			group("not started yet: the run is paused", n.Name)
		case !n.Ready:
			group("not started: NotReady", n.Name)
		default:
			group("not started yet", n.Name)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Node < out[j].Node })
	for _, why := range reasons {
		names := grouped[why]
		sort.Strings(names)
		node := names[0]
		if len(names) > 1 {
			node = fmt.Sprintf("%d nodes: %s", len(names), words.List(names, 10))
		}
		out = append(out, LeftRow{Node: node, Why: why})
	}
	return out
}
