package status

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/internal/words"
)

// PrintHuman renders the view for people ("details at the bottom of the page").
func PrintHuman(w io.Writer, s *Status) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	l := &lines{w: tw}
	printRun(l, s)
	printProgress(l, s)
	printHolds(l, s)
	err := l.err
	if err == nil {
		err = printDriver(tw, s.Driver)
	}
	if err != nil {
		return err
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if err := printFailures(w, s); err != nil {
		return err
	}
	if err := printBatches(w, s); err != nil {
		return err
	}
	return printEvents(w, s)
}

// lines writes "Key:<tab>value" lines and keeps the first write error; later lines
// are skipped.
type lines struct {
	w   io.Writer
	err error
}

func (l *lines) p(k, format string, args ...any) {
	if l.err == nil {
		_, l.err = fmt.Fprintf(l.w, "%s\t%s\n", k+":", fmt.Sprintf(format, args...))
	}
}

// printRun writes what the run is: versions, phase, time, end and ETA.
func printRun(l *lines, s *Status) {
	l.p("Upgrade", "%s  %s → %s  (mode %s)", s.RunID, s.FromVersion, s.TargetVersion, s.Mode)
	phase := s.Phase
	if phase != s.Stage {
		phase += " (in " + s.Stage + ")"
	}
	l.p("Phase", "%s", phase)
	l.p("Elapsed", "%s  (started %s)", s.Elapsed, s.StartedAt.UTC().Format(time.RFC3339))
	if s.EndReason != "" {
		l.p("Ended", "%s", s.EndReason)
	}
	if e := s.ETA; e != nil && e.CompletesAt != nil {
		l.p("ETA", "%s (in %s): %s", e.CompletesAt.UTC().Format(time.RFC3339), e.Remaining, e.Basis)
	} else if e != nil {
		l.p("ETA", "unknown: %s", e.Basis)
	}
}

// printProgress writes the masters, the nodes, the current batch and the next one.
func printProgress(l *lines, s *Status) {
	masters := fmt.Sprintf("%d/%d upgraded", s.Masters.Upgraded, s.Masters.Total)
	if c := s.Masters.Current; c != nil {
		masters += fmt.Sprintf("; upgrading master %d/%d: %s", c.Serial, s.Masters.Total, c.Node)
	}
	if s.Masters.Total == 0 && s.Mode != "nodes" {
		masters = "none visible (managed control plane)"
	}
	l.p("Masters", "%s", masters)
	n := s.Nodes
	l.p("Nodes", "upgraded %d/%d  (in progress %d, pending %d, failed %d, deferred %d)", n.Upgraded, n.Total, n.InProgress, n.Pending, n.Failed, n.Deferred)
	if b := s.CurrentBatch; b != nil {
		l.p("Current batch", "%s  pool %s, %d %s: %s", b.Index, pool(b.Pool), b.Size, words.Plural(b.Size, "node", "nodes"), words.List(b.Nodes, 10))
		for _, o := range b.Offline {
			l.p("  NotReady", "%s", offlineLine(o))
		}
		if g := b.Gate; g != nil {
			line := "all nodes upgraded; health gate checked since " + g.Since.UTC().Format(time.RFC3339)
			if g.SoakUntil != nil {
				line += ", soaking until " + g.SoakUntil.UTC().Format(time.RFC3339)
			}
			l.p("  Gate", "%s", line)
		}
	}
	if s.NextBatchSize > 0 {
		l.p("Next batch", "%d %s  (cap %d)", s.NextBatchSize, words.Plural(s.NextBatchSize, "node", "nodes"), s.Cap)
	}
}

// printHolds writes what holds the run or some of its nodes back: a pause, deferred,
// skipped and left-behind nodes, staging and the health gate.
func printHolds(l *lines, s *Status) {
	if s.Pause != nil {
		by := "by user"
		if s.Pause.ByError {
			by = "automatically, on error"
		}
		l.p("Paused", "%s since %s: %s", by, s.Pause.Since.UTC().Format(time.RFC3339), s.Pause.Reason)
	}
	if len(s.DeferredNodes) > 0 {
		l.p("Deferred", "%s  (offline; upgraded in a later batch if Ready again before the run ends; %d at most before the run pauses)",
			words.List(s.DeferredNodes, 10), s.MaxDeferred)
	}
	if s.SkippedCount > 0 {
		l.p("Skipped", "%d failed %s (resume --skip-failed): %s", s.SkippedCount, words.Plural(s.SkippedCount, "node", "nodes"), words.List(s.SkippedNodes, 10))
	}
	if s.LeftBehindCount > 0 {
		items := make([]string, 0, len(s.LeftBehind))
		for _, lb := range s.LeftBehind {
			items = append(items, lb.Node+" ("+lb.Reason+")")
		}
		l.p("Left behind", "%d %s not at the target: %s; start --to %s again to upgrade exactly those",
			s.LeftBehindCount, words.Plural(s.LeftBehindCount, "node", "nodes"), words.List(items, 10), s.TargetVersion)
	}
	if s.Staging != nil && s.FinishedAt == nil {
		l.p("Staging", "%s", stagingLine(s.Staging))
	}
	if s.Gate != "" && s.FinishedAt == nil {
		l.p("Gate", "%s", s.Gate)
	}
}

func printFailures(w io.Writer, s *Status) error {
	if len(s.Failures) == 0 {
		return nil
	}
	if _, err := fmt.Fprintf(w, "\nFailures (%d):\n", s.FailureCount); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if _, err := fmt.Fprintln(tw, "  NODE\tBATCH\tCONTAINER\tMESSAGE"); err != nil {
		return err
	}
	for _, f := range s.Failures {
		if _, err := fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", f.Node, f.Batch, dash(f.Container), f.Message); err != nil {
			return err
		}
	}
	return tw.Flush()
}

func printBatches(w io.Writer, s *Status) error {
	if len(s.Batches) == 0 {
		return nil
	}
	if _, err := fmt.Fprintln(w, "\nBatches:"); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if _, err := fmt.Fprintln(tw, "  BATCH\tPOOL\tSIZE\tRESULT\tDURATION\tNODES"); err != nil {
		return err
	}
	for _, b := range s.Batches {
		d := "-"
		if b.StartedAt != nil && b.FinishedAt != nil {
			d = b.FinishedAt.Sub(*b.StartedAt).Round(time.Second).String()
		}
		if _, err := fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\t%s\t%s\n", b.Index, pool(b.Pool), b.Size, b.Result, d, words.List(b.Nodes, 4)); err != nil {
			return err
		}
	}
	return tw.Flush()
}

func printEvents(w io.Writer, s *Status) error {
	if len(s.Events) == 0 {
		return nil
	}
	if _, err := fmt.Fprintln(w, "\nRecent events:"); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, e := range s.Events {
		if _, err := fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", e.Time.UTC().Format("15:04:05"), e.Type, e.Reason, e.Message); err != nil {
			return err
		}
	}
	return tw.Flush()
}

func pool(p string) string {
	if p == "" {
		return "(none)"
	}
	return p
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func offlineLine(o OfflineNode) string {
	line := o.Node + " since " + o.NotReadySince.UTC().Format(time.RFC3339)
	if o.UpgradeRunning != "" {
		line += ", its upgrade running for " + o.UpgradeRunning
	}
	if o.Progress != "" {
		line += "; last reported: " + o.Progress
	}
	return line
}
