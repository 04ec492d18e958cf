package main

import (
	"fmt"
	"image/color"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

var (
	colStart    = color.RGBA{R: 0xf2, G: 0x9e, B: 0x4c, A: 0xff} // Job created → pod Running
	colUpgrade  = color.RGBA{R: 0x4c, G: 0x78, B: 0xa8, A: 0xff} // simulated node upgrade
	colJobCtl   = color.RGBA{R: 0xe1, G: 0x57, B: 0x59, A: 0xff} // pod done → Job Complete
	colReaction = color.RGBA{R: 0x59, G: 0xa1, B: 0x4f, A: 0xff} // previous batch Complete → first Job
	colIdeal    = color.RGBA{R: 0x88, G: 0x88, B: 0x88, A: 0xff}
)

// segment is a horizontal bar from X0 to X1 at row Y.
type segment struct {
	X0, X1, Y float64
	Color     color.Color
}

// bars draws segments as horizontal bars of height H (in row units).
type bars struct {
	Segs []segment
	H    float64
}

func (b bars) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	for _, s := range b.Segs {
		if s.X1 <= s.X0 {
			continue
		}
		x0, x1 := trX(s.X0), trX(s.X1)
		if x1-x0 < 0.6 { // keep sub-pixel segments visible
			x1 = x0 + 0.6
		}
		pts := []vg.Point{{X: x0, Y: trY(s.Y - b.H/2)}, {X: x1, Y: trY(s.Y - b.H/2)}, {X: x1, Y: trY(s.Y + b.H/2)}, {X: x0, Y: trY(s.Y + b.H/2)}}
		c.FillPolygon(s.Color, c.ClipPolygonXY(pts))
	}
}

func (b bars) DataRange() (xmin, xmax, ymin, ymax float64) {
	xmin, ymin = 1e18, 1e18
	xmax, ymax = -1e18, -1e18
	for _, s := range b.Segs {
		xmin, xmax = min(xmin, s.X0), max(xmax, s.X1)
		ymin, ymax = min(ymin, s.Y-b.H), max(ymax, s.Y+b.H)
	}
	return
}

// swatch is a legend thumbnail of one colour.
type swatch struct{ color.Color }

func (s swatch) Thumbnail(c *draw.Canvas) {
	pts := []vg.Point{{X: c.Min.X, Y: c.Min.Y}, {X: c.Max.X, Y: c.Min.Y}, {X: c.Max.X, Y: c.Max.Y}, {X: c.Min.X, Y: c.Max.Y}}
	c.FillPolygon(s.Color, c.ClipPolygonXY(pts))
}

// plotTimeline writes the PNG timeline of one size: batches as bars over time (top)
// and nodes at the target version over time against the ideal schedule (bottom).
func plotTimeline(path string, r *raw, s summary) error {
	t0 := r.PluginStart
	top := plot.New()
	top.Title.Text = fmt.Sprintf("start --wait, %d nodes (%d masters + %d workers, %d pool(s)), simulated upgrade %gs: wall %.1fs, ideal %.0fs (×%.2f)",
		s.Nodes, s.Masters, s.Workers, r.Pools, r.JobSeconds, s.Wall, s.Ideal, s.Ratio)
	top.Title.TextStyle.Font.Size = vg.Points(10)
	top.Y.Label.Text = "batch"
	top.X.Label.Text = "seconds since the plugin started"
	var b bars
	b.H = 0.7
	var ticks []plot.Tick
	n := len(s.Batch)
	for i, bt := range s.Batch {
		y := float64(n - i) // first batch on top
		b.Segs = append(b.Segs,
			segment{bt.Start - t0, bt.RunningLast - t0, y, colStart},
			segment{bt.RunningLast - t0, bt.PodDoneLast - t0, y, colUpgrade},
			segment{bt.PodDoneLast - t0, bt.End - t0, y - 0.2, colJobCtl})
		if i > 0 {
			b.Segs = append(b.Segs, segment{s.Batch[i-1].PodDoneLast - t0, bt.Start - t0, y, colReaction})
		}
		label := bt.Label
		if !isMaster(label) {
			label = fmt.Sprintf("%s (%d)", bt.Label, bt.Size)
		}
		if n <= 40 || i%2 == 0 {
			ticks = append(ticks, plot.Tick{Value: y, Label: label})
		}
	}
	top.Add(b)
	top.Y.Tick.Marker = plot.ConstantTicks(ticks)
	top.Y.Tick.Label.Font.Size = vg.Points(7)
	top.Legend.Top = true
	top.Legend.Left = false
	top.Legend.TextStyle.Font.Size = vg.Points(8)
	top.Legend.Add("Job created → last pod Running", swatch{colStart})
	top.Legend.Add("simulated node upgrade", swatch{colUpgrade})
	top.Legend.Add("last pod done → Job Complete (job controller), lower", swatch{colJobCtl})
	top.Legend.Add("last node of the previous batch done → first Job (reaction)", swatch{colReaction})
	top.X.Min, top.X.Max = 0, s.Wall

	bottom := plot.New()
	bottom.Y.Label.Text = "nodes at target"
	bottom.X.Label.Text = "seconds since the plugin started"
	curve := upgradedCurve(r)
	pts := make(plotter.XYs, 0, 2*len(curve)+2)
	pts = append(pts, plotter.XY{X: 0, Y: 0})
	for i, t := range curve {
		pts = append(pts, plotter.XY{X: t - t0, Y: float64(i)}, plotter.XY{X: t - t0, Y: float64(i + 1)})
	}
	pts = append(pts, plotter.XY{X: s.Wall, Y: float64(len(curve))})
	line, err := plotter.NewLine(pts)
	if err != nil {
		return err
	}
	line.Color, line.Width = colUpgrade, vg.Points(1.5)
	bottom.Add(line)
	bottom.Legend.Add("measured", line)
	if n > 0 {
		ideal := plotter.XYs{{X: s.Batch[0].Start - t0, Y: 0}}
		x, done := s.Batch[0].Start-t0, 0
		for _, bt := range s.Batch {
			x += r.JobSeconds
			ideal = append(ideal, plotter.XY{X: x, Y: float64(done)})
			done += bt.Size
			ideal = append(ideal, plotter.XY{X: x, Y: float64(done)})
		}
		il, err := plotter.NewLine(ideal)
		if err != nil {
			return err
		}
		il.Color, il.Dashes = colIdeal, []vg.Length{vg.Points(4), vg.Points(3)}
		bottom.Add(il)
		bottom.Legend.Add("ideal (batches back to back, from the first Job)", il)
	}
	bottom.Legend.Top, bottom.Legend.Left = true, true
	bottom.Legend.TextStyle.Font.Size = vg.Points(8)
	bottom.X.Min, bottom.X.Max = 0, s.Wall
	bottom.Add(plotter.NewGrid())

	h := vg.Length(4.5+0.14*float64(min(n, 60))) * vg.Inch
	img := vgimg.New(11*vg.Inch, h)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadX: vg.Millimeter, PadY: 4 * vg.Millimeter,
		PadTop: 2 * vg.Millimeter, PadBottom: 2 * vg.Millimeter, PadLeft: 2 * vg.Millimeter, PadRight: 4 * vg.Millimeter}
	cs := plot.Align([][]*plot.Plot{{top}, {bottom}}, tiles, dc)
	top.Draw(cs[0][0])
	bottom.Draw(cs[1][0])
	return writePNG(path, img)
}

// plotConfigMap writes the growth curve of the state ConfigMap: measured maxima and
// the encoded size of the largest state per node count, to 10,000 nodes.
func plotConfigMap(path string, measured []summary, model []cmModelRow) error {
	p := plot.New()
	p.Title.Text = "state ConfigMap size at its largest (a full batch of 10% of the workers in flight)"
	p.Title.TextStyle.Font.Size = vg.Points(10)
	p.X.Label.Text = "worker nodes"
	p.Y.Label.Text = "KiB"
	limit, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 64}, {X: 10000, Y: 64}})
	if err != nil {
		return err
	}
	limit.Color, limit.Dashes = color.RGBA{R: 0xc0, A: 0xff}, []vg.Length{vg.Points(5), vg.Points(3)}
	p.Add(limit)
	p.Legend.Add("64 KiB target", limit)
	for i, m := range []struct {
		name string
		f    func(cmModelRow) int
		col  color.Color
	}{
		{"model: lab names (edge-a-NNN), clean run", func(r cmModelRow) int { return r.Lab }, colUpgrade},
		{"model: 40-byte names, clean run", func(r cmModelRow) int { return r.Name40 }, colStart},
		{"model: 63-byte names, clean run", func(r cmModelRow) int { return r.Name63 }, colJobCtl},
		{"model: 40-byte names, worst case (whole batch failed, 20 failures)", func(r cmModelRow) int { return r.Worst40 }, colIdeal},
	} {
		var pts plotter.XYs
		for _, r := range model {
			pts = append(pts, plotter.XY{X: float64(r.Workers), Y: float64(m.f(r)) / 1024})
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return err
		}
		l.Color, l.Width = m.col, vg.Points(1.2)
		if i == 3 {
			l.Dashes = []vg.Length{vg.Points(2), vg.Points(2)}
		}
		p.Add(l)
		p.Legend.Add(m.name, l)
	}
	if len(measured) > 0 {
		var pts plotter.XYs
		for _, s := range measured {
			pts = append(pts, plotter.XY{X: float64(s.Workers), Y: float64(s.CMDataMax) / 1024})
		}
		sc, err := plotter.NewScatter(pts)
		if err != nil {
			return err
		}
		sc.Shape, sc.Radius, sc.Color = draw.CircleGlyph{}, vg.Points(4), color.Black
		p.Add(sc)
		p.Legend.Add("measured in the lab (lab names)", sc)
	}
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.TextStyle.Font.Size = vg.Points(8)
	p.Add(plotter.NewGrid())
	p.X.Min, p.Y.Min = 0, 0
	img := vgimg.New(9*vg.Inch, 5*vg.Inch)
	p.Draw(draw.New(img))
	return writePNG(path, img)
}

func writePNG(path string, img *vgimg.Canvas) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		_ = f.Close() // the write error wins
		return err
	}
	return f.Close()
}
