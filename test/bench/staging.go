package main

// The staging benchmark (docs/bench.md, "Staging"): one lab of N workers whose links
// follow a distribution, an upgrade image of a given size pulled only where missing,
// a fixed swap per node; `start --wait` without staging (--no-stage), then with it
// (default), each on nodes that lack that run's images (each run names its own tag).
// It reports both wall times against the ideal of the staging policy and writes a
// timeline plot. Durations may be divided by a time scale (image size and swap ÷ S;
// link speeds kept), which the report states.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"k8s.io/apimachinery/pkg/api/resource"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/store"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
	"github.com/edgeupgrade/kubectl-edgeupgrade/test/lab"
	"github.com/edgeupgrade/kubectl-edgeupgrade/test/lab/sim"
)

type stagingConfig struct {
	Workers, Masters int
	Scale            float64       // all durations ÷ Scale
	ScaleWithout     float64       // the run without staging's scale (0: Scale)
	Swap             time.Duration // per node, before scaling
	ImageBytes       int64         // upgrade image, before scaling
	Links            string
	Plugin, Out      string
	Timeout          time.Duration
	Log              sizeConfig // for logf
}

type stagingRaw struct {
	Workers     int            `json:"workers"`
	Masters     int            `json:"masters"`
	Scale       float64        `json:"scale"`
	SwapSeconds float64        `json:"swapSeconds"` // unscaled
	ImageBytes  int64          `json:"imageBytes"`  // unscaled
	Links       string         `json:"links"`
	MaxPulls    int            `json:"maxPulls"`
	Date        string         `json:"date"`
	Plugin      string         `json:"plugin"`
	Machine     machine        `json:"machine"`
	Runs        []stagingRun   `json:"runs"`
	Ideal       stagingIdeal   `json:"ideal"` // unscaled seconds
	Speeds      map[string]int `json:"speedCounts"`
}

type stagingRun struct {
	Name       string     `json:"name"`
	Wall       float64    `json:"wall"` // seconds as measured (scaled)
	ExitCode   int        `json:"exitCode"`
	LoadBefore [3]float64 `json:"loadBefore"`
	LoadAfter  [3]float64 `json:"loadAfter"`
	BusyCores  float64    `json:"busyCores"`
	Batches    int        `json:"batches"`
	StateBytes int        `json:"stateBytes"` // data of the state ConfigMap at the end
	Stage      []span     `json:"stage,omitempty"`
	Nodes      []span     `json:"nodes"`
	Error      string     `json:"error,omitempty"`
	Start      float64    `json:"start"`
	Scale      float64    `json:"scale,omitempty"` // this run's time scale (0: the raw's)
}

// scaleOf is a run's time scale.
func (r *stagingRaw) scaleOf(run stagingRun) float64 {
	if run.Scale > 0 {
		return run.Scale
	}
	return r.Scale
}

// span is one Job on a timeline, in seconds since its run's plugin started.
type span struct {
	Node      string  `json:"node"`
	Batch     string  `json:"batch,omitempty"`
	Created   float64 `json:"created"`
	Running   float64 `json:"running"` // its pod's containers started (images pulled)
	Finished  float64 `json:"finished"`
	LinkSpeed string  `json:"link,omitempty"`
}

// stagingIdeal are the policy's schedules with no orchestration cost at all.
type stagingIdeal struct {
	SwapBound float64 `json:"swapBound"` // Σ over batches of the slowest swap
	With      float64 `json:"with"`      // staging as the run does it (order, pulls at once)
	Without   float64 `json:"without"`   // each batch pulls, then swaps
}

func runStaging(ctx context.Context, c stagingConfig) error {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	r := &stagingRaw{Workers: c.Workers, Masters: c.Masters, Scale: c.Scale, SwapSeconds: c.Swap.Seconds(), ImageBytes: c.ImageBytes,
		Links: c.Links, Date: time.Now().UTC().Format(time.RFC3339), Plugin: pluginVersion(c.Plugin), Machine: describeMachine()}
	r.Machine.Kube, r.Machine.Etcd, r.Machine.Kwok = lab.KubeVersion, lab.EtcdVersion, lab.KwokVersion
	shares, err := lab.ParseLinkSpeeds(c.Links)
	if err != nil {
		return err
	}
	c.Log.logf("staging: starting a lab of %d masters and %d workers (links %s, image %d MiB, swap %s, time ÷ %g)",
		c.Masters, c.Workers, c.Links, c.ImageBytes>>20, c.Swap, c.Scale)
	l, err := lab.Start(ctx, lab.Config{Masters: c.Masters, Workers: c.Workers, Pools: 1, From: "v1.35.4",
		JobDuration: time.Duration(float64(c.Swap) / c.Scale), Progress: prefixWriter{c.Log}})
	if err != nil {
		return err
	}
	defer l.Stop()
	speeds := lab.AssignLinkSpeeds(l.Topology.Workers(), shares)
	r.Speeds = map[string]int{}
	for _, s := range speeds {
		r.Speeds[s]++
	}
	for _, m := range l.Topology.Masters {
		speeds[m] = "100Mbit" // a control-plane site is well connected
	}
	r.MaxPulls = upgrade.CapFor(c.Workers, 0)
	for _, name := range []string{"without", "with"} {
		scale := c.Scale
		if name == "without" && c.ScaleWithout > 0 {
			scale = c.ScaleWithout
		}
		swap := time.Duration(float64(c.Swap) / scale)
		size := fmt.Sprint(int64(float64(c.ImageBytes) / scale))
		if name == "with" {
			if err := l.Reset(ctx); err != nil {
				return err
			}
		}
		if err := l.SetDefaultJobDuration(ctx, swap); err != nil {
			return err
		}
		if err := l.SetImageSizes(ctx, size, ""); err != nil {
			return err
		}
		for n, s := range speeds {
			if err := l.SetLinkSpeed(ctx, n, s); err != nil {
				return err
			}
		}
		run, err := stagingRunOnce(ctx, c, l, name, speeds)
		run.Scale = scale
		r.Runs = append(r.Runs, run)
		if err != nil {
			return err
		}
	}
	r.Ideal = idealStaging(l.Topology, speeds, c.ImageBytes, c.Swap.Seconds(), r.MaxPulls, r.Runs[1])
	return saveStaging(c.Out, r)
}

func stagingRunOnce(ctx context.Context, c stagingConfig, l *lab.Lab, name string, speeds map[string]string) (stagingRun, error) {
	run := stagingRun{Name: name, LoadBefore: loadavg()}
	args := []string{"start", "--to", "v1.36.3", "--wait",
		"--preprocess-image", "registry.invalid/edgeupgrade/node-preprocess:" + name,
		"--upgrade-image", "registry.invalid/edgeupgrade/upgrade:" + name}
	if name == "without" {
		args = append(args, "--no-stage")
	}
	c.Log.logf("staging: run %q: %s", name, strings.Join(args, " "))
	epoch := time.Now()
	busy0 := machineBusy()
	res, err := runPlugin(ctx, c.Plugin, epoch, l.Kubeconfig, args...)
	if err != nil {
		return run, err
	}
	run.Start, run.Wall, run.ExitCode = 0, res.end-res.start, res.exitCode
	run.BusyCores, run.LoadAfter = busyCores(busy0, machineBusy()), loadavg()
	c.Log.logf("staging: run %q exited %d after %.1fs", name, res.exitCode, run.Wall)
	if res.exitCode != 0 {
		run.Error = res.stderrTail
		return run, fmt.Errorf("run %s: start --wait exited %d: %s", name, res.exitCode, res.stderrTail)
	}
	pluginStart := epoch.Add(time.Duration(res.start * float64(time.Second)))
	if err := collectSpans(ctx, l, &run, pluginStart, speeds); err != nil {
		return run, err
	}
	cm, err := l.Client.CoreV1().ConfigMaps(job.Namespace).Get(ctx, store.Name, metav1.GetOptions{})
	if err != nil {
		return run, err
	}
	run.StateBytes = dataBytes(cm)
	return run, nil
}

// collectSpans reads the run's Jobs and pods once it ended: creation, containers
// started (the pull done) and finished, to the second the API server records.
func collectSpans(ctx context.Context, l *lab.Lab, run *stagingRun, t0 time.Time, speeds map[string]string) error {
	jobs, err := l.Client.BatchV1().Jobs(job.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	pods, err := l.Client.CoreV1().Pods(job.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	podOf := map[string]*corev1.Pod{}
	for i := range pods.Items {
		podOf[pods.Items[i].Labels[batchv1.JobNameLabel]] = &pods.Items[i]
	}
	sec := func(t time.Time) float64 { return t.Sub(t0).Seconds() }
	batches := map[string]bool{}
	for _, j := range jobs.Items {
		s := span{Node: j.Annotations[job.AnnotationNode], Batch: j.Labels[job.LabelBatch], Created: sec(j.CreationTimestamp.Time)}
		s.LinkSpeed = speeds[s.Node]
		if p := podOf[j.Name]; p != nil {
			s.Running, s.Finished = containerTimes(p, sec)
		}
		switch j.Labels[job.LabelComponent] {
		case job.ComponentStage:
			run.Stage = append(run.Stage, s)
		case job.ComponentNodeUpgrade:
			run.Nodes = append(run.Nodes, s)
			batches[s.Batch] = true
		}
	}
	run.Batches = len(batches)
	sort.Slice(run.Nodes, func(i, j int) bool { return run.Nodes[i].Created < run.Nodes[j].Created })
	sort.Slice(run.Stage, func(i, j int) bool { return run.Stage[i].Created < run.Stage[j].Created })
	return nil
}

// containerTimes: when the pod's first container started and its last finished.
func containerTimes(p *corev1.Pod, sec func(time.Time) float64) (started, finished float64) {
	started, finished = math.Inf(1), 0
	for _, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
		for _, cs := range list {
			if t := cs.State.Terminated; t != nil {
				started, finished = min(started, sec(t.StartedAt.Time)), max(finished, sec(t.FinishedAt.Time))
			}
		}
	}
	if math.IsInf(started, 1) {
		started = 0
	}
	return started, finished
}

// idealStaging computes, in unscaled seconds, the policy's schedules with zero
// orchestration cost: pulls take size ÷ link, swaps take swap. With staging, nodes are
// staged in upgrade order, maxPulls at once; a batch starts when the previous one
// ended and enough of its pool's nodes are staged (the first staged ones in order);
// masters one at a time. Without, a batch lasts its slowest pull plus the swap. The
// batch sizes are the run's (1, 2, 4, … capped).
func idealStaging(t lab.Topology, speeds map[string]string, size int64, swap float64, maxPulls int, with stagingRun) stagingIdeal {
	pull := func(n string) float64 {
		bps, _ := sim.ParseLinkSpeed(speeds[n])
		return sim.PullDuration(size, bps).Seconds()
	}
	masters := slices.Sorted(slices.Values(t.Masters))
	workers := slices.Sorted(slices.Values(t.Workers()))
	order := append(slices.Clone(masters), workers...)
	// Staging: list scheduling over maxPulls slots, in order.
	staged := map[string]float64{}
	slots := make([]float64, maxPulls)
	for _, n := range order {
		i := slices.Index(slots, slices.Min(slots))
		slots[i] += pull(n)
		staged[n] = slots[i]
	}
	var id stagingIdeal
	now, without := 0.0, 0.0
	for _, m := range masters {
		now = max(now, staged[m]) + swap
		without += pull(m) + swap
	}
	id.SwapBound = float64(len(masters)) * swap
	left := slices.Clone(workers)
	for _, size := range batchSizes(with) {
		size = min(size, len(left))
		if size == 0 {
			break
		}
		// The first size nodes in order staged by now, else wait for the size-th.
		byTime := slices.Clone(left)
		sort.SliceStable(byTime, func(i, j int) bool { return staged[byTime[i]] < staged[byTime[j]] })
		now = max(now, staged[byTime[size-1]])
		var pick []string
		for _, n := range left {
			if staged[n] <= now && len(pick) < size {
				pick = append(pick, n)
			}
		}
		slowest := 0.0
		for _, n := range left[:size] { // without staging: the batch in plan order
			slowest = max(slowest, pull(n))
		}
		without += slowest + swap
		left = slices.DeleteFunc(left, func(n string) bool { return slices.Contains(pick, n) })
		now += swap
		id.SwapBound += swap
	}
	id.With, id.Without = now, without
	return id
}

// batchSizes are the worker batch sizes of a run, in order.
func batchSizes(r stagingRun) []int {
	count := map[string]int{}
	for _, s := range r.Nodes {
		count[s.Batch]++
	}
	var labels []string
	for l := range count {
		if !isMaster(l) {
			labels = append(labels, l)
		}
	}
	sort.Slice(labels, func(i, j int) bool {
		return len(labels[i]) < len(labels[j]) || (len(labels[i]) == len(labels[j]) && labels[i] < labels[j])
	})
	out := make([]int, len(labels))
	for i, l := range labels {
		out[i] = count[l]
	}
	return out
}

func saveStaging(dir string, r *stagingRaw) error {
	// Not in raw/: the main report reads every file there as one of its sizes.
	if err := os.MkdirAll(filepath.Join(dir, "raw-staging"), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r, "", " ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "raw-staging", fmt.Sprintf("%d.json", r.Workers)), b, 0o644); err != nil {
		return err
	}
	return writeStagingReport(dir, r)
}

func writeStagingReport(dir string, r *stagingRaw) error {
	without, with := r.Runs[0], r.Runs[1]
	s, sw := r.scaleOf(with), r.scaleOf(without)
	ratio := with.Wall * s / r.Ideal.With
	speedup := without.Wall * sw / (with.Wall * s)
	// Scaled further, the run without staging weighs its orchestration more than the
	// run with it: then only the bound by its ideal (which no run beats) counts.
	bound := r.Ideal.Without / (with.Wall * s)
	judged := speedup
	if sw != s {
		judged = min(speedup, bound)
	}
	met := func(ok bool) string {
		if ok {
			return "yes"
		}
		return "**no**"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Staging benchmark\n\nGenerated by `test/bench -staging` (`make bench-staging`, part of `make bench`); method in [docs/bench.md](../../docs/bench.md#staging).\n\n")
	fmt.Fprintf(&b, "- Lab: %d workers in 1 pool + %d master(s); links %s (%v); upgrade image %d MiB; swap %gs per node; pulls at once: %d (the default, the batch cap)\n",
		r.Workers, r.Masters, r.Links, r.Speeds, r.ImageBytes>>20, r.SwapSeconds, r.MaxPulls)
	fmt.Fprintf(&b, "- **Time scale ÷ %g** (the run without staging ÷ %g): image size and swap divided by it (link speeds kept), so every pull and swap is that much shorter; wall times below are multiplied back. The plugin's and the control plane's own costs (reaction, Job → pod) are not scaled, so they weigh that much more than at real scale.\n",
		s, sw)
	fmt.Fprintf(&b, "- Machine: %s, %d cores; load average (1 min) before/after: without %.1f/%.1f, with %.1f/%.1f; busy cores %.2f / %.2f; %s\n",
		r.Machine.CPU, r.Machine.Cores, without.LoadBefore[0], without.LoadAfter[0], with.LoadBefore[0], with.LoadAfter[0], without.BusyCores, with.BusyCores, r.Date)
	fmt.Fprintf(&b, "\n| | without staging (`--no-stage`) | with staging | ideal with staging | Σ slowest swap |\n|---|---|---|---|---|\n")
	fmt.Fprintf(&b, "| total upgrade time (real-scale seconds) | %.0f s | %.0f s | %.0f s | %.0f s |\n", without.Wall*sw, with.Wall*s, r.Ideal.With, r.Ideal.SwapBound)
	fmt.Fprintf(&b, "| measured (scaled) | %.1f s (÷ %g) | %.1f s (÷ %g) | %.1f s | %.1f s |\n", without.Wall, sw, with.Wall, s, r.Ideal.With/s, r.Ideal.SwapBound/s)
	fmt.Fprintf(&b, "| batches (masters + workers) | %d | %d | | |\n", without.Batches, with.Batches)
	fmt.Fprintf(&b, "| state ConfigMap data at the end | %d B | %d B (%+d B, whatever the node count: the two digests and the flags; 0 B per node) | | |\n",
		without.StateBytes, with.StateBytes, with.StateBytes-without.StateBytes)
	fmt.Fprintf(&b, "\n| target | measured | met |\n|---|---|---|\n")
	fmt.Fprintf(&b, "| with staging ≤ 1.10 × ideal | %.3f | %s |\n", ratio, met(ratio <= 1.10))
	fmt.Fprintf(&b, "| with staging ≥ 3× faster than without | %.2f× measured; %.2f× against the ideal without staging (%.0f s, a bound no run beats) | %s |\n",
		speedup, bound, r.Ideal.Without, met(judged >= 3))
	fmt.Fprintf(&b, "\nIdeal without staging (each batch its slowest pull + the swap, no orchestration cost): %.0f s. "+
		"The orchestration's own time in the run with staging: %.1f s scaled (%.0f s of the %.0f s real-scale figure), i.e. %.2f s per batch.\n",
		r.Ideal.Without, with.Wall-r.Ideal.With/s, with.Wall*s-r.Ideal.With, with.Wall*s, (with.Wall-r.Ideal.With/s)/float64(max(1, with.Batches)))
	fmt.Fprintf(&b, "\n![timeline](staging-%d.png)\n", r.Workers)
	if err := os.WriteFile(filepath.Join(dir, "STAGING.md"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	return plotStaging(filepath.Join(dir, fmt.Sprintf("staging-%d.png", r.Workers)), r)
}

var colPull = colStart // pulling, before the containers start

// plotStaging draws both runs: for each node Job a bar from creation through its pull
// (orange) and swap (blue), and with staging the staging Jobs' pulls (lower, orange),
// nodes in the order their upgrade began.
func plotStaging(path string, r *stagingRaw) error {
	var ps []*plot.Plot
	for _, run := range r.Runs {
		p := plot.New()
		p.Title.Text = fmt.Sprintf("%s staging: %d workers, links %s, %d MiB image, %gs swap (time ÷ %g): %.1fs scaled",
			run.Name, r.Workers, r.Links, r.ImageBytes>>20, r.SwapSeconds, r.scaleOf(run), run.Wall)
		p.Title.TextStyle.Font.Size = vg.Points(10)
		p.X.Label.Text = "seconds since the plugin started (scaled)"
		p.Y.Label.Text = "node (in upgrade order)"
		var bs bars
		bs.H = 1
		row := map[string]float64{}
		for i, s := range run.Nodes {
			y := float64(len(run.Nodes) - i)
			row[s.Node] = y
			bs.Segs = append(bs.Segs, segment{s.Created, s.Running, y, colPull}, segment{s.Running, s.Finished, y, colUpgrade})
		}
		for _, s := range run.Stage {
			if y, ok := row[s.Node]; ok {
				bs.Segs = append(bs.Segs, segment{s.Created, s.Finished, y, colJobCtl})
			}
		}
		p.Add(bs)
		p.Legend.Top, p.Legend.Left = true, false
		p.Legend.TextStyle.Font.Size = vg.Points(8)
		p.Legend.Add("node Job created → containers started (its pull, if any)", swatch{colPull})
		p.Legend.Add("swap (simulated node upgrade)", swatch{colUpgrade})
		p.Legend.Add("staging Job (pull, nothing disrupted)", swatch{colJobCtl})
		p.X.Min = 0
		ps = append(ps, p)
	}
	img := vgimg.New(11*vg.Inch, 9*vg.Inch)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: len(ps), Cols: 1, PadX: vg.Millimeter, PadY: 4 * vg.Millimeter,
		PadTop: 2 * vg.Millimeter, PadBottom: 2 * vg.Millimeter, PadLeft: 2 * vg.Millimeter, PadRight: 4 * vg.Millimeter}
	grid := make([][]*plot.Plot, len(ps))
	for i, p := range ps {
		grid[i] = []*plot.Plot{p}
	}
	cs := plot.Align(grid, tiles, dc)
	for i, p := range ps {
		p.Draw(cs[i][0])
	}
	return writePNG(path, img)
}

// stagingOptions are the flags of the staging benchmark (-staging).
type stagingOptions struct {
	workers, masters *int
	scale            *float64
	scaleWithout     *float64
	swap             *time.Duration
	image, links     *string
	on               *bool
}

func stagingFlags() stagingOptions {
	return stagingOptions{
		on:           flag.Bool("staging", false, "run the staging benchmark instead (STAGING.md, staging-N.png)"),
		workers:      flag.Int("staging-workers", 1000, "workers of the staging benchmark"),
		masters:      flag.Int("staging-masters", 1, "masters of the staging benchmark"),
		scale:        flag.Float64("time-scale", 20, "divide the image size and the swap by this (link speeds kept)"),
		scaleWithout: flag.Float64("time-scale-without", 0, "the run without staging's scale (default: -time-scale); a larger one saves hours, and the speed-up is then judged against the ideal without staging"),
		swap:         flag.Duration("swap", 60*time.Second, "swap per node, before scaling"),
		image:        flag.String("image-size", "64Mi", "upgrade image size, before scaling"),
		links:        flag.String("links", "10%=1Mbit,60%=10Mbit,30%=100Mbit", "link speeds of the workers"),
	}
}

func (o stagingOptions) enabled() bool { return *o.on }

func (o stagingOptions) run(plugin, out string, timeout time.Duration) error {
	if plugin == "" {
		return errors.New("-plugin is required")
	}
	abs, err := filepath.Abs(plugin)
	if err != nil {
		return err
	}
	q, err := resource.ParseQuantity(*o.image)
	if err != nil || *o.scale < 1 {
		return fmt.Errorf("-image-size %q or -time-scale %g: want a size such as 64Mi and a scale of at least 1", *o.image, *o.scale)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runStaging(ctx, stagingConfig{Workers: *o.workers, Masters: *o.masters, Scale: *o.scale, ScaleWithout: *o.scaleWithout, Swap: *o.swap,
		ImageBytes: q.Value(), Links: *o.links, Plugin: abs, Out: out, Timeout: timeout,
		Log: sizeConfig{Workers: *o.workers, Log: os.Stderr}})
}

// rewriteStagingReports regenerates STAGING.md and its plot from raw-staging/*.json.
func rewriteStagingReports(dir string) error {
	files, err := filepath.Glob(filepath.Join(dir, "raw-staging", "*.json"))
	if err != nil {
		return err
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var r stagingRaw
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		if len(r.Runs) == 2 {
			if err := writeStagingReport(dir, &r); err != nil {
				return err
			}
		}
	}
	return nil
}
