package view

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"k8s.io/kubectl/pkg/util/term"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/status"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// Format is how a driven run is shown.
type Format int

const (
	// FormatLive redraws the view in place (a terminal).
	FormatLive Format = iota
	// FormatLines prints one line per batch and phase change (logs, pipes, --no-tty).
	FormatLines
	// FormatJSON streams one status object per change (-o json).
	FormatJSON
)

// FormatFor picks the format: JSON when asked, the live view on a terminal that can
// move its cursor unless noTTY, lines otherwise.
func FormatFor(out io.Writer, noTTY bool, output string) Format {
	switch {
	case output == "json":
		return FormatJSON
	case !noTTY && term.IsTerminal(out) && os.Getenv("TERM") != "dumb":
		return FormatLive
	}
	return FormatLines
}

// Progress shows a driven run: pass OnEvent to the session (runner.SessionOptions)
// and Show to Drive, and Stop when Drive returns.
type Progress struct {
	mu     sync.Mutex
	events []status.Event // the latest maxEvents, oldest first
	format Format
	out    io.Writer
	now    func() time.Time
	live   *Live
	lines  *Lines
	json   *JSON
}

// NewProgress shows on out in the given format, on the clock now (time.Now when nil:
// the run's times and the view's must come from one clock). The live view takes the
// screen at the first Show, so lines printed before (the pre-check, "upgrade started")
// stay above it.
func NewProgress(out io.Writer, f Format, now func() time.Time) *Progress {
	if now == nil {
		now = time.Now
	}
	p := &Progress{format: f, out: out, now: now}
	switch f {
	case FormatJSON:
		p.json = NewJSON(out)
	case FormatLines:
		p.lines = NewLines(out)
	}
	return p
}

// OnEvent keeps the run's latest Events for the view. The line format prints at once
// the warnings that no batch or phase line covers (retries, Events that could not be
// written, tampering, deferred nodes, an API server out of reach) and the end of such
// an outage; the rest is told by the batch lines.
func (p *Progress) OnEvent(e upgrade.Event) {
	now := p.now()
	if e.Reason == upgrade.ReasonNodeUpgraded {
		return // one per node: the bar says it, and they would push every other Event out
	}
	p.mu.Lock()
	obj := "ConfigMap/edgeupgrade"
	if e.Node != "" {
		obj = "Node/" + e.Node
	}
	p.events = append(p.events, status.Event{Time: now, Type: string(e.Type), Reason: e.Reason, Object: obj, Message: e.Message})
	if len(p.events) > maxEvents {
		p.events = p.events[len(p.events)-maxEvents:]
	}
	p.mu.Unlock()
	if p.lines != nil && (e.Type == upgrade.Warning && e.Reason != upgrade.ReasonNodeFailed && e.Reason != upgrade.ReasonPaused ||
		e.Reason == upgrade.ReasonAPIReachable) {
		_, _ = fmt.Fprintf(p.out, "%s  %s: %s\n", now.Format("15:04:05"), e.Reason, e.Message)
	}
}

// Show is Drive's callback: it shows the run after a reconcile.
func (p *Progress) Show(st upgrade.State, obs upgrade.Observation) {
	p.mu.Lock()
	events := append([]status.Event(nil), p.events...)
	p.mu.Unlock()
	s := NewSnapshot(st, obs, events, p.now())
	if p.format == FormatLive && p.live == nil {
		p.live = StartLive(p.out, os.Getenv("NO_COLOR") == "")
	}
	switch {
	case p.live != nil:
		p.live.Show(s)
	case p.json != nil:
		p.json.Show(s)
	default:
		p.lines.Show(s)
	}
}

// Stop ends the live view, leaving its last screen.
func (p *Progress) Stop() {
	if p.live != nil {
		p.live.Stop()
	}
}
