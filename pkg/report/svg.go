package report

import (
	"fmt"
	"html"
	"image/color"
	"strings"
)

// SVG geometry: the batch panel has one row per batch (rows shrink so that hundreds of
// batches stay about 500 px tall); the curve panel is below it.
const (
	svgWidth   = 960
	svgLeft    = 170
	svgRight   = 20
	svgCurveH  = 200
	svgMaxRows = 500
)

// SVG draws the timeline. Each batch is a <rect class="batch ..."> carrying its label
// in data-batch and a <title> tooltip, in the order of the run.
func (t Timeline) SVG() string {
	rowH := 18.0
	if n := len(t.Bars); n > 0 {
		rowH = min(18, max(3, svgMaxRows/float64(n)))
	}
	plotW := float64(svgWidth - svgLeft - svgRight)
	x := func(sec float64) float64 { return svgLeft + plotW*sec/t.span() }
	barsTop := 30.0
	barsH := rowH * float64(max(1, len(t.Bars)))
	curveTop := barsTop + barsH + 50
	height := curveTop + svgCurveH + 40

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%.0f" viewBox="0 0 %d %.0f" font-family="sans-serif" font-size="11">`+"\n",
		svgWidth, height, svgWidth, height)
	fmt.Fprintf(&b, `<text x="%d" y="18" font-size="13" font-weight="bold">Batches over time</text>`+"\n", svgLeft)
	axis(&b, t, x, barsTop, barsTop+barsH)
	for _, p := range t.Pauses {
		x0, x1 := x(t.seconds(p.From)), x(t.seconds(p.To))
		fmt.Fprintf(&b, `<rect class="pause" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>paused %s</title></rect>`+"\n",
			x0, barsTop, max(1, x1-x0), barsH, hex(colPause), clock(p.To.Sub(p.From).Seconds()))
	}
	for i, bar := range t.Bars {
		y := barsTop + rowH*float64(i)
		x0, x1 := x(t.seconds(bar.Start)), x(t.seconds(bar.End))
		fmt.Fprintf(&b, `<rect class="batch %s" data-batch="%s" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s: %s, %s</title></rect>`+"\n",
			strings.ToLower(bar.Result), html.EscapeString(bar.Label), x0, y+rowH*0.15, max(1, x1-x0), rowH*0.7, hex(bar.color()),
			html.EscapeString(bar.Name()), clock(bar.End.Sub(bar.Start).Seconds()), bar.Result)
		if rowH >= 10 {
			fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", svgLeft-6, y+rowH*0.75, html.EscapeString(bar.Name()))
		}
	}
	fmt.Fprintf(&b, `<text x="%d" y="%.0f" font-size="13" font-weight="bold">Nodes at %s over time (%d in scope)</text>`+"\n",
		svgLeft, curveTop-12, "the target", t.Total)
	axis(&b, t, x, curveTop, curveTop+svgCurveH)
	y := func(n int) float64 { return curveTop + svgCurveH - svgCurveH*float64(n)/float64(max(1, t.Total)) }
	fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%d</text><text x="%d" y="%.1f" text-anchor="end">0</text>`+"\n",
		svgLeft-6, y(t.Total)+4, t.Total, svgLeft-6, y(0)+4)
	var pts []string
	last := 0
	for _, p := range t.Upgraded {
		px := x(t.seconds(p.At))
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", px, y(last)), fmt.Sprintf("%.1f,%.1f", px, y(p.Upgraded)))
		last = p.Upgraded
	}
	pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(t.span()), y(last)))
	fmt.Fprintf(&b, `<polyline class="upgraded" fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", hex(colMaster), strings.Join(pts, " "))
	b.WriteString(legend(svgLeft, height-12))
	b.WriteString("</svg>\n")
	return b.String()
}

// axis draws the time grid from top to bottom, labelled below.
func axis(b *strings.Builder, t Timeline, x func(float64) float64, top, bottom float64) {
	for _, s := range t.ticks() {
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/><text x="%.1f" y="%.1f" text-anchor="middle" fill="#555">%s</text>`+"\n",
			x(s), top, x(s), bottom, x(s), bottom+14, clock(s))
	}
	fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#888"/>`+"\n", svgLeft, bottom, svgWidth-svgRight, bottom)
}

func legend(x int, y float64) string {
	var b strings.Builder
	for _, l := range []struct {
		c    color.RGBA
		name string
	}{{colMaster, "master"}, {colSucceeded, "workers succeeded"}, {colFailed, "failed"}, {colRunning, "running"}, {colPause, "paused"}} {
		fmt.Fprintf(&b, `<rect x="%d" y="%.0f" width="10" height="10" fill="%s"/><text x="%d" y="%.0f">%s</text>`, x, y-9, hex(l.c), x+14, y, l.name)
		x += 30 + 7*len(l.name)
	}
	fmt.Fprintf(&b, "<text x=\"%d\" y=\"%.0f\" fill=\"#555\">(time since the run started)</text>\n", x, y)
	return b.String()
}

func hex(c color.RGBA) string { return fmt.Sprintf("#%02x%02x%02x", c.R, c.G, c.B) }
