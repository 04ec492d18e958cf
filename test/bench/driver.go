package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/store"
	"github.com/edgeupgrade/kubectl-edgeupgrade/test/lab"
)

// The in-cluster driver's memory: the pod's request is what a detached run costs the
// cluster, and the targets are for it. The lab runs the driver pod's process
// (the edgeupgrade image's edgeupgrade-driver binary) with the pod's environment,
// GOMEMLIMIT included, so what is measured here is what the pod would use.

// driverRaw is one detached run: `start --detach`, then the driver pod's process
// drives the run to its end while its memory is sampled.
type driverRaw struct {
	Workers       int     `json:"workers"`
	Masters       int     `json:"masters"`
	JobSeconds    float64 `json:"jobSeconds"`
	Date          string  `json:"date"`
	PluginVersion string  `json:"pluginVersion"`
	Machine       machine `json:"machine"`
	// Peak RSS (VmHWM) and anonymous RSS over the driver's processes, KiB.
	MaxRSSKiB  int64 `json:"maxRSSKiB"`
	MaxAnonKiB int64 `json:"maxAnonKiB"`
	// CPU seconds of the driver's processes, as last sampled.
	CPUSeconds float64 `json:"cpuSeconds"`
	// Wall seconds from start --detach to the state Completed.
	WallSeconds float64 `json:"wallSeconds"`
	// The driver pod's memory request and GOMEMLIMIT as the run set them, bytes.
	RequestBytes int64    `json:"requestBytes"`
	GoMemLimit   int64    `json:"goMemLimit"`
	Pods         []string `json:"pods"`
	LoadBefore   [3]float64
	LoadAfter    [3]float64
	Error        string `json:"error,omitempty"`
}

// measureDriver starts a lab that runs driver pods with driverBin, starts a detached
// run and samples the driver's processes until the run completes.
func measureDriver(ctx context.Context, c sizeConfig, driverBin string) (*driverRaw, error) {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	r := &driverRaw{Workers: c.Workers, Masters: c.Masters, JobSeconds: c.JobDuration.Seconds(),
		Date: time.Now().UTC().Format(time.RFC3339), Machine: describeMachine(), PluginVersion: pluginVersion(c.Plugin)}
	c.logf("driver: starting a lab: %d masters, %d workers, the driver pods run %s", c.Masters, c.Workers, driverBin)
	l, err := lab.Start(ctx, lab.Config{Masters: c.Masters, Workers: c.Workers, Pools: c.Pools, From: c.From,
		JobDuration: c.JobDuration, DriverBinary: driverBin, Progress: prefixWriter{c}})
	if err != nil {
		return r, err
	}
	defer l.Stop()
	// The driver's ServiceAccount and RBAC, as an operator applies them.
	if _, err := lab.Kubectl(ctx, l.Kubeconfig, "apply", "-f", "../manifests/"); err != nil {
		return r, err
	}
	req, _, goMem := job.DriverMemory(c.Workers + c.Masters)
	r.RequestBytes, r.GoMemLimit = req.Value(), goMem
	r.LoadBefore = loadavg()
	t0 := time.Now()
	res, err := runPlugin(ctx, c.Plugin, t0, l.Kubeconfig, "start", "--to", c.Target, "--detach", "--no-stage",
		"--preprocess-image", "registry.invalid/edgeupgrade/node-preprocess:bench",
		"--upgrade-image", "registry.invalid/edgeupgrade/upgrade:bench",
		"--driver-image", "registry.invalid/edgeupgrade/edgeupgrade:bench")
	if err != nil {
		return r, err
	}
	if res.exitCode != 0 {
		return r, fmt.Errorf("start --detach exited %d: %s", res.exitCode, res.stderrTail)
	}
	s := newDriverSampler()
	done := false
	for !done {
		select {
		case <-ctx.Done():
			return r, fmt.Errorf("the detached run did not complete: %w", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
		s.sample(l.DriverPIDs())
		if time.Since(s.lastCheck) > time.Second {
			s.lastCheck = time.Now()
			done, err = completed(ctx, l)
			if err != nil {
				return r, err
			}
		}
	}
	r.WallSeconds = time.Since(t0).Seconds()
	for time.Since(s.lastCheck) < 5*time.Second && len(l.DriverPIDs()) > 0 { // the driver exits after its last line
		s.sample(l.DriverPIDs())
		time.Sleep(10 * time.Millisecond)
	}
	r.LoadAfter = loadavg()
	r.MaxRSSKiB, r.MaxAnonKiB, r.CPUSeconds, r.Pods = s.result()
	c.logf("driver: completed in %.0fs; driver peak RSS %d MiB (anonymous %d MiB), CPU %.1f s, pods %v",
		r.WallSeconds, r.MaxRSSKiB/1024, r.MaxAnonKiB/1024, r.CPUSeconds, r.Pods)
	return r, nil
}

func completed(ctx context.Context, l *lab.Lab) (bool, error) {
	cm, err := l.Client.CoreV1().ConfigMaps(job.Namespace).Get(ctx, store.Name, metav1.GetOptions{})
	if err != nil {
		return false, nil // the API server is busy: next time
	}
	st, err := store.Decode(cm)
	if err != nil {
		return false, err
	}
	if st.Pause != nil || st.Phase.Terminal() && st.Phase != "Completed" {
		return false, fmt.Errorf("the detached run ended %s (%v)", st.Phase, st.Pause)
	}
	return st.Phase == "Completed", nil
}

// driverSampler keeps each driver process's peaks and last CPU reading.
type driverSampler struct {
	peak, anon map[int]int64
	cpu        map[int]float64
	pods       map[string]bool
	lastCheck  time.Time
}

func newDriverSampler() *driverSampler {
	return &driverSampler{peak: map[int]int64{}, anon: map[int]int64{}, cpu: map[int]float64{}, pods: map[string]bool{}}
}

func (s *driverSampler) sample(pids map[string]int) {
	for pod, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		s.pods[pod] = true
		hwm, anon := memOf(string(b))
		s.peak[pid], s.anon[pid] = max(s.peak[pid], hwm), max(s.anon[pid], anon)
		if c := procCPU(pid); c > 0 {
			s.cpu[pid] = c
		}
	}
}

func (s *driverSampler) result() (rss, anon int64, cpu float64, pods []string) {
	for pid := range s.peak {
		rss, anon, cpu = max(rss, s.peak[pid]), max(anon, s.anon[pid]), cpu+s.cpu[pid]
	}
	for p := range s.pods {
		pods = append(pods, p)
	}
	sort.Strings(pods)
	return rss, anon, cpu, pods
}

func saveDriverRaw(dir string, r *driverRaw) error {
	if err := os.MkdirAll(filepath.Join(dir, "raw-driver"), 0o755); err != nil {
		return err
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "raw-driver", fmt.Sprintf("%d.json", r.Workers)), b, 0o644)
}

func loadDriverRaws(dir string) ([]*driverRaw, error) {
	files, err := filepath.Glob(filepath.Join(dir, "raw-driver", "*.json"))
	if err != nil {
		return nil, err
	}
	var out []*driverRaw
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var r driverRaw
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		out = append(out, &r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Workers < out[j].Workers })
	return out, nil
}

// driverTargets are the memory targets, for the in-cluster driver's pod.
func driverTargets(ds []*driverRaw) []targetRow {
	var out []targetRow
	for _, t := range []struct {
		n   int
		mib float64
	}{{1000, targetRSS1000}, {5000, targetRSS5000}} {
		name := fmt.Sprintf("in-cluster driver peak RSS < %.0f MiB at %d nodes (detached run, `edgeupgrade-driver`)", t.mib, t.n)
		var d *driverRaw
		for _, x := range ds {
			if x.Workers == t.n && x.Error == "" {
				d = x
			}
		}
		if d == nil {
			out = append(out, targetRow{name, "not measured (make bench BENCH_DRIVER_SIZES=" + fmt.Sprint(t.n) + ")", "–"})
			continue
		}
		rss := float64(d.MaxRSSKiB) / 1024
		out = append(out, targetRow{name, fmt.Sprintf("%.0f MiB, of which %.0f MiB anonymous; CPU %.1f s; pod request %.0f MiB, GOMEMLIMIT %.0f MiB; load %.1f/%.1f",
			rss, float64(d.MaxAnonKiB)/1024, d.CPUSeconds, float64(d.RequestBytes)/(1<<20), float64(d.GoMemLimit)/(1<<20), d.LoadBefore[0], d.LoadAfter[0]),
			yes(rss < t.mib)})
	}
	return out
}

// driverLines describes the driver runs for RESULTS.md.
func driverLines(ds []*driverRaw) []string {
	var out []string
	for _, d := range ds {
		line := fmt.Sprintf("- driver N=%d: %s, plugin `%s`, completed in %.0f s; driver pods %s",
			d.Workers, d.Date, d.PluginVersion, d.WallSeconds, strings.Join(d.Pods, ", "))
		if d.Error != "" {
			line += "; FAILED: " + d.Error
		}
		out = append(out, line)
	}
	return out
}

// runDrivers measures the driver at each size, saving each result and the report.
func runDrivers(ctx context.Context, driverBin string, ns []int, base sizeConfig, out string) error {
	abs, err := filepath.Abs(driverBin)
	if err != nil {
		return err
	}
	if _, err := os.Stat(abs); err != nil {
		return fmt.Errorf("driver: %w", err)
	}
	var failed []string
	for _, n := range ns {
		c := base
		c.Workers, c.Pools = n, min(base.Pools, n)
		r, err := measureDriver(ctx, c, abs)
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted during the driver's N=%d; the lab was stopped", n)
		}
		if err != nil {
			c.logf("driver: FAILED: %v", err)
			failed = append(failed, fmt.Sprintf("driver N=%d: %v", n, err))
			r.Error = err.Error()
		}
		if err := saveDriverRaw(out, r); err != nil {
			return err
		}
		if err := writeReport(out); err != nil {
			return err
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d driver size(s) did not complete:\n  %s", len(failed), strings.Join(failed, "\n  "))
	}
	return nil
}
