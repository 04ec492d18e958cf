package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/status"
	"github.com/edgeupgrade/kubectl-edgeupgrade/test/lab"
)

// sizeConfig is one measured size.
type sizeConfig struct {
	Workers     int
	Masters     int
	Pools       int
	JobDuration time.Duration
	Plugin      string
	From        string
	Target      string
	Timeout     time.Duration
	StatusRuns  int
	Hold        bool // keep the lab after measuring, until <lab dir>/release exists
	Log         io.Writer
}

// raw is everything measured for one size; the report is computed from it (and it is
// kept as raw/N.json so the report can be regenerated).
type raw struct {
	Workers       int     `json:"workers"`
	Masters       int     `json:"masters"`
	Pools         int     `json:"pools"`
	JobSeconds    float64 `json:"jobSeconds"`
	Date          string  `json:"date"`
	PluginVersion string  `json:"pluginVersion"`
	Machine       machine `json:"machine"`

	LabStartSeconds float64 `json:"labStartSeconds"`
	// Plugin process: start and exit (seconds since the epoch), exit code, rusage.
	PluginStart float64   `json:"pluginStart"`
	PluginEnd   float64   `json:"pluginEnd"`
	ExitCode    int       `json:"exitCode"`
	MaxRSSKiB   int64     `json:"maxRSSKiB"`
	MaxAnonKiB  int64     `json:"maxAnonKiB,omitempty"` // peak anonymous RSS (heap, stacks): RSS without the binary's pages
	CPUSeconds  float64   `json:"cpuSeconds"`
	StdoutLines []line    `json:"stdoutLines"`
	StderrTail  string    `json:"stderrTail,omitempty"`
	Requests    []request `json:"requests"` // the start --wait process's requests
	// ProxyOffset converts request times (seconds since the proxy started) to the epoch.
	ProxyOffset   float64        `json:"proxyOffset"`
	StatusTimings []statusTiming `json:"statusTimings"`

	Jobs      []jobTrace         `json:"jobs"`
	Upgraded  map[string]float64 `json:"upgraded"`
	ConfigMap []cmSample         `json:"configMap"`
	Events    []eventTrace       `json:"events"`
	// WatchEvents counts watch notifications per resource while the plugin ran.
	WatchEvents map[string]int `json:"watchEvents"`

	// CPU seconds used during the run by each lab process and by this one (simulator
	// and recorder), and the machine's load.
	CPU        map[string]float64 `json:"cpu"`
	LoadBefore [3]float64         `json:"loadBefore"`
	LoadAfter  [3]float64         `json:"loadAfter"`
	BusyCores  float64            `json:"busyCores"` // average busy cores of the whole machine during the run
	Verified   string             `json:"verified"`  // what was checked at the end
	Error      string             `json:"error,omitempty"`
}

type line struct {
	At   float64 `json:"at"`
	Text string  `json:"text"`
}

type statusTiming struct {
	Args     []string `json:"args"`
	Seconds  float64  `json:"seconds"`
	Requests int      `json:"requests"`
	Bytes    int64    `json:"bytes"` // response bytes the process read through the proxy
	MaxRSS   int64    `json:"maxRSSKiB"`
	CPU      float64  `json:"cpuSeconds"`
}

// logf writes one progress line; logging is best effort and never fails a measurement.
func (c sizeConfig) logf(format string, args ...any) {
	_, _ = fmt.Fprintf(c.Log, "%s bench[%d]: %s\n", time.Now().Format("15:04:05"), c.Workers, fmt.Sprintf(format, args...))
}

// measure starts a lab, runs `start --wait` through the counting proxy while the
// recorder watches, measures status, and tears everything down.
func measure(ctx context.Context, c sizeConfig) (*raw, error) {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	r := &raw{Workers: c.Workers, Masters: c.Masters, Pools: c.Pools, JobSeconds: c.JobDuration.Seconds(),
		Date: time.Now().UTC().Format(time.RFC3339), Machine: describeMachine()}
	r.PluginVersion = pluginVersion(c.Plugin)

	c.logf("starting a lab: %d masters, %d workers in %d pools, simulated upgrade %s", c.Masters, c.Workers, c.Pools, c.JobDuration)
	t := time.Now()
	// No kwok Logs object per pod (lab.Config.NoContainerLogs): the batches' start
	// would pay the lab's log plumbing, which no kubelet has. Nothing here reads logs.
	l, err := lab.Start(ctx, lab.Config{Masters: c.Masters, Workers: c.Workers, Pools: c.Pools, From: c.From,
		JobDuration: c.JobDuration, NoContainerLogs: true, Progress: prefixWriter{c}})
	if err != nil {
		return nil, err
	}
	defer l.Stop()
	r.LabStartSeconds = time.Since(t).Seconds()

	// The proxy authenticates as the lab admin (system:masters: exempt from API
	// Priority and Fairness, like a cluster administrator running the plugin).
	admin, err := clientcmd.BuildConfigFromFlags("", l.Kubeconfig)
	if err != nil {
		return nil, err
	}
	proxy, err := startProxy(admin)
	if err != nil {
		return nil, err
	}
	defer proxy.Close()
	kc := filepath.Join(l.Dir, "kubeconfig-bench-proxy")
	if err := proxy.Kubeconfig(kc); err != nil {
		return nil, err
	}

	epoch := time.Now()
	r.ProxyOffset = proxy.start.Sub(epoch).Seconds()
	rec, err := startRecorder(ctx, l.Client, epoch, c.Target)
	if err != nil {
		return nil, err
	}
	defer rec.Stop()

	pids := l.PIDs()
	pids["bench (simulator, recorder)"] = os.Getpid()
	cpu0 := cpuOf(pids)
	busy0 := machineBusy()
	r.LoadBefore = loadavg()

	c.logf("running %s start --to %s --wait", filepath.Base(c.Plugin), c.Target)
	// --no-stage: this benchmark measures the orchestration of the node work (the
	// simulator pulls nothing here); staging has its own benchmark (staging.go), and its
	// Jobs would add job-controller load that the ideal below does not count.
	res, err := runPlugin(ctx, c.Plugin, epoch, kc, "start", "--to", c.Target, "--wait", "--no-stage",
		"--preprocess-image", "registry.invalid/edgeupgrade/node-preprocess:bench",
		"--upgrade-image", "registry.invalid/edgeupgrade/upgrade:bench")
	if err != nil {
		return nil, err
	}
	r.PluginStart, r.PluginEnd, r.ExitCode = res.start, res.end, res.exitCode
	r.MaxRSSKiB, r.MaxAnonKiB, r.CPUSeconds, r.StdoutLines, r.StderrTail = res.maxRSS, res.maxAnon, res.cpu, res.lines, res.stderrTail
	r.Requests = proxy.Requests(0)
	c.logf("plugin exited %d after %.1fs (max RSS %d MiB, %d API requests)", res.exitCode, res.end-res.start, res.maxRSS/1024, len(r.Requests))

	// Let the recorder see the last Job and node updates the plugin already saw.
	deadline := time.Now().Add(10 * time.Second)
	for !rec.settled() && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	r.CPU = cpuDelta(cpu0, cpuOf(pids))
	r.BusyCores = busyCores(busy0, machineBusy())
	r.LoadAfter = loadavg()
	r.Jobs, r.Upgraded, r.ConfigMap, r.Events, r.WatchEvents = rec.snapshot()
	sort.Slice(r.Jobs, func(i, j int) bool { return r.Jobs[i].Created < r.Jobs[j].Created })

	if res.exitCode != 0 {
		return r, fmt.Errorf("start --wait exited %d: %s", res.exitCode, res.stderrTail)
	}
	// status and status -o json at the end: the view of the finished run.
	for _, args := range [][]string{{"status"}, {"status", "-o", "json"}} {
		for range c.StatusRuns {
			mark, bytes0 := proxy.Mark(), proxy.Bytes()
			sr, err := runPlugin(ctx, c.Plugin, epoch, kc, args...)
			if err != nil {
				return r, err
			}
			if sr.exitCode != 0 {
				return r, fmt.Errorf("%s exited %d: %s", strings.Join(args, " "), sr.exitCode, sr.stderrTail)
			}
			r.StatusTimings = append(r.StatusTimings, statusTiming{Args: args, Seconds: sr.end - sr.start,
				Requests: len(proxy.Requests(mark)), Bytes: proxy.Bytes() - bytes0, MaxRSS: sr.maxRSS, CPU: sr.cpu})
			if len(args) == 3 {
				if r.Verified, err = verify(sr.stdout, c, r); err != nil {
					return r, err
				}
			}
		}
	}
	c.logf("verified: %s", r.Verified)
	if c.Hold {
		// For profiling by hand against the finished run; ends with the process.
		release := filepath.Join(l.Dir, "release")
		c.logf("holding the lab: KUBECONFIG=%s (admin) or %s (through the proxy); touch %s to end", l.Kubeconfig, kc, release)
		for ctx.Err() == nil {
			if _, err := os.Stat(release); err == nil {
				break
			}
			time.Sleep(time.Second)
		}
	}
	return r, nil
}

// verify checks the status -o json contract against what the recorder saw.
func verify(out []byte, c sizeConfig, r *raw) (string, error) {
	var s status.Status
	if err := json.Unmarshal(out, &s); err != nil {
		return "", fmt.Errorf("status -o json: %w", err)
	}
	total := c.Masters + c.Workers
	switch {
	case s.Phase != "Completed":
		return "", fmt.Errorf("status -o json: phase %q, want Completed", s.Phase)
	case s.Nodes.Upgraded != total:
		return "", fmt.Errorf("status -o json: %d nodes upgraded, want %d", s.Nodes.Upgraded, total)
	case len(r.Upgraded) != total:
		return "", fmt.Errorf("the recorder saw %d nodes at %s, want %d", len(r.Upgraded), c.Target, total)
	case len(r.Jobs) != total:
		return "", fmt.Errorf("the recorder saw %d node-upgrade Jobs, want %d (one per node)", len(r.Jobs), total)
	}
	batches := map[string]bool{}
	for _, j := range r.Jobs {
		batches[j.Batch] = true
	}
	if len(s.Batches) != len(batches) {
		return "", fmt.Errorf("status -o json lists %d batches, the Jobs carry %d", len(s.Batches), len(batches))
	}
	return fmt.Sprintf("phase Completed, %d/%d nodes at %s, %d Jobs (one per node), %d batches in status -o json",
		s.Nodes.Upgraded, total, c.Target, len(r.Jobs), len(s.Batches)), nil
}

type pluginRun struct {
	start, end float64
	exitCode   int
	maxRSS     int64 // KiB
	maxAnon    int64 // KiB, peak anonymous RSS
	cpu        float64
	lines      []line
	stdout     []byte
	stderrTail string
}

// runPlugin runs the plugin binary to completion, stamping each stdout line as it
// arrives; CPU comes from wait4's rusage of the child, peak RSS from its VmHWM.
func runPlugin(ctx context.Context, plugin string, epoch time.Time, kubeconfig string, args ...string) (*pluginRun, error) {
	cmd := exec.CommandContext(ctx, plugin, append(args, "--kubeconfig", kubeconfig)...)
	cmd.Env = append(os.Environ(), "KUBECACHEDIR="+filepath.Join(filepath.Dir(kubeconfig), "kubecache"))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	cmd.WaitDelay = 5 * time.Second
	out := &pluginRun{}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("run the plugin: %w", err)
	}
	out.start = t0.Sub(epoch).Seconds()
	hwm := watchHWM(cmd.Process.Pid)
	var wg sync.WaitGroup
	var all []byte
	wg.Go(func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			out.lines = append(out.lines, line{At: time.Since(epoch).Seconds(), Text: sc.Text()})
			all = append(append(all, sc.Bytes()...), '\n')
		}
	})
	wg.Wait()
	err = cmd.Wait()
	out.end = time.Since(epoch).Seconds()
	out.stdout = all
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		out.exitCode = ee.ExitCode()
	default:
		return nil, err
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		out.cpu = tv(ru.Utime) + tv(ru.Stime)
	}
	out.maxRSS, out.maxAnon = hwm()
	s := stderr.String()
	if len(s) > 4000 {
		s = s[len(s)-4000:]
	}
	out.stderrTail = s
	return out, nil
}

// watchHWM samples the child's VmHWM (peak RSS of its own address space) and its
// anonymous RSS every 10 ms until it exits; the returned func gives the peaks in KiB.
// wait4's ru_maxrss cannot be used: Go starts children with vfork, so the child's
// maxrss inherits this (large) process's peak at exec.
func watchHWM(pid int) func() (hwm, anon int64) {
	var peak, peakAnon atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
			if err != nil {
				return
			}
			hwm, anon := memOf(string(b))
			peak.Store(max(peak.Load(), hwm))
			peakAnon.Store(max(peakAnon.Load(), anon))
			if strings.Contains(string(b), "State:\tZ") {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	return func() (int64, int64) {
		select {
		case <-done:
		case <-time.After(time.Second):
		}
		return peak.Load(), peakAnon.Load()
	}
}

// memOf reads VmHWM and RssAnon (KiB) from /proc/PID/status. The rest of the RSS is
// file-backed: the pages of the 80 MB binary the process touched, shared and
// reclaimable, about 40 MiB for any command of the plugin.
func memOf(status string) (hwm, anon int64) {
	for _, l := range strings.Split(status, "\n") {
		for _, f := range []struct {
			prefix string
			into   *int64
		}{{"VmHWM:", &hwm}, {"RssAnon:", &anon}} {
			if v, ok := strings.CutPrefix(l, f.prefix); ok {
				_, _ = fmt.Sscanf(strings.TrimSpace(v), "%d kB", f.into)
			}
		}
	}
	return hwm, anon
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

// pluginVersion is "VERSION (commit C)" from `kubectl-edgeupgrade version`.
func pluginVersion(plugin string) string {
	out, _ := exec.Command(plugin, "version").Output()
	fields := map[string]string{}
	for _, l := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			fields[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	if fields["Version"] == "" {
		return strings.TrimSpace(firstLine(string(out)))
	}
	return fmt.Sprintf("%s (commit %s)", fields["Version"], fields["Commit"])
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

type prefixWriter struct{ c sizeConfig }

func (p prefixWriter) Write(b []byte) (int, error) {
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if _, err := fmt.Fprintf(p.c.Log, "%s lab[%d]: %s\n", time.Now().Format("15:04:05"), p.c.Workers, strings.TrimSpace(l)); err != nil {
			return 0, err
		}
	}
	return len(b), nil
}
