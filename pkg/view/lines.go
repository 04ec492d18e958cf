package view

import (
	"fmt"
	"io"
	"strings"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/internal/words"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/status"
)

// Lines prints a driven run for logs: one line per phase change, per batch started and
// per batch finished, never one per node; failures and pauses in full. At 1,000 nodes
// a run prints about as many lines as it has batches.
type Lines struct {
	w        io.Writer
	started  bool
	phase    string
	batch    string
	reported map[string]bool // finished batches already printed
	failures map[string]bool // node@time of failures already printed
	pause    string
}

// NewLines prints to w.
func NewLines(w io.Writer) *Lines {
	return &Lines{w: w, reported: map[string]bool{}, failures: map[string]bool{}}
}

// Show prints what changed since the last snapshot. Output is best effort: a lost
// line must not stop the run, whose result is the command's exit code.
func (l *Lines) Show(s Snapshot) {
	for _, line := range l.changes(s) {
		_, _ = fmt.Fprintf(l.w, "%s  %s\n", s.Now.Format("15:04:05"), line)
	}
}

// changes are the lines for s, in the order things happened: finished batches,
// failures, a pause or a phase change, then the batch that started.
func (l *Lines) changes(s Snapshot) []string {
	v := s.Status
	var out []string
	progress := fmt.Sprintf("upgraded %d/%d", v.Nodes.Upgraded, v.Nodes.Total)
	if !l.started {
		l.started = true
		// What happened before this command started is history: say where the run is.
		for _, b := range v.Batches {
			if b.Result != "Running" {
				l.reported[b.Index] = true
			}
		}
		for _, f := range v.Failures {
			l.failures[failureKey(f)] = true
		}
		out = append(out, fmt.Sprintf("upgrade %s %s → %s: %s, %s%s", v.RunID, v.FromVersion, v.TargetVersion, v.Phase, progress, eta(v)))
		l.phase = v.Phase
	}
	for _, b := range v.Batches {
		if b.Result == "Running" || l.reported[b.Index] {
			continue
		}
		l.reported[b.Index] = true
		took := ""
		if b.StartedAt != nil && b.FinishedAt != nil && !b.StartedAt.IsZero() && !b.FinishedAt.Before(*b.StartedAt) {
			took = " in " + short(b.FinishedAt.Sub(*b.StartedAt))
		}
		out = append(out, fmt.Sprintf("%s %s%s, %s%s", describe(b), strings.ToLower(b.Result), took, progress, eta(v)))
	}
	var told []string // failure messages printed now
	for _, f := range v.Failures {
		if k := failureKey(f); !l.failures[k] {
			l.failures[k] = true
			told = append(told, f.Message)
			out = append(out, fmt.Sprintf("FAILED %s (batch %s, container %s): %s", f.Node, f.Batch, dash(f.Container), f.Message))
		}
	}
	if p := v.Pause; p != nil && p.Reason != l.pause {
		l.pause = p.Reason
		out = append(out, pauseLine(*p, told))
	}
	if v.Pause == nil {
		l.pause = ""
	}
	if v.Phase != l.phase {
		l.phase = v.Phase
		if v.Phase != "Pausing" { // the PAUSING line said it
			out = append(out, phaseLine(v, progress))
		}
	}
	if b := v.CurrentBatch; b != nil && b.Index != l.batch {
		l.batch = b.Index
		line := describe(*b) + " started"
		if b.Role != "master" {
			line += ": " + words.List(b.Nodes, 5)
		}
		out = append(out, line)
	}
	return out
}

// pauseLine gives the pause reason in full, unless it only repeats a failure just printed.
func pauseLine(p status.Pause, told []string) string {
	if !p.ByError {
		return "PAUSING by user: " + p.Reason
	}
	for _, m := range told {
		if strings.Contains(p.Reason, m) {
			return "PAUSING automatically on the failure above; started nodes finish"
		}
	}
	return "PAUSING automatically, on error: " + p.Reason
}

func phaseLine(v *status.Status, progress string) string {
	switch v.Phase {
	case "Paused":
		return fmt.Sprintf("Paused, %s: see kubectl edgeupgrade status, then resume", progress)
	case "Completed", "Cancelled", "Incomplete":
		line := fmt.Sprintf("%s in %s: %s", v.Phase, v.Elapsed, progress)
		if v.LeftBehindCount > 0 {
			line += fmt.Sprintf("; %d left behind: %s", v.LeftBehindCount, leftBehind(v, 10))
		}
		if v.EndReason != "" {
			line += " (" + v.EndReason + ")"
		}
		if len(v.DeferredNodes) > 0 {
			line += "; deferred (NotReady, left for a later run): " + words.List(v.DeferredNodes, 10)
		}
		if v.Nodes.Failed > 0 {
			line += fmt.Sprintf("; %d failed and not upgraded", v.Nodes.Failed)
		}
		return line
	}
	return fmt.Sprintf("%s, %s%s", v.Phase, progress, eta(v))
}

// describe names a batch: "master m2 (1 node)" or "batch 3 (pool pool-a, 4 nodes)".
func describe(b status.Batch) string {
	if b.Role == "master" {
		return fmt.Sprintf("master %s (%s)", strings.TrimPrefix(b.Index, "m"), strings.Join(b.Nodes, ", "))
	}
	return fmt.Sprintf("batch %s (pool %s, %d %s)", b.Index, poolName(b.Pool), b.Size, words.Plural(b.Size, "node", "nodes"))
}

func eta(v *status.Status) string {
	if e := v.ETA; e != nil && e.CompletesAt != nil {
		return fmt.Sprintf(", ETA %s (in %s)", e.CompletesAt.Format("15:04:05"), e.Remaining)
	}
	return ""
}

func failureKey(f status.Failure) string { return f.Node + "@" + f.At.String() }
