package nodeagent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/version"
)

// fakeProc is a /proc layout in a temporary directory with a logical clock: every
// reading of the uptime and every process start takes the next tick, so "started after
// that uptime reading" is exact. Signals are recorded, never sent: a signalled process
// disappears, and nothing real is ever killed.
type fakeProc struct {
	t    *testing.T
	dir  string
	exe  string // where /proc/PID/exe of a kubelet points
	mu   sync.Mutex
	tick uint64
	next int
	sigs []string
}

func newFakeProc(t *testing.T, exe string) *fakeProc {
	return &fakeProc{t: t, dir: t.TempDir(), exe: exe, tick: 1000, next: 4000}
}

// use makes h see this /proc.
func (f *fakeProc) use(h *Host) {
	h.Proc = f.dir
	h.Uptime = func() (uint64, error) { return f.now(), nil }
	h.Kill = f.kill
}

func (f *fakeProc) now() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tick++
	return f.tick
}

// start adds a process running exe with args; it appears at once and completely.
func (f *fakeProc) start(exe string, args ...string) Process { return f.startChild(1, exe, args...) }

// startChild adds a process of parent ppid.
func (f *fakeProc) startChild(ppid int, exe string, args ...string) Process {
	f.mu.Lock()
	f.next++
	f.tick++
	p := Process{PID: f.next, PPID: ppid, StartTime: f.tick, Exe: exe, Args: append([]string{"/usr/bin/kubelet"}, args...)}
	f.mu.Unlock()
	tmp := filepath.Join(f.dir, fmt.Sprintf(".new-%d", p.PID))
	must(f.t, os.MkdirAll(tmp, 0o755))
	stat := fmt.Sprintf("%d (kubelet) S %d %d %d 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 %d 0 0\n", p.PID, ppid, p.PID, p.PID, p.StartTime)
	must(f.t, os.WriteFile(filepath.Join(tmp, "stat"), []byte(stat), 0o644))
	must(f.t, os.WriteFile(filepath.Join(tmp, "cmdline"), []byte(strings.Join(p.Args, "\x00")+"\x00"), 0o644))
	must(f.t, os.Symlink(exe, filepath.Join(tmp, "exe")))
	must(f.t, os.Rename(tmp, filepath.Join(f.dir, fmt.Sprint(p.PID))))
	return p
}

func (f *fakeProc) kubelet() Process { return f.start(f.exe, "--config=/var/lib/kubelet/config.yaml") }

func (f *fakeProc) stop(pid int) { _ = os.RemoveAll(filepath.Join(f.dir, fmt.Sprint(pid))) }

func (f *fakeProc) alive(pid int) bool {
	_, err := os.Stat(filepath.Join(f.dir, fmt.Sprint(pid)))
	return err == nil
}

func (f *fakeProc) kill(pid int, sig syscall.Signal) error {
	f.mu.Lock()
	f.sigs = append(f.sigs, fmt.Sprintf("%d %s", pid, sigName(sig)))
	f.mu.Unlock()
	f.stop(pid)
	return nil
}

func (f *fakeProc) signals() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.sigs...)
}

func sigName(s syscall.Signal) string {
	switch s {
	case syscall.SIGTERM:
		return "TERM"
	case syscall.SIGKILL:
		return "KILL"
	}
	return s.String()
}

// fakeSupervisor restarts the kubelet in a fakeProc whenever none runs, after delay,
// as OpenRC's supervise-daemon or the lab's init do. A kubelet whose installed binary
// is crashVersion exits right after it starts (a flag it rejects); others run until
// signalled. Like fork and exec, a process gets its start time before the binary is
// read.
type fakeSupervisor struct {
	stopc, done chan struct{}
	mu          sync.Mutex
	started     []string // "pid version"
}

func startFakeSupervisor(t *testing.T, f *fakeProc, installed func() string, crashVersion string, delay time.Duration) *fakeSupervisor {
	s := &fakeSupervisor{stopc: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			p := f.kubelet()
			v := installed()
			s.mu.Lock()
			s.started = append(s.started, fmt.Sprintf("%d %s", p.PID, v))
			s.mu.Unlock()
			if v == crashVersion {
				time.Sleep(2 * time.Millisecond)
				f.stop(p.PID)
			}
			for f.alive(p.PID) {
				select {
				case <-s.stopc:
					return
				case <-time.After(2 * time.Millisecond):
				}
			}
			select {
			case <-s.stopc:
				return
			case <-time.After(delay):
			}
		}
	}()
	t.Cleanup(func() { close(s.stopc); <-s.done })
	return s
}

func (s *fakeSupervisor) starts() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.started...)
}

// restartAgent is an agent on a host without systemd whose /proc is a fakeProc.
func restartAgent(t *testing.T) (*Agent, *fakeProc, *strings.Builder) {
	root := t.TempDir()
	f := newFakeProc(t, root+"/usr/bin/kubelet")
	log := &strings.Builder{}
	a := &Agent{
		Host:      &Host{Root: root, ExePrefix: root},
		Out:       &syncWriter{w: log},
		Poll:      5 * time.Millisecond,
		KillAfter: time.Second,
	}
	f.use(a.Host)
	a.defaults()
	return a, f, log
}

type syncWriter struct {
	mu sync.Mutex
	w  *strings.Builder
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

func restartWithin(a *Agent, d time.Duration) (string, bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return a.restartKubelet(ctx, "/usr/bin/kubelet")
}

// A crash-looping kubelet is dead most of the time: when the files have been restored
// and no kubelet runs, the restart waits for the supervisor's next start instead of
// failing for want of a kubelet to signal (the lab's "ROLLBACK FAILED: no running
// kubelet ... to signal").
func TestRestartWithoutRunningKubeletWaitsForSupervisor(t *testing.T) {
	t.Parallel()
	a, f, log := restartAgent(t)
	started := make(chan Process, 1)
	go func() {
		time.Sleep(100 * time.Millisecond) // the supervisor's back-off
		started <- f.kubelet()
	}()
	how, seen, err := restartWithin(a, 5*time.Second)
	if err != nil || how != RestartSupervisor || !seen {
		t.Fatalf("restart: %q %v %v\n%s", how, seen, err, log)
	}
	p := <-started
	if sigs := f.signals(); len(sigs) != 0 {
		t.Errorf("signalled %v; there was no kubelet to signal", sigs)
	}
	if !strings.Contains(log.String(), "no kubelet is running") || !strings.Contains(log.String(), fmt.Sprintf("the kubelet (pid %d) started after the files were in place", p.PID)) {
		t.Errorf("log:\n%s", log)
	}
}

// A kubelet that started before the files were restored runs the replaced binary: it
// is signalled, and the restart waits for the supervisor's new kubelet, as before.
func TestRestartSignalsKubeletFromBeforeTheRestore(t *testing.T) {
	t.Parallel()
	a, f, log := restartAgent(t)
	old := f.kubelet()
	sup := make(chan Process, 1)
	go func() {
		for f.alive(old.PID) {
			time.Sleep(2 * time.Millisecond)
		}
		time.Sleep(20 * time.Millisecond)
		sup <- f.kubelet()
	}()
	if _, _, err := restartWithin(a, 5*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	if sigs := f.signals(); len(sigs) != 1 || sigs[0] != fmt.Sprintf("%d TERM", old.PID) {
		t.Errorf("signals %v, want SIGTERM to the old kubelet %d", sigs, old.PID)
	}
	p := <-sup
	if !strings.Contains(log.String(), fmt.Sprintf("the kubelet is running again (pid %d)", p.PID)) {
		t.Errorf("log:\n%s", log)
	}
}

// A kubelet the supervisor started after the restore already runs the restored files:
// it is left alone. `kubelet --version` processes are not kubelets to wait for.
func TestRestartLeavesKubeletStartedAfterTheRestore(t *testing.T) {
	t.Parallel()
	a, f, log := restartAgent(t)
	// The supervisor started a kubelet between the restore and the restart step, and
	// probes the version of another.
	a.Host.Uptime = func() (uint64, error) { return 1000, nil } // the restore's time
	p := f.kubelet()
	f.start(f.exe, "--version")
	if _, seen, err := restartWithin(a, 5*time.Second); err != nil || !seen {
		t.Fatalf("%v %v\n%s", seen, err, log)
	}
	if sigs := f.signals(); len(sigs) != 0 {
		t.Errorf("signalled %v", sigs)
	}
	if !strings.Contains(log.String(), fmt.Sprintf("the kubelet (pid %d) started after the files were in place", p.PID)) {
		t.Errorf("log:\n%s", log)
	}
}

func TestRestartWithoutSupervisorFailsWithinItsTimeout(t *testing.T) {
	t.Parallel()
	a, f, log := restartAgent(t)
	f.start(f.exe, "--version") // a version probe is not a kubelet
	start := time.Now()
	_, seen, err := restartWithin(a, 300*time.Millisecond)
	if err == nil || seen || !strings.Contains(err.Error(), "no kubelet (/usr/bin/kubelet) was running and none started within") ||
		!strings.Contains(err.Error(), "is it run by a supervisor") {
		t.Fatalf("%v %v\n%s", seen, err, log)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %s, limit 300ms", d)
	}
}

func verifyWithin(a *Agent, want string, d time.Duration, watch bool) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	start := time.Now()
	v, _ := version.ParseSemantic(want)
	err := a.verifyKubelet(ctx, "/usr/bin/kubelet", v, watch)
	return time.Since(start), err
}

// unhealthyKubeletNode is a node whose kubelet never answers healthz, with a fake
// /proc in which the test starts and stops kubelet processes.
func unhealthyKubeletNode(t *testing.T) (*node, *fakeProc) {
	n := newNode(t, nodeOpts{systemd: true})
	f := newFakeProc(t, n.root+"/usr/bin/kubelet")
	f.use(n.agent.Host)
	n.fail("healthz-"+oldV, "")
	return n, f
}

// A kubelet that cannot start is a crash loop: the verification says so long before
// its timeout, whether the restarts are seen (new PIDs) or the kubelet is simply gone.
func TestVerifyDetectsCrashLoop(t *testing.T) {
	t.Parallel()
	t.Run("changing pids", func(t *testing.T) {
		t.Parallel()
		n, f := unhealthyKubeletNode(t)
		// Each poll sees another kubelet: it dies and the supervisor starts the next.
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			for {
				p := f.kubelet()
				select {
				case <-stop:
					return
				case <-time.After(15 * time.Millisecond):
				}
				f.stop(p.PID)
			}
		}()
		took, err := verifyWithin(n.agent, oldV, time.Minute, true)
		if err == nil || !strings.HasPrefix(err.Error(), "kubelet crash loop: 3 kubelet processes one after the other in ") ||
			!strings.Contains(err.Error(), "none became healthy; see the kubelet's log (last check: kubelet healthz failed after restart: ") {
			t.Fatalf("%v", err)
		}
		if took > 20*time.Second {
			t.Errorf("took %s: the crash loop was not detected early", took)
		}
	})
	// A kubelet that dies within milliseconds, restarted several times between two
	// checks: the processes are watched between checks, not only at them.
	t.Run("short-lived processes", func(t *testing.T) {
		t.Parallel()
		n, f := unhealthyKubeletNode(t)
		n.agent.Poll = 400 * time.Millisecond // ProcPoll: 40ms
		n.agent.CrashLoopAbsentPolls = 1000
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			for {
				p := f.kubelet()
				time.Sleep(60 * time.Millisecond)
				f.stop(p.PID)
				select {
				case <-stop:
					return
				case <-time.After(90 * time.Millisecond):
				}
			}
		}()
		took, err := verifyWithin(n.agent, oldV, 10*time.Second, true)
		if err == nil || !strings.HasPrefix(err.Error(), "kubelet crash loop: 3 kubelet processes one after the other in ") {
			t.Fatalf("%v", err)
		}
		if took > 3*time.Second {
			t.Errorf("took %s for 3 restarts at 150ms intervals", took)
		}
	})
	// A starting kubelet forks the commands it runs; until they exec, each runs the
	// kubelet's binary with its arguments. They are its children, not restarts.
	t.Run("the kubelet's own children", func(t *testing.T) {
		t.Parallel()
		n, f := unhealthyKubeletNode(t)
		n.agent.Poll = 200 * time.Millisecond // ProcPoll: 20ms
		k := f.kubelet()
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			for {
				c := f.startChild(k.PID, k.Exe, k.Args[1:]...)
				time.Sleep(30 * time.Millisecond)
				f.stop(c.PID)
				select {
				case <-stop:
					return
				case <-time.After(10 * time.Millisecond):
				}
			}
		}()
		_, err := verifyWithin(n.agent, oldV, 2*time.Second, true)
		if err == nil || strings.Contains(err.Error(), "crash loop") || !strings.Contains(err.Error(), "kubelet healthz failed after restart") {
			t.Fatalf("%v", err)
		}
	})
	t.Run("no kubelet process", func(t *testing.T) {
		t.Parallel()
		n, _ := unhealthyKubeletNode(t)
		n.agent.CrashLoopAbsentPolls = 10
		took, err := verifyWithin(n.agent, oldV, time.Minute, true)
		if err == nil || !strings.HasPrefix(err.Error(), "kubelet crash loop: no kubelet process in 10 checks in a row (") ||
			!strings.Contains(err.Error(), "it exits as soon as it starts, or nothing starts it") {
			t.Fatalf("%v", err)
		}
		if took > 20*time.Second {
			t.Errorf("took %s", took)
		}
	})
	// Where no kubelet process was ever seen (the agent cannot see the host's kubelet
	// processes), absence proves nothing: the verify timeout decides.
	t.Run("processes not visible", func(t *testing.T) {
		t.Parallel()
		n, _ := unhealthyKubeletNode(t)
		n.agent.CrashLoopAbsentPolls = 3
		_, err := verifyWithin(n.agent, oldV, 500*time.Millisecond, false)
		if err == nil || strings.Contains(err.Error(), "crash loop") || !strings.Contains(err.Error(), "kubelet healthz failed after restart") {
			t.Fatalf("%v", err)
		}
	})
	t.Run("healthy kubelet", func(t *testing.T) {
		t.Parallel()
		n := newNode(t, nodeOpts{systemd: true})
		f := newFakeProc(t, n.root+"/usr/bin/kubelet")
		f.use(n.agent.Host)
		f.kubelet()
		if _, err := verifyWithin(n.agent, oldV, 5*time.Second, true); err != nil {
			t.Fatal(err)
		}
	})
}

// The lab's failure case, end to end on a host without systemd: the new kubelet
// crash-loops under its supervisor. The verification names the crash loop within
// seconds (not at its timeout), the rollback restores the files while no kubelet runs,
// waits for the supervisor to start the old kubelet, and the node is rolled back.
func TestCrashLoopingKubeletRollsBackUnderSupervisor(t *testing.T) {
	t.Parallel()
	for i := 0; i < 3; i++ { // the outcome must not depend on where the loop is
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			n := newNode(t, nodeOpts{})
			n.agent.Config.VerifyTimeout = time.Minute
			n.agent.Poll = 10 * time.Millisecond
			f := newFakeProc(t, n.root+"/usr/bin/kubelet")
			f.use(n.agent.Host)
			sup := startFakeSupervisor(t, f, n.installedVersion, newV, time.Duration(5+10*i)*time.Millisecond)
			n.preprocess()
			before := n.tree()
			n.fail("healthz-"+newV, "") // what a kubelet that is not up answers: not ok
			start := time.Now()
			out := n.upgrade()
			if out.Code != ExitRolledBack || !strings.HasPrefix(out.Message, "upgrade: kubelet crash loop: ") || !strings.HasSuffix(out.Message, "; rolled back to v1.35.4") {
				t.Fatalf("exit %d: %s\nsupervisor starts: %v\nsignals: %v", out.Code, out.Message, sup.starts(), f.signals())
			}
			if took := time.Since(start); took > 30*time.Second {
				t.Errorf("took %s; the verify timeout is 1m: the crash loop was not detected early", took)
			}
			if diff := cmp.Diff(before, n.tree()); diff != "" {
				t.Errorf("restored tree differs (-before +after):\n%s", diff)
			}
			r := n.lastResult()
			if r.Result != ResultRolledBack || r.Step != StepVerify {
				t.Errorf("last-result.json: %s at %s", r.Result, r.Step)
			}
			for _, s := range r.Steps {
				if s.Error != "" && s.Name != StepVerify {
					t.Errorf("step %s failed: %s", s.Name, s.Error)
				}
			}
			// The old kubelet runs again: started by the supervisor after the restore.
			ps, _ := n.agent.Host.runningKubelets("/usr/bin/kubelet")
			starts := sup.starts()
			if len(ps) != 1 || !strings.HasSuffix(starts[len(starts)-1], " "+oldV) {
				t.Errorf("running %+v; supervisor starts %v", ps, starts)
			}
		})
	}
}

// kubeadm has the long step timeout, the kubelet's restart and verification the short
// verify timeout; the rollback's restart, which may wait for a supervisor's back-off
// and whose failure needs a person, keeps the step timeout.
func TestStepTimeouts(t *testing.T) {
	t.Parallel()
	u := &upgradeRun{a: &Agent{Config: Config{StepTimeout: 10 * time.Minute, VerifyTimeout: 2 * time.Minute}}}
	for step, want := range map[string]string{
		StepKubeadm: "step timeout 10m0s", StepInstallKubelet: "step timeout 10m0s",
		StepRestart: "verify timeout 2m0s", StepVerify: "verify timeout 2m0s",
		StepRollbackRestore: "step timeout 10m0s", StepRollbackRestart: "step timeout 10m0s", StepRollbackVerify: "verify timeout 2m0s",
	} {
		if d, name := u.timeout(step); fmt.Sprintf("%s %s", name, d) != want {
			t.Errorf("%s: %s %s, want %s", step, name, d, want)
		}
	}
}
