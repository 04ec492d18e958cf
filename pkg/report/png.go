package report

import (
	"bytes"
	"fmt"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// bars plots batches as horizontal bars, first batch on top.
type bars struct {
	t Timeline
}

func (b bars) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	n := len(b.t.Bars)
	for _, pause := range b.t.Pauses {
		x0, x1 := trX(b.t.seconds(pause.From)), trX(b.t.seconds(pause.To))
		y0, y1 := trY(0.5), trY(float64(n)+0.5)
		pts := []vg.Point{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1}, {X: x0, Y: y1}}
		c.FillPolygon(colPause, c.ClipPolygonXY(pts))
	}
	for i, bar := range b.t.Bars {
		y := float64(n - i)
		x0, x1 := trX(b.t.seconds(bar.Start)), trX(b.t.seconds(bar.End))
		if x1-x0 < 0.8 { // keep a short batch visible
			x1 = x0 + 0.8
		}
		y0, y1 := trY(y-0.35), trY(y+0.35)
		pts := []vg.Point{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1}, {X: x0, Y: y1}}
		c.FillPolygon(bar.color(), c.ClipPolygonXY(pts))
	}
}

func (b bars) DataRange() (xmin, xmax, ymin, ymax float64) {
	return 0, b.t.span(), 0, float64(len(b.t.Bars)) + 1
}

// swatch is a legend thumbnail of one colour.
type swatch struct{ color.Color }

func (s swatch) Thumbnail(c *draw.Canvas) {
	pts := []vg.Point{{X: c.Min.X, Y: c.Min.Y}, {X: c.Max.X, Y: c.Min.Y}, {X: c.Max.X, Y: c.Max.Y}, {X: c.Min.X, Y: c.Max.Y}}
	c.FillPolygon(s.Color, c.ClipPolygonXY(pts))
}

// PNG draws the timeline as the HTML report's SVG does, for the Markdown report.
func (t Timeline) PNG() ([]byte, error) {
	top := plot.New()
	top.Title.Text = "Batches over time"
	top.X.Label.Text = "seconds since the run started"
	top.Add(bars{t})
	n := len(t.Bars)
	var ticks []plot.Tick
	every := max(1, n/40)
	for i, b := range t.Bars {
		if i%every == 0 {
			ticks = append(ticks, plot.Tick{Value: float64(n - i), Label: b.Name()})
		}
	}
	top.Y.Tick.Marker = plot.ConstantTicks(ticks)
	top.Y.Tick.Label.Font.Size = vg.Points(7)
	top.X.Min, top.X.Max = 0, t.span()
	// Bars run from the top left to the bottom right: the bottom left is free.
	top.Legend.Top, top.Legend.Left = false, true
	top.Legend.TextStyle.Font.Size = vg.Points(8)
	top.Legend.Add("master", swatch{colMaster})
	top.Legend.Add("workers succeeded", swatch{colSucceeded})
	top.Legend.Add("failed", swatch{colFailed})
	top.Legend.Add("running", swatch{colRunning})
	top.Legend.Add("paused", swatch{colPause})

	bottom := plot.New()
	bottom.Title.Text = fmt.Sprintf("Nodes at the target over time (%d in scope)", t.Total)
	bottom.X.Label.Text = "seconds since the run started"
	bottom.Y.Label.Text = "nodes"
	var pts plotter.XYs
	last := 0
	for _, p := range t.Upgraded {
		x := t.seconds(p.At)
		pts = append(pts, plotter.XY{X: x, Y: float64(last)}, plotter.XY{X: x, Y: float64(p.Upgraded)})
		last = p.Upgraded
	}
	pts = append(pts, plotter.XY{X: t.span(), Y: float64(last)})
	line, err := plotter.NewLine(pts)
	if err != nil {
		return nil, err
	}
	line.Color, line.Width = colMaster, vg.Points(1.5)
	bottom.Add(plotter.NewGrid(), line)
	bottom.X.Min, bottom.X.Max = 0, t.span()
	bottom.Y.Min, bottom.Y.Max = 0, float64(max(1, t.Total))

	h := vg.Length(4.5+0.14*float64(min(n, 60))) * vg.Inch
	img := vgimg.New(10*vg.Inch, h)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadX: vg.Millimeter, PadY: 4 * vg.Millimeter,
		PadTop: 2 * vg.Millimeter, PadBottom: 2 * vg.Millimeter, PadLeft: 2 * vg.Millimeter, PadRight: 4 * vg.Millimeter}
	cs := plot.Align([][]*plot.Plot{{top}, {bottom}}, tiles, dc)
	top.Draw(cs[0][0])
	bottom.Draw(cs[1][0])
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("draw the timeline: %w", err)
	}
	return buf.Bytes(), nil
}
