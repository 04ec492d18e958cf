package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/nodes"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/store"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
	"github.com/edgeupgrade/kubectl-edgeupgrade/test/lab"
)

// The status probe measures `status` and `status -o json` at N nodes without driving
// an upgrade (which takes the lab most of an hour at 5,000 nodes on 2 cores): it
// plays the run with the plugin's own core (upgrade.Step, every batch taking
// probeBatch), then creates what that run leaves in the cluster through the API —
// the state ConfigMap, one node-upgrade Job per node built by pkg/job with its batch's
// labels (the lab's job controller and simulator run them to completion and set the
// nodes' versions), and the run's Events in kube-upgrade — and times the plugin
// through the counting proxy twice: with the last batch in flight (its pods hang),
// then with the run completed. Several binaries can be compared on the same lab
// (-status-plugins old,new), alternating, so that the machine's load weighs on each
// alike. It reports, per call, the requests with the bytes each read, the CPU
// seconds and peak RSS of the process, and its wall time.
//
//	go run ./bench -status-probe -sizes 5000 -plugin ../bin/kubectl-edgeupgrade
type probeOptions struct {
	on      *bool
	plugins *string
}

func probeFlags() probeOptions {
	return probeOptions{
		on:      flag.Bool("status-probe", false, "measure status alone on a lab whose run is seeded through the API (no upgrade driven)"),
		plugins: flag.String("status-plugins", "", "comma-separated plugin binaries the status probe compares on one lab (default: -plugin)"),
	}
}

func (o probeOptions) enabled() bool { return *o.on }

// probeBatch is how long each simulated batch takes in the seeded run's state.
const probeBatch = 5 * time.Second

func (o probeOptions) run(c sizeConfig) error {
	var plugins []string
	for _, p := range strings.Split(*o.plugins+","+c.Plugin, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			return err
		}
		if _, err := os.Stat(abs); err != nil {
			return fmt.Errorf("plugin: %w", err)
		}
		if !slices.Contains(plugins, abs) {
			plugins = append(plugins, abs)
		}
	}
	if len(plugins) == 0 {
		return errors.New("-plugin or -status-plugins is required")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	return statusProbe(ctx, c, plugins)
}

func statusProbe(ctx context.Context, c sizeConfig, plugins []string) error {
	c.logf("starting a lab: %d masters, %d workers", c.Masters, c.Workers)
	l, err := lab.Start(ctx, lab.Config{Masters: c.Masters, Workers: c.Workers, Pools: c.Pools, From: c.From,
		JobDuration: time.Second, Progress: prefixWriter{c}})
	if err != nil {
		return err
	}
	defer l.Stop()
	admin, err := clientcmd.BuildConfigFromFlags("", l.Kubeconfig)
	if err != nil {
		return err
	}
	proxy, err := startProxy(admin)
	if err != nil {
		return err
	}
	defer proxy.Close()
	kc := filepath.Join(l.Dir, "kubeconfig-bench-proxy")
	if err := proxy.Kubeconfig(kc); err != nil {
		return err
	}
	t := time.Now()
	s, err := seed(ctx, l, c)
	if err != nil {
		return err
	}
	c.logf("seeded run %s: %d batches, %d Jobs, the last batch (%d nodes) in flight, in %s",
		s.runID, len(s.sim.batches), s.jobs, len(s.last()), time.Since(t).Round(time.Second))
	if err := s.probeBoth(ctx, c, proxy, kc, plugins, "the last batch in flight"); err != nil {
		return err
	}
	t = time.Now()
	if err := s.complete(ctx, l); err != nil {
		return err
	}
	c.logf("run completed in %s", time.Since(t).Round(time.Second))
	if err := s.probeBoth(ctx, c, proxy, kc, plugins, "completed"); err != nil {
		return err
	}
	if c.Hold {
		release := filepath.Join(l.Dir, "release")
		c.logf("holding the lab: KUBECONFIG=%s (through the proxy); touch %s to end", kc, release)
		for ctx.Err() == nil {
			if _, err := os.Stat(release); err == nil {
				break
			}
			time.Sleep(time.Second)
		}
	}
	return nil
}

// probeBoth probes the run as it is, then with its state's batch records removed (as
// a run started by a plugin that kept none: status reads every Job's metadata), then
// puts them back.
func (s *seeded) probeBoth(ctx context.Context, c sizeConfig, proxy *countingProxy, kc string, plugins []string, scenario string) error {
	probeAll(ctx, c, proxy, kc, plugins, scenario)
	st := store.Store{Client: s.cs}
	cur, cm, err := st.Get(ctx)
	if err != nil {
		return err
	}
	bare := cur.Clone()
	bare.History, bare.HistoryKept = nil, false
	if cm, err = st.Update(ctx, cm, bare); err != nil {
		return err
	}
	probeAll(ctx, c, proxy, kc, plugins, scenario+", without the state's batch records")
	_, err = st.Update(ctx, cm, cur)
	return err
}

// probeAll runs each status variant StatusRuns times per plugin, alternating plugins,
// and prints the figures.
func probeAll(ctx context.Context, c sizeConfig, proxy *countingProxy, kc string, plugins []string, scenario string) {
	variants := [][]string{{"status"}, {"status", "-o", "json"}, {"status", "--read-only", "-o", "json"}}
	type key struct{ plugin, args string }
	got := map[key][]probeRun{}
	for range max(1, c.StatusRuns) {
		for _, args := range variants {
			for _, p := range plugins {
				r, err := probeOnce(ctx, proxy, kc, p, args)
				if err != nil {
					c.logf("%s %s: %v", filepath.Base(p), strings.Join(args, " "), err)
					continue
				}
				k := key{p, strings.Join(args, " ")}
				got[k] = append(got[k], r)
			}
		}
	}
	pf := func(format string, args ...any) { _, _ = fmt.Fprintf(c.Log, format, args...) }
	pf("\n## status at %d nodes, %s (load %.1f)\n\n", c.Workers+c.Masters, scenario, loadavg()[0])
	pf("| plugin | command | wall p50 / max | CPU p50 | peak RSS | requests | bytes read |\n")
	pf("|---|---|---|---|---|---|---|\n")
	for _, args := range variants {
		for _, p := range plugins {
			runs := got[key{p, strings.Join(args, " ")}]
			if len(runs) == 0 {
				continue
			}
			var walls, cpus []float64
			var rss int64
			for _, r := range runs {
				walls, cpus, rss = append(walls, r.wall), append(cpus, r.cpu), max(rss, r.rss)
			}
			last, wall := runs[len(runs)-1], distOf(walls)
			pf("| %s | %s | %.2f / %.2f s | %.2f s | %d MiB | %d | %s |\n", pluginLabel(p), strings.Join(args, " "),
				wall.P50, wall.Max, distOf(cpus).P50, rss/1024, len(last.requests), bytesOf(last.bytes))
		}
	}
	for _, p := range plugins {
		runs := got[key{p, "status -o json"}]
		if len(runs) == 0 {
			continue
		}
		pf("\nrequests of one `status -o json` (%s):\n\n", pluginLabel(p))
		for _, q := range runs[len(runs)-1].requests {
			pf("- %s %s: %s (%s) in %.3f s\n", q.Verb, q.Resource, bytesOf(q.Bytes), q.Type, q.Seconds)
		}
	}
	pf("\n")
}

type probeRun struct {
	wall, cpu float64
	rss       int64 // KiB
	bytes     int64
	requests  []request
}

func probeOnce(ctx context.Context, proxy *countingProxy, kc, plugin string, args []string) (probeRun, error) {
	mark, bytes0 := proxy.Mark(), proxy.Bytes()
	r, err := runPlugin(ctx, plugin, time.Now(), kc, args...)
	if err != nil {
		return probeRun{}, err
	}
	if r.exitCode != 0 {
		return probeRun{}, fmt.Errorf("exit %d: %s", r.exitCode, r.stderrTail)
	}
	proxy.Settle(2 * time.Second)
	return probeRun{wall: r.end - r.start, cpu: r.cpu, rss: r.maxRSS, bytes: proxy.Bytes() - bytes0,
		requests: proxy.Requests(mark)}, nil
}

func pluginLabel(p string) string { return filepath.Base(filepath.Dir(p)) + "/" + filepath.Base(p) }

// simRun is a whole run played by the core with every batch taking probeBatch.
type simRun struct {
	batches []upgrade.Batch
	// running is the state once the last batch's Jobs were created and seen; done is
	// the final one.
	running, done upgrade.State
	// events are the run's Events on the state ConfigMap, in order, and runningEvents
	// how many of them precede running.
	events        []timedEvent
	runningEvents int
}

type timedEvent struct {
	upgrade.Event
	at time.Time
}

// simulate plays the run as PlanRun does, keeping the states and Events.
func simulate(first upgrade.State, nodes []upgrade.Node) simRun {
	var out simRun
	s, now := first, first.StartedAt
	obs := upgrade.Observation{Nodes: slices.Clone(nodes), Jobs: map[string]upgrade.Job{}}
	pos := make(map[string]int, len(nodes))
	for i, n := range nodes {
		pos[n.Name] = i
	}
	step := func() []upgrade.Action {
		var acts []upgrade.Action
		s, acts, _ = upgrade.Step(s, obs, upgrade.Tick{}, now)
		for _, a := range acts {
			if a.Kind == upgrade.Emit && a.Event.Node == "" {
				out.events = append(out.events, timedEvent{*a.Event, now})
			}
		}
		return acts
	}
	for range 4 * (len(nodes) + 4) {
		for _, a := range step() {
			if a.Kind != upgrade.CreateJobs {
				continue
			}
			b := *a.Batch
			b.Nodes = slices.Clone(a.Nodes)
			out.batches = append(out.batches, b)
			for _, n := range b.Nodes {
				obs.Jobs[n] = upgrade.Job{Name: n, Node: n, Batch: b.Label(), Pool: b.Pool, Role: b.Role, Phase: upgrade.JobActive, Created: now}
			}
			step() // records the Jobs as created
			out.running, out.runningEvents = s.Clone(), len(out.events)
			now = now.Add(probeBatch)
			for _, n := range b.Nodes {
				j := obs.Jobs[n]
				j.Phase, j.Finished = upgrade.JobSucceeded, now
				obs.Jobs[n] = j
				obs.Nodes[pos[n]].Version = s.Spec.TargetVersion
			}
		}
		if s.Phase.Terminal() || s.Pause != nil {
			break
		}
	}
	out.done = s
	return out
}

// seeded is the run the probe created in the lab.
type seeded struct {
	runID string
	sim   simRun
	cm    *corev1.ConfigMap
	cs    kubernetes.Interface
	jobs  int
}

func (s *seeded) last() []string { return s.sim.batches[len(s.sim.batches)-1].Nodes }

// seed creates the run with its last batch in flight: the state, every Job (the last
// batch's nodes hang) and the Events so far.
func seed(ctx context.Context, l *lab.Lab, c sizeConfig) (*seeded, error) {
	rc := rest.CopyConfig(l.RESTConfig)
	rc.UserAgent = "kubectl-edgeupgrade/bench-seed" // the plugin's field manager on what it creates
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	list, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	var inScope []upgrade.Node
	for i := range list.Items {
		inScope = append(inScope, nodes.ToNode(&list.Items[i], ""))
	}
	sp := upgrade.Spec{TargetVersion: c.Target, Mode: upgrade.ModeAll,
		DrainTimeout: upgrade.Duration{Duration: upgrade.DefaultDrainTimeout}, JobTimeout: upgrade.Duration{Duration: upgrade.DefaultJobTimeout},
		PauseExpiry:     upgrade.Duration{Duration: upgrade.DefaultPauseExpiry},
		PreprocessImage: "registry.invalid/edgeupgrade/node-preprocess:bench", UpgradeImage: "registry.invalid/edgeupgrade/upgrade:bench"}
	start := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	runID := start.Format("0601021504") + "-prob"
	first, err := upgrade.NewState(sp, runID, upgrade.Cluster{APIServerVersion: lab.KubeVersion, Nodes: inScope}, start)
	if err != nil {
		return nil, err
	}
	s := &seeded{runID: runID, sim: simulate(first, inScope), cs: cs}
	if !s.sim.done.Phase.Terminal() || len(s.sim.batches) == 0 {
		return nil, fmt.Errorf("the simulated run ended %s with %d batches", s.sim.done.Phase, len(s.sim.batches))
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: job.Namespace,
		Labels: map[string]string{"pod-security.kubernetes.io/enforce": "privileged", job.LabelManagedBy: job.ManagedBy}}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	if s.cm, err = (store.Store{Client: cs}).Create(ctx, nil, s.sim.running); err != nil {
		return nil, err
	}
	for _, n := range s.last() {
		if err := l.SetHang(ctx, n, true); err != nil {
			return nil, err
		}
	}
	if err := s.createJobs(ctx); err != nil {
		return nil, err
	}
	if err := s.createEvents(ctx, s.sim.events[:s.sim.runningEvents]); err != nil {
		return nil, err
	}
	return s, s.await(ctx, len(s.last()))
}

// createJobs creates every batch's Jobs as the runner does (pkg/job), 16 at a time.
func (s *seeded) createJobs(ctx context.Context) error {
	p := job.Params{RunID: s.runID, TargetVersion: s.sim.done.Spec.TargetVersion,
		PreprocessImage: s.sim.done.Spec.PreprocessImage, UpgradeImage: s.sim.done.Spec.UpgradeImage,
		TimeoutSeconds: int64(s.sim.done.Spec.JobTimeout.Seconds()), OwnerName: s.cm.Name, OwnerUID: s.cm.UID}
	sem := make(chan struct{}, 16)
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for _, b := range s.sim.batches {
		role := job.RoleWorker
		if b.Role == upgrade.RoleMaster {
			role = job.RoleMaster
			if b.MasterFirst {
				role = job.RoleMasterFirst
			}
		}
		for _, n := range b.Nodes {
			j := job.Build(p, job.NodeJob{Node: n, Pool: b.Pool, Batch: b.Label(), Role: role})
			s.jobs++
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				if _, err := s.cs.BatchV1().Jobs(job.Namespace).Create(ctx, j, metav1.CreateOptions{}); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	return errors.Join(errs...)
}

// createEvents records the run's Events on the state ConfigMap as the runner does
// (runner.NewEvent; pkg/runner is not a dependency of this module). Events of one
// step share its time: their names take the step's nanoseconds plus their index.
func (s *seeded) createEvents(ctx context.Context, events []timedEvent) error {
	for i, e := range events {
		t := metav1.NewTime(e.at)
		ev := &corev1.Event{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s.%x", s.cm.Name, e.at.UnixNano()+int64(i)), Namespace: job.Namespace,
				Labels: map[string]string{job.LabelManagedBy: job.ManagedBy, job.LabelRun: s.runID}},
			InvolvedObject: corev1.ObjectReference{Kind: "ConfigMap", APIVersion: "v1", Namespace: job.Namespace, Name: s.cm.Name, UID: s.cm.UID},
			Type:           string(e.Type), Reason: e.Reason, Message: e.Message,
			Source: corev1.EventSource{Component: "kubectl-edgeupgrade"}, FirstTimestamp: t, LastTimestamp: t, Count: 1,
			ReportingController: "edgeupgrade.io/kubectl-edgeupgrade", ReportingInstance: s.runID,
		}
		if _, err := s.cs.CoreV1().Events(ev.Namespace).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
			return err
		}
	}
	return nil
}

// await waits until all but want Jobs have succeeded, and those want are running.
func (s *seeded) await(ctx context.Context, want int) error {
	for {
		list, err := s.cs.BatchV1().Jobs(job.Namespace).List(ctx, metav1.ListOptions{
			LabelSelector: job.NodeUpgradeSelector(s.runID),
			FieldSelector: fields.OneTermEqualSelector("status.successful", "0").String()})
		if err != nil {
			return err
		}
		running := 0
		for _, j := range list.Items {
			if j.Status.Active > 0 {
				running++
			}
		}
		if len(list.Items) == want && running == want {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d Jobs not succeeded (%d running), want %d running: %w", len(list.Items), running, want, ctx.Err())
		case <-time.After(2 * time.Second):
		}
	}
}

// complete lets the last batch finish and records the run's end.
func (s *seeded) complete(ctx context.Context, l *lab.Lab) error {
	for _, n := range s.last() {
		if err := l.SetHang(ctx, n, false); err != nil {
			return err
		}
	}
	if err := s.await(ctx, 0); err != nil {
		return err
	}
	st := store.Store{Client: s.cs}
	_, cm, err := st.Get(ctx)
	if err != nil {
		return err
	}
	if _, err := st.Update(ctx, cm, s.sim.done); err != nil {
		return err
	}
	return s.createEvents(ctx, s.sim.events[s.sim.runningEvents:])
}
