package report

import (
	"fmt"
	"image/color"
	"sort"
	"strings"
	"time"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/status"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// Timeline is the picture of a run: each batch as a bar over time, and the nodes at
// the target version over time. The SVG (HTML report) and the PNG (Markdown report)
// draw the same timeline.
type Timeline struct {
	Start, End time.Time
	Bars       []Bar
	// Upgraded steps up each time a node of the run finished its upgrade; it starts
	// with the nodes in scope that were at the target already.
	Upgraded []Point
	Total    int
	// Pauses are the times the run stood paused, from its UpgradePaused and
	// UpgradeResumed Events (a pause not resumed lasts to the timeline's end).
	Pauses []Period
}

// Period is a stretch of time.
type Period struct{ From, To time.Time }

// Bar is one batch.
type Bar struct {
	Label  string // m1, m2, 1, 2, ...
	Pool   string
	Role   string
	Size   int
	Start  time.Time
	End    time.Time
	Result string // Succeeded, Failed, Running
}

// Point is the number of nodes at the target at a time.
type Point struct {
	At       time.Time
	Upgraded int
}

// Name says which batch a bar is: "master 1" or "batch 3 (pool-a, 4 nodes)".
func (b Bar) Name() string {
	if b.Role == "master" {
		return "master " + b.Label[1:]
	}
	return fmt.Sprintf("batch %s (%s, %d)", b.Label, poolName(b.Pool), b.Size)
}

// Colours of the results, shared by the SVG and the PNG.
var (
	colSucceeded = color.RGBA{R: 0x59, G: 0xa1, B: 0x4f, A: 0xff}
	colMaster    = color.RGBA{R: 0x4c, G: 0x78, B: 0xa8, A: 0xff}
	colFailed    = color.RGBA{R: 0xe1, G: 0x57, B: 0x59, A: 0xff}
	colRunning   = color.RGBA{R: 0xf2, G: 0x9e, B: 0x4c, A: 0xff}
	colPause     = color.RGBA{R: 0xfb, G: 0xee, B: 0xc2, A: 0xff}
)

func (b Bar) color() color.RGBA {
	switch {
	case b.Result == "Failed":
		return colFailed
	case b.Result == "Running":
		return colRunning
	case b.Role == "master":
		return colMaster
	}
	return colSucceeded
}

// NewTimeline draws the run r from its batches and its nodes' end times.
func NewTimeline(r *Run) Timeline {
	s := r.Status
	t := Timeline{Start: s.StartedAt, End: r.At, Total: s.Nodes.Total}
	if s.FinishedAt != nil {
		t.End = *s.FinishedAt
	}
	for _, b := range s.Batches {
		bar := Bar{Label: b.Index, Pool: b.Pool, Role: b.Role, Size: b.Size, Result: b.Result, End: t.End}
		if b.StartedAt != nil {
			bar.Start = *b.StartedAt
		}
		if b.FinishedAt != nil {
			bar.End = *b.FinishedAt
		}
		t.End = later(t.End, bar.End)
		t.Bars = append(t.Bars, bar)
	}
	var ends []time.Time
	for _, n := range r.Nodes {
		if n.Result == "Succeeded" && n.End != nil {
			ends = append(ends, *n.End)
		}
	}
	sort.Slice(ends, func(i, j int) bool { return ends[i].Before(ends[j]) })
	t.Pauses = pauses(r.Events, t.End)
	before := max(0, s.Nodes.Upgraded-len(ends))
	t.Upgraded = append(t.Upgraded, Point{At: t.Start, Upgraded: before})
	for i, e := range ends {
		t.Upgraded = append(t.Upgraded, Point{At: e, Upgraded: before + i + 1})
	}
	return t
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// seconds is t's offset from the timeline's start.
func (t Timeline) seconds(at time.Time) float64 { return at.Sub(t.Start).Seconds() }

// span is the timeline's length in seconds (at least 1).
func (t Timeline) span() float64 { return max(1, t.seconds(t.End)) }

// ticks are 4–10 round steps over the span, in seconds.
func (t Timeline) ticks() []float64 {
	span := t.span()
	step := 1.0
	for _, s := range []float64{1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400} {
		step = s
		if span/s <= 10 {
			break
		}
	}
	var out []float64
	for x := 0.0; x <= span+1e-9; x += step {
		out = append(out, x)
	}
	return out
}

// clock is an offset as "1m30s", "2m" or "1h".
func clock(sec float64) string {
	s := (time.Duration(sec) * time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// pauses pairs each UpgradePaused Event with the next UpgradeResumed.
func pauses(events []status.Event, end time.Time) []Period {
	var out []Period
	var from *time.Time
	for _, e := range events {
		switch {
		case e.Reason == upgrade.ReasonPaused && from == nil:
			t := e.Time
			from = &t
		case (e.Reason == upgrade.ReasonResumed || e.Reason == upgrade.ReasonCancelled) && from != nil:
			out = append(out, Period{From: *from, To: e.Time})
			from = nil
		}
	}
	if from != nil {
		out = append(out, Period{From: *from, To: end})
	}
	return out
}

func poolName(p string) string {
	if p == "" {
		return "(none)"
	}
	return p
}
