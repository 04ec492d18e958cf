package view

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/muesli/termenv"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/internal/words"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/status"
)

// Screen is the size of the terminal the view is drawn on, and whether it has colours.
type Screen struct {
	Width, Height int
	Color         bool
}

// Limits that keep the view one screen at any number of nodes.
const (
	maxInFlightRows = 3 // rows of "node 1m2s" cells for the nodes in flight
	maxEvents       = 5
	minWidth        = 40
	minHeight       = 12
)

type styles struct {
	label, bar, barEmpty, warn, bad, good, dim lipgloss.Style
}

func newStyles(color bool) styles {
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.Ascii)
	if color {
		r.SetColorProfile(termenv.ANSI256)
	}
	return styles{
		label:    r.NewStyle().Bold(true),
		bar:      r.NewStyle().Foreground(lipgloss.Color("42")),
		barEmpty: r.NewStyle().Foreground(lipgloss.Color("240")),
		warn:     r.NewStyle().Foreground(lipgloss.Color("214")).Bold(true),
		bad:      r.NewStyle().Foreground(lipgloss.Color("196")).Bold(true),
		good:     r.NewStyle().Foreground(lipgloss.Color("42")).Bold(true),
		dim:      r.NewStyle().Foreground(lipgloss.Color("245")),
	}
}

// Render draws the snapshot on a screen: never more lines than its height nor wider
// than its width, whatever the number of nodes. Lists are capped (the nodes in flight,
// the Events) and the pause reason or failure at the bottom is given as much room as
// the screen has, in full when it fits.
func Render(s Snapshot, sc Screen) string {
	sc.Width, sc.Height = max(sc.Width, minWidth), max(sc.Height, minHeight)
	st := newStyles(sc.Color)
	top := header(s, st, sc.Width)
	rows := maxInFlightRows
	flight := inFlight(s, st, sc.Width, rows)
	mid := summary(s, st)
	bottom := problem(s, st, sc.Width)
	events := recentEvents(s, st)
	// Shrink what matters least until the whole fits: Events, then the rows of
	// nodes in flight, then the problem text (cut with a marker at its end).
	fit := func() int { return len(top) + len(flight) + len(mid) + len(bottom) + len(events) }
	for fit() > sc.Height && len(events) > 0 {
		events = events[:len(events)-1]
		if len(events) == 2 { // a blank line and a title alone say nothing
			events = nil
		}
	}
	for fit() > sc.Height && rows > 1 {
		rows--
		flight = inFlight(s, st, sc.Width, rows)
	}
	if over := fit() - sc.Height; over > 0 && len(bottom) > over+1 {
		bottom = append(bottom[:len(bottom)-over-1], st.dim.Render("  … (see kubectl edgeupgrade status)"))
	}
	lines := append(append(append(append(top, flight...), mid...), bottom...), events...)
	if len(lines) > sc.Height {
		lines = lines[:sc.Height]
	}
	for i, l := range lines {
		lines[i] = ansi.Truncate(l, sc.Width, "…")
	}
	return strings.Join(lines, "\n")
}

func header(s Snapshot, st styles, width int) []string {
	v := s.Status
	phase := v.Phase
	if phase != v.Stage && v.Stage != "" {
		phase += " (in " + v.Stage + ")"
	}
	phase = stylePhase(st, v.Phase).Render(phase)
	elapsed := v.Elapsed
	if v.FinishedAt == nil && !v.StartedAt.IsZero() {
		elapsed = short(s.Now.Sub(v.StartedAt)) // the live view's clock moves between snapshots
	}
	clock := "elapsed " + elapsed
	if e := v.ETA; e != nil && e.CompletesAt != nil {
		clock += fmt.Sprintf("   ETA %s (in %s)", e.CompletesAt.Format("15:04:05"), e.Remaining)
	} else if e != nil && e.Remaining != "" {
		clock += "   work left ~" + e.Remaining
	}
	n := v.Nodes
	pct := 0
	if n.Total > 0 {
		pct = n.Upgraded * 100 / n.Total
	}
	count := fmt.Sprintf(" %d/%d nodes upgraded (%d%%)", n.Upgraded, n.Total, pct)
	lines := []string{
		st.label.Render("Upgrade ") + fmt.Sprintf("%s  %s → %s  mode %s", v.RunID, v.FromVersion, v.TargetVersion, v.Mode),
		st.label.Render("Phase   ") + phase + "   " + clock,
		bar(st, n.Upgraded, n.Total, min(50, width-len(count)-2)) + count,
		"        " + fmt.Sprintf("in progress %d · pending %d · failed %d · deferred %d", n.InProgress, n.Pending, n.Failed, n.Deferred),
	}
	m := v.Masters
	masters := fmt.Sprintf("%d/%d upgraded", m.Upgraded, m.Total)
	if c := m.Current; c != nil {
		masters += fmt.Sprintf(" · upgrading master %d/%d: %s", c.Serial, m.Total, c.Node)
	}
	if m.Total > 0 || v.Mode != "nodes" {
		lines = append(lines, st.label.Render("Masters ")+masters)
	}
	if b := v.CurrentBatch; b != nil && b.Role != "master" {
		running := ""
		if b.StartedAt != nil {
			running = " · running " + short(s.Now.Sub(*b.StartedAt))
		}
		lines = append(lines, st.label.Render("Batch   ")+fmt.Sprintf("%s · pool %s · %d %s · %d in flight%s",
			b.Index, poolName(b.Pool), b.Size, words.Plural(b.Size, "node", "nodes"), len(s.InFlight), running))
	}
	return lines
}

func stylePhase(st styles, phase string) lipgloss.Style {
	switch phase {
	case "Completed":
		return st.good
	case "Paused", "Pausing", "Cancelled", "Incomplete":
		return st.warn
	}
	return st.label
}

// bar is a progress bar of width cells.
func bar(st styles, done, total, width int) string {
	width = max(10, width)
	fill := 0
	if total > 0 {
		fill = done * width / total
	}
	return st.bar.Render(strings.Repeat("█", fill)) + st.barEmpty.Render(strings.Repeat("░", width-fill))
}

// inFlight lays out the running nodes as cells of "name 1m2s", at most
// maxInFlightRows rows, the last saying how many more there are.
func inFlight(s Snapshot, st styles, width, maxRows int) []string {
	if len(s.InFlight) == 0 {
		return nil
	}
	cellW := 0
	for _, r := range s.InFlight {
		cellW = max(cellW, len(r.Node)+1+len(short(s.Now.Sub(r.Since))))
	}
	cellW += 2
	perRow := max(1, (width-8)/cellW)
	var rows []string
	for i := 0; i < len(s.InFlight); i += perRow {
		if len(rows) == maxRows-1 && len(s.InFlight)-i > perRow {
			rows = append(rows, st.dim.Render(fmt.Sprintf("        … and %d more", len(s.InFlight)-i)))
			break
		}
		var b strings.Builder
		b.WriteString("        ")
		for _, r := range s.InFlight[i:min(i+perRow, len(s.InFlight))] {
			cell := r.Node + " " + st.dim.Render(short(s.Now.Sub(r.Since)))
			b.WriteString(cell + strings.Repeat(" ", max(0, cellW-ansi.StringWidth(cell))))
		}
		rows = append(rows, strings.TrimRight(b.String(), " "))
	}
	return rows
}

func summary(s Snapshot, st styles) []string {
	v := s.Status
	var lines []string
	p := s.Pools
	if p.Current != "" || len(p.Done)+len(p.Left) > 0 {
		cur := p.Current
		if cur == "" {
			cur = "-"
		}
		lines = append(lines, st.label.Render("Pools   ")+fmt.Sprintf("done %s · now %s · left %s",
			countList(p.Done), cur, countList(p.Left)))
	}
	if v.NextBatchSize > 0 {
		lines = append(lines, st.label.Render("Next    ")+fmt.Sprintf("batch of %d %s (cap %d)", v.NextBatchSize, words.Plural(v.NextBatchSize, "node", "nodes"), v.Cap))
	}
	if v.EndReason != "" {
		lines = append(lines, st.label.Render("Ended   ")+v.EndReason)
	}
	if len(v.DeferredNodes) > 0 {
		lines = append(lines, st.label.Render("Deferred")+" "+words.List(v.DeferredNodes, 5))
	}
	if v.LeftBehindCount > 0 {
		lines = append(lines, st.warn.Render("Left    ")+fmt.Sprintf("%d not at the target: %s", v.LeftBehindCount, leftBehind(v, 5)))
	}
	return lines
}

// leftBehind lists the nodes an Incomplete run left, each with why.
func leftBehind(v *status.Status, n int) string {
	items := make([]string, 0, len(v.LeftBehind))
	for _, l := range v.LeftBehind {
		items = append(items, l.Node+" ("+l.Reason+")")
	}
	return words.List(items, n)
}

// countList is "3 (a, b, c)" with the names capped, or "none".
func countList(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return fmt.Sprintf("%d (%s)", len(names), words.List(names, 3))
}

// problem is the pause reason and the latest failure, word-wrapped in full. An
// automatic pause repeats the failure that caused it, so that is said once.
func problem(s Snapshot, st styles, width int) []string {
	v := s.Status
	var lines []string
	wrap := func(text string) {
		for _, l := range strings.Split(ansi.Wrap(text, width-2, " "), "\n") {
			lines = append(lines, "  "+l)
		}
	}
	var last *status.Failure
	if len(v.Failures) > 0 {
		last = &v.Failures[len(v.Failures)-1]
	}
	if p := v.Pause; p != nil {
		by := "by user"
		if p.ByError {
			by = "automatically, on error"
		}
		lines = append(lines, "", st.warn.Render("Paused")+fmt.Sprintf(" %s, since %s", by, p.Since.UTC().Format("15:04:05")))
		if last != nil && p.ByError && strings.Contains(p.Reason, last.Message) {
			lines[len(lines)-1] += ": the failure below"
		} else {
			lines[len(lines)-1] += ":"
			wrap(p.Reason)
		}
	}
	if last != nil {
		f := *last
		lines = append(lines, "", st.bad.Render("Failed")+fmt.Sprintf(" %s (batch %s, container %s) at %s; %d %s in all:",
			f.Node, f.Batch, dash(f.Container), f.At.UTC().Format("15:04:05"), v.FailureCount, words.Plural(v.FailureCount, "failure", "failures")))
		wrap(f.Message)
	}
	return lines
}

func recentEvents(s Snapshot, st styles) []string {
	ev := s.Status.Events
	if len(ev) == 0 {
		return nil
	}
	if len(ev) > maxEvents {
		ev = ev[len(ev)-maxEvents:]
	}
	lines := []string{"", st.label.Render("Events")}
	for _, e := range ev {
		typ := fmt.Sprintf("%-7s", e.Type)
		if e.Type == "Warning" {
			typ = st.warn.Render(typ)
		}
		lines = append(lines, fmt.Sprintf("  %s  %s %-17s %s", e.Time.UTC().Format("15:04:05"), typ, e.Reason, e.Message))
	}
	return lines
}

// short is a duration to the second ("1m2s", "0s").
func short(d time.Duration) string {
	return max(0, d).Round(time.Second).String()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
