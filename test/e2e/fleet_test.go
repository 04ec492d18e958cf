package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/store"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
	"github.com/edgeupgrade/kubectl-edgeupgrade/test/lab"
)

// A fleet of four tiny labs, through the plugin binary: a management lab, then three
// workload labs at most two at a time. site-b has a failing node; site-a is reached
// through a loopback proxy that the test cuts, as an edge site's link goes down.
const fleetFile = `apiVersion: edgeupgrade.io/v1alpha1
kind: Fleet
metadata: {name: lab}
spec:
  targetVersion: ` + target + `
  defaults: {preprocessImage: lab/pre:1, upgradeImage: lab/up:1, driverImage: lab/edgeupgrade:1}
  waves:
  - name: management
    clusters: [{context: mgmt}]
    soak: 2s
  - name: workloads
    maxConcurrent: 2
    clusters:
    - {name: site-a, kubeconfig: site-a.kubeconfig}
    - {context: site-b}
    - {context: site-c, start: {maxBatchSize: 1}}
`

func TestFleet(t *testing.T) {
	t.Parallel()
	begin := time.Now()
	names := []string{"mgmt", "site-a", "site-b", "site-c"}
	labs := startFleetLabs(t, names, map[string]map[string]string{"site-b": {"edge-a-001": "boom: the new kubelet did not start"}})
	t.Logf("4 labs up in %s", time.Since(begin).Round(time.Second))
	dir := t.TempDir()
	px := newProxy(t, labs["site-a"].lab.Server)
	writeFleetKubeconfigs(t, dir, labs, px.URL())
	file := filepath.Join(dir, "fleet.yaml")
	if err := os.WriteFile(file, []byte(fleetFile), 0o600); err != nil {
		t.Fatal(err)
	}
	fl := &env{t: t, kc: filepath.Join(dir, "kubeconfig")} // the plugin's default kubeconfig: the contexts
	fleet := func(args ...string) result {
		return fl.run(append([]string{"fleet", args[0], "-f", file}, args[1:]...)...)
	}

	// plan: every cluster pre-checked, the waves, what start would do.
	r := fleet("plan", "-o", "json")
	plan := fleetJSON(t, r)
	if r.code != 0 || plan.action("mgmt") != "start it now" || plan.action("site-c") != "start it in wave 2, once wave 1 is done" || plan.preCheck("site-b") != "normal" {
		t.Fatalf("fleet plan: %s", r)
	}

	// 1. The management lab first, then at most two workload labs; site-b's failing
	// node stops the fleet while site-a finishes; site-c never starts.
	samples := sampleRuns(t, labs, []string{"site-a", "site-b", "site-c"})
	// site-a's last node hangs until site-b has paused, so site-a is surely running
	// then, however loaded the machine.
	ctx := context.Background()
	la, lb := labs["site-a"].lab, labs["site-b"].lab
	if err := la.SetHang(ctx, "edge-a-002", true); err != nil {
		t.Fatal(err)
	}
	released := releaseWhenPaused(lb, la, "edge-a-002")
	r = fleet("start", "--wait", "--interval", "500ms")
	t.Logf("fleet start --wait, site-b failing:\n%s", r)
	if r.code != 3 || !strings.Contains(r.out, "wave 2/2 (workloads) waits for the soak of the previous wave") || !strings.Contains(r.err, "fleet stopped") || !strings.Contains(r.err, "site-b paused") || !strings.Contains(r.err, "boom: the new kubelet did not start") {
		t.Fatalf("fleet start with a failing node: %s", r)
	}
	if !<-released {
		t.Fatal("site-b never paused")
	}
	mg := runOf(t, labs["mgmt"])
	for _, n := range []string{"site-a", "site-b"} {
		if st := runOf(t, labs[n]); mg.FinishedAt == nil || st.StartedAt.Before(mg.FinishedAt.Add(2*time.Second)) {
			t.Errorf("%s started at %s, before the management run finished (%v) and its wave's 2 s soak passed", n, st.StartedAt, mg.FinishedAt)
		}
	}
	if st := runOf(t, labs["site-a"]); st.Phase != upgrade.PhaseCompleted {
		t.Errorf("site-a, running when site-b paused, ended %s; want it to finish", st.Phase)
	}
	if _, _, err := (store.Store{Client: labs["site-c"].lab.Client}).Get(context.Background()); !errors.Is(err, store.ErrNoRun) {
		t.Errorf("site-c was started after the fleet stopped: %v", err)
	}
	if most := samples.stop(); most != 2 {
		t.Errorf("at most %d workload runs were seen at once; want exactly 2 (the cap, reached by site-a and site-b)", most)
	}
	st := fleetJSON(t, fleet("status", "-o", "json"))
	if got := st.phases(); got != "mgmt=Done site-a=Done site-b=Paused site-c=Pending" || len(st.Stopped) != 1 {
		t.Fatalf("fleet status: %s %v", got, st.Stopped)
	}

	// 2. Fix the node and resume it; site-a's link goes down: it is reported, holds
	// its slot and keeps the fleet from completing, but site-b finishes and site-c
	// starts and finishes. On the way, fleet pause pauses site-b (its retried node
	// hangs until then) and fleet resume resumes it.
	if err := lb.ClearFaults(ctx, "edge-a-001"); err != nil {
		t.Fatal(err)
	}
	if err := lb.SetHang(ctx, "edge-a-001", true); err != nil {
		t.Fatal(err)
	}
	px.cut(true)
	short := "--cluster-timeout=2s"
	r = fleet("resume", "--retry-failed", short)
	if r.code != 6 || !strings.Contains(r.out, "site-b: resumed") || !strings.Contains(r.out, "site-a: unreachable (no answer within 2s)") {
		t.Fatalf("fleet resume with site-a cut off: %s", r)
	}
	r = fleet("pause", "--reason", "change freeze", short)
	if r.code != 6 || !strings.Contains(r.out, "site-b: paused") {
		t.Fatalf("fleet pause: %s", r)
	}
	st = fleetJSON(t, fleet("status", "-o", "json", short))
	if got := st.phases(); got != "mgmt=Done site-a=Unreachable site-b=Paused site-c=Pending" || !strings.Contains(st.Clusters[2].Detail, "change freeze") {
		t.Fatalf("fleet status after fleet pause: %s", got)
	}
	if err := lb.SetHang(ctx, "edge-a-001", false); err != nil {
		t.Fatal(err)
	}
	if r = fleet("resume", short); r.code != 6 || !strings.Contains(r.out, "site-b: resumed") {
		t.Fatalf("fleet resume: %s", r)
	}
	t0 := time.Now()
	r = fleet("start", "--wait", "--interval", "500ms", short)
	t.Logf("fleet start --wait, site-a cut off:\n%s", r)
	if r.code != 6 || !strings.Contains(r.err, "fleet blocked at wave 2/2 (workloads): unreachable, so not done: site-a (no answer within 2s)") {
		t.Fatalf("fleet start with site-a cut off: %s", r)
	}
	t.Logf("fleet start with an unreachable cluster returned in %s", time.Since(t0).Round(time.Second))
	for _, n := range []string{"site-b", "site-c"} {
		if st := runOf(t, labs[n]); st.Phase != upgrade.PhaseCompleted {
			t.Errorf("%s ended %s with site-a unreachable; want Completed", n, st.Phase)
		}
	}
	if c, b := runOf(t, labs["site-c"]), runOf(t, labs["site-b"]); c.StartedAt.Before(*b.FinishedAt) {
		t.Errorf("site-c started while site-b ran and site-a, unreachable, held the other slot")
	}

	// A stopped API server (connections refused) is unreachable too, and said at once.
	px.cut(false)
	px.stop(t)
	t0 = time.Now()
	st = fleetJSON(t, fleet("status", "-o", "json", short))
	if got := st.phases(); got != "mgmt=Done site-a=Unreachable site-b=Done site-c=Done" {
		t.Fatalf("fleet status with site-a's API server stopped: %s", got)
	}
	if r = fleet("start", short); r.code != 6 || !strings.Contains(r.err, "unreachable, so not done: site-a") {
		t.Fatalf("fleet start with site-a's API server stopped: %s", r)
	}
	t.Logf("fleet status and start with a stopped API server: %s", time.Since(t0).Round(time.Millisecond))

	// 3. The link is back: fleet start finds every cluster done.
	px.listen(t)
	r = fleet("start")
	if r.code != 0 || !strings.Contains(r.out, "fleet complete: 4 clusters at "+target) {
		t.Fatalf("fleet start after the link came back: %s", r)
	}
	r = fleet("status")
	t.Logf("fleet status:\n%s", r.out)
	if r.code != 0 || !strings.Contains(r.out, "Fleet lab → "+target+": 4/4 clusters done") {
		t.Fatalf("fleet status: %s", r)
	}
	t.Logf("fleet test: %s in all", time.Since(begin).Round(time.Second))
}

// startFleetLabs starts one tiny lab per name at once (1 master, 2 workers), with
// in-cluster drivers and the manifests applied.
func startFleetLabs(t *testing.T, names []string, fail map[string]map[string]string) map[string]*env {
	out := map[string]*env{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, len(names))
	for i, n := range names {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
			defer cancel()
			l, err := lab.Start(ctx, lab.Config{Masters: 1, Workers: 2, Pools: 1, From: from, JobDuration: 300 * time.Millisecond,
				Fail: fail[n], DriverBinary: driver, WatchEgress: true})
			if err != nil {
				errs[i] = fmt.Errorf("start lab %s: %w", n, err)
				return
			}
			mu.Lock()
			out[n] = &env{t: t, lab: l, kc: l.Kubeconfig}
			mu.Unlock()
		})
	}
	wg.Wait()
	for _, e := range out {
		t.Cleanup(e.lab.Stop)
		t.Cleanup(func() { checkEgress(t, e.lab) })
	}
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range names {
		out[n].bindRBAC()
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("--- %s", n)
				out[n].dumpDrivers()
			}
		})
	}
	return out
}

// writeFleetKubeconfigs writes dir/kubeconfig with one context per lab but site-a, and
// dir/site-a.kubeconfig whose server is the proxy.
func writeFleetKubeconfigs(t *testing.T, dir string, labs map[string]*env, proxyURL string) {
	merged := clientcmdapi.NewConfig()
	for n, e := range labs {
		cfg, err := clientcmd.LoadFromFile(e.lab.Kubeconfig)
		if err != nil {
			t.Fatal(err)
		}
		ctx := cfg.Contexts[cfg.CurrentContext]
		if n == "site-a" {
			cfg.Clusters[ctx.Cluster].Server = proxyURL
			if err := clientcmd.WriteToFile(*cfg, filepath.Join(dir, "site-a.kubeconfig")); err != nil {
				t.Fatal(err)
			}
			continue
		}
		merged.Clusters[n], merged.AuthInfos[n] = cfg.Clusters[ctx.Cluster], cfg.AuthInfos[ctx.AuthInfo]
		merged.Contexts[n] = &clientcmdapi.Context{Cluster: n, AuthInfo: n}
	}
	merged.CurrentContext = "mgmt"
	if err := clientcmd.WriteToFile(*merged, filepath.Join(dir, "kubeconfig")); err != nil {
		t.Fatal(err)
	}
}

func runOf(t *testing.T, e *env) upgrade.State {
	t.Helper()
	st, _, err := store.Store{Client: e.lab.Client}.Get(context.Background())
	if err != nil {
		t.Fatalf("read the run: %v", err)
	}
	return st
}

// releaseWhenPaused lets node of lab `hung` finish once the run of lab `paused` is
// paused; the channel says whether it was (false: it never paused within 3 minutes).
func releaseWhenPaused(paused, hung *lab.Lab, node string) <-chan bool {
	out := make(chan bool, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		for ctx.Err() == nil {
			st, _, err := store.Store{Client: paused.Client}.Get(ctx)
			if err == nil && st.Pause != nil {
				out <- hung.SetHang(ctx, node, false) == nil
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		out <- false
	}()
	return out
}

// runSampler polls the labs' state ConfigMaps and keeps the most active runs seen at once.
type runSampler struct {
	max  atomic.Int32
	done chan struct{}
	wg   sync.WaitGroup
}

func sampleRuns(t *testing.T, labs map[string]*env, names []string) *runSampler {
	s := &runSampler{done: make(chan struct{})}
	s.wg.Go(func() {
		for {
			n := int32(0)
			for _, name := range names {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				st, _, err := store.Store{Client: labs[name].lab.Client}.Get(ctx)
				cancel()
				if err == nil && !st.Phase.Terminal() {
					n++
				}
			}
			if n > s.max.Load() {
				s.max.Store(n)
			}
			select {
			case <-s.done:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
	t.Cleanup(func() { s.stop() })
	return s
}

func (s *runSampler) stop() int {
	select {
	case <-s.done:
	default:
		close(s.done)
	}
	s.wg.Wait()
	return int(s.max.Load())
}

// fleetView is the part of `fleet status|plan -o json` the test reads.
type fleetView struct {
	Clusters []struct{ Name, Phase, Detail string } `json:"clusters"`
	Stopped  []string                               `json:"stopped"`
	Plan     []struct{ Name, PreCheck, Action string }
}

func fleetJSON(t *testing.T, r result) fleetView {
	t.Helper()
	var v fleetView
	if err := json.Unmarshal([]byte(r.out), &v); err != nil {
		t.Fatalf("fleet -o json: %v\n%s", err, r)
	}
	return v
}

func (v fleetView) phases() string {
	var s []string
	for _, c := range v.Clusters {
		s = append(s, c.Name+"="+c.Phase)
	}
	return strings.Join(s, " ")
}

func (v fleetView) action(name string) string {
	for _, p := range v.Plan {
		if p.Name == name {
			return p.Action
		}
	}
	return ""
}

func (v fleetView) preCheck(name string) string {
	for _, p := range v.Plan {
		if p.Name == name {
			return p.PreCheck
		}
	}
	return ""
}

// proxy forwards loopback TCP to a lab's API server until cut: then it drops every
// connection and holds new ones unanswered, as a lost link does.
type proxy struct {
	ln     net.Listener
	addr   string // the loopback address, kept across stop and listen
	target string
	mu     sync.Mutex
	cutOff bool
	reset  bool // new connections are closed at once (a load balancer before a stopped API server)
	conns  map[net.Conn]bool
}

func newProxy(t *testing.T, server string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, addr: ln.Addr().String(), target: strings.TrimPrefix(server, "https://"), conns: map[net.Conn]bool{}}
	go p.serve(ln)
	t.Cleanup(func() {
		p.mu.Lock()
		_ = p.ln.Close()
		p.mu.Unlock()
		p.cut(true)
	})
	return p
}

func (p *proxy) URL() string { return "https://" + p.addr }

// stop closes the listener: connections are refused, as by a stopped API server.
func (p *proxy) stop(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.ln.Close(); err != nil {
		t.Fatal(err)
	}
}

// listen listens again on the same loopback address after stop.
func (p *proxy) listen(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatalf("listen again on %s: %v", p.addr, err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go p.serve(ln)
}

func (p *proxy) serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.conns[c] = true
		held, reset := p.cutOff, p.reset
		p.mu.Unlock()
		switch {
		case reset:
			_ = c.Close()
		case !held:
			go p.forward(c)
		}
	}
}

func (p *proxy) forward(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = c.Close()
		return
	}
	p.mu.Lock()
	p.conns[up] = true
	p.mu.Unlock()
	go func() { _, _ = io.Copy(up, c); _ = up.Close() }()
	_, _ = io.Copy(c, up)
	_ = c.Close()
}

// resetAll drops every connection and, while on, closes new ones as they come.
func (p *proxy) resetAll(on bool) { p.drop(func() { p.reset = on }) }

// cut drops every connection; while cut, new connections are accepted and never answered.
func (p *proxy) cut(on bool) { p.drop(func() { p.cutOff = on }) }

// drop sets the proxy's mode and closes every connection it holds.
func (p *proxy) drop(mode func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	mode()
	for c := range p.conns {
		_ = c.Close()
		delete(p.conns, c)
	}
}
