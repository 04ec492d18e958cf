package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/util/version"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/hostcheck"
)

// Agent runs one command of the node agent.
type Agent struct {
	Config Config
	Host   *Host
	// Out receives the step-by-step log (the pod log, `kubectl edgeupgrade logs NODE`).
	Out  io.Writer
	Now  func() time.Time
	HTTP *http.Client
	// Poll is how often waits look again (default 1s).
	Poll time.Duration
	// ProcPoll is how often the kubelet's processes are looked at while waiting for a
	// restart and between verification checks (default Poll/10, at most 100ms): a
	// crash-looping kubelet lives a fraction of a second per start, and a look at /proc
	// is cheap.
	ProcPoll time.Duration
	// KillAfter is how long the old kubelet gets to exit after SIGTERM before it is
	// sent SIGKILL (default 30s; the kubelet normally exits at once).
	KillAfter time.Duration
	// CrashLoopStarts (default 3) kubelet processes seen one after the other while
	// verifying, or CrashLoopAbsentPolls (default 15) checks in a row without a
	// kubelet process, fail the verification as a crash loop before its timeout.
	CrashLoopStarts      int
	CrashLoopAbsentPolls int

	// beforeStep, when set (tests only), runs before each upgrade step; its error fails
	// the step as if the step itself had failed.
	beforeStep func(step string) error
}

// Restart methods recorded in last-result.json.
const (
	RestartSystemd    = "systemd"
	RestartSupervisor = "supervisor"
)

func (a *Agent) defaults() {
	if a.Now == nil {
		a.Now = time.Now
	}
	if a.Out == nil {
		a.Out = io.Discard
	}
	if a.HTTP == nil {
		a.HTTP = &http.Client{Timeout: 5 * time.Second}
	}
	if a.Poll == 0 {
		a.Poll = time.Second
	}
	if a.ProcPoll == 0 {
		a.ProcPoll = min(max(a.Poll/10, 5*time.Millisecond), 100*time.Millisecond)
	}
	if a.KillAfter == 0 {
		a.KillAfter = 30 * time.Second
	}
	if a.CrashLoopStarts == 0 {
		a.CrashLoopStarts = 3
	}
	if a.CrashLoopAbsentPolls == 0 {
		a.CrashLoopAbsentPolls = 15
	}
	if a.Config.StepTimeout == 0 {
		a.Config.StepTimeout = DefaultStepTimeout
	}
	if a.Config.VerifyTimeout == 0 {
		a.Config.VerifyTimeout = DefaultVerifyTimeout
	}
	if a.Config.StateDir == "" {
		a.Config.StateDir = DefaultStateDir
	}
	if a.Config.BinDir == "" {
		a.Config.BinDir = DefaultBinDir
	}
	if a.Config.RuntimeBinDir == "" {
		a.Config.RuntimeBinDir = DefaultRuntimeBin
	}
}

// logf writes one timestamped log line; logging is best effort and never fails a step.
func (a *Agent) logf(format string, args ...any) {
	_, _ = fmt.Fprintf(a.Out, "%s %s\n", a.Now().UTC().Format(time.RFC3339), fmt.Sprintf(format, args...))
}

// kubeletPath is the host path of the kubelet binary.
func (a *Agent) kubeletPath() string {
	if a.Config.KubeletPath != "" {
		return a.Config.KubeletPath
	}
	if p := a.Host.findKubeletBinary(); p != "" {
		return p
	}
	for _, p := range []string{"/usr/bin/kubelet", "/usr/local/bin/kubelet", "/opt/bin/kubelet"} {
		if _, err := os.Stat(a.Host.Path(p)); err == nil {
			return p
		}
	}
	return "/usr/bin/kubelet"
}

// siblingPath is the host path of a binary kept beside the kubelet (kubeadm, kubectl).
func (a *Agent) siblingPath(kubeletPath, name string) string {
	p := filepath.Join(filepath.Dir(kubeletPath), name)
	if _, err := os.Stat(a.Host.Path(p)); err == nil {
		return p
	}
	return filepath.Join("/usr/bin", name)
}

func (a *Agent) kubeadmPath(kubeletPath string) string {
	if a.Config.KubeadmPath != "" {
		return a.Config.KubeadmPath
	}
	return a.siblingPath(kubeletPath, "kubeadm")
}

// binaryVersion runs `bin --version` (or `kubeadm version -o short`) on the host.
func (a *Agent) binaryVersion(ctx context.Context, bin string) (*version.Version, error) {
	args := []string{"--version"}
	if filepath.Base(bin) == "kubeadm" {
		args = []string{"version", "-o", "short"}
	}
	out, err := a.Host.Run(ctx, bin, args...)
	if err != nil {
		return nil, fmt.Errorf("run %s %s: %w", bin, strings.Join(args, " "), err)
	}
	return hostcheck.ParseKubeletVersion(string(out))
}

func (a *Agent) healthz(ctx context.Context) error {
	cfg, err := hostcheck.ReadKubeletConfig(a.Host, hostcheck.KubeletConfigPath)
	if err != nil {
		return err
	}
	url := cfg.HealthzURL()
	if url == "" {
		return nil // disabled: the version and the process are all we can check
	}
	return hostcheck.Healthz(ctx, a.HTTP, url)
}

func sleepFor(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// restartKubelet restarts the kubelet so that it runs the files installed (or restored)
// just before the call:
//
//   - with systemd (the host has /run/systemd/system): `systemctl daemon-reload` and
//     `systemctl restart kubelet`, run in the host's namespaces;
//   - otherwise (OpenRC, runit, s6, a plain init script, a supervising shell loop):
//     every kubelet process that started before the call (found in the host's PID
//     namespace by its binary) gets SIGTERM, and the agent waits for its supervisor to
//     start a kubelet process that began after the call. An old kubelet still alive
//     after KillAfter gets SIGKILL. When no kubelet runs at all (a crash-looping
//     kubelet is dead most of the time), there is nothing to signal: the agent waits
//     for the supervisor's next start. A kubelet that already began after the call
//     runs the new files and is left alone.
//
// It reports whether a kubelet process was seen, so that verification knows it can
// watch the kubelet's processes. Restarting the kubelet never stops this pod:
// containers are children of the runtime's shims, not of the kubelet, and live in the
// kubepods cgroups, not in kubelet.service's; a new kubelet adopts the running pods
// from the runtime.
func (a *Agent) restartKubelet(ctx context.Context, kubeletPath string) (method string, seen bool, err error) {
	return a.restartService(ctx, "kubelet", kubeletPath)
}

// restartService restarts the daemon name (the kubelet, containerd: the systemd unit
// and the process have that name) that runs the binary at host path bin, as
// restartKubelet describes.
func (a *Agent) restartService(ctx context.Context, name, bin string) (method string, seen bool, err error) {
	kubeletPath := bin
	if a.Host.HasSystemd() {
		ps, _ := a.Host.runningKubelets(kubeletPath)
		a.logf("restarting the %s with systemctl daemon-reload and systemctl restart %s", name, name)
		if _, err := a.Host.Runner.Run(ctx, Command{Name: "systemctl", Args: []string{"daemon-reload"}, Output: a.Out}); err != nil {
			return RestartSystemd, len(ps) > 0, fmt.Errorf("systemctl daemon-reload: %w", err)
		}
		_, err := a.Host.Runner.Run(ctx, Command{Name: "systemctl", Args: []string{"restart", name}, Output: a.Out})
		if err != nil {
			return RestartSystemd, len(ps) > 0, fmt.Errorf("systemctl restart %s: %w", name, err)
		}
		return RestartSystemd, len(ps) > 0, nil
	}
	// Process start times and uptime are both ticks of CLOCK_BOOTTIME: a process whose
	// start time is after since was exec'd after the files were in place.
	since, err := a.Host.uptime()
	if err != nil {
		return RestartSupervisor, false, fmt.Errorf("read the host's uptime: %w", err)
	}
	old := map[procID]bool{}
	var pids []string
	start := a.Now()
	killed, announced := false, false
	for {
		now, err := a.Host.runningKubelets(kubeletPath)
		if err != nil {
			return RestartSupervisor, len(old) > 0, err
		}
		var oldAlive []Process
		for _, p := range now {
			id := identity(p)
			switch {
			case old[id]:
				oldAlive = append(oldAlive, p)
			case p.StartTime > since && !p.Deleted:
				if len(old) == 0 {
					a.logf("the %s (pid %d) started after the files were in place: it runs them, no restart needed", name, p.PID)
				} else {
					a.logf("the %s is running again (pid %d)", name, p.PID)
				}
				return RestartSupervisor, true, nil
			default: // started before the files were in place: restart it
				if err := a.Host.signalIfSame(p, syscall.SIGTERM); err != nil {
					return RestartSupervisor, true, fmt.Errorf("signal the %s (pid %d): %w", name, p.PID, err)
				}
				old[id] = true
				pids = append(pids, fmt.Sprint(p.PID))
				oldAlive = append(oldAlive, p)
				a.logf("sent SIGTERM to the %s (pid %d); waiting for its supervisor to start %s again", name, p.PID, kubeletPath)
			}
		}
		if len(old) == 0 && !announced {
			a.logf("no %s is running (a crash-looping %s is dead most of the time); waiting for its supervisor to start %s", name, name, kubeletPath)
			announced = true
		}
		if len(oldAlive) > 0 && !killed && a.Now().Sub(start) > a.KillAfter {
			for _, p := range oldAlive {
				a.logf("the %s (pid %d) did not exit %s after SIGTERM; sending SIGKILL", name, p.PID, a.KillAfter)
				_ = a.Host.signalIfSame(p, syscall.SIGKILL)
			}
			killed = true
		}
		if err := sleepFor(ctx, a.ProcPoll); err != nil {
			waited := roundDuration(a.Now().Sub(start))
			if len(old) == 0 {
				return RestartSupervisor, false, fmt.Errorf("no %s (%s) was running and none started within %s: the host has no systemd and nothing restarted the %s (is it run by a supervisor such as OpenRC supervise-daemon, runit or s6?)",
					name, kubeletPath, waited, name)
			}
			return RestartSupervisor, true, fmt.Errorf("no new %s process within %s after SIGTERM to pid %s: nothing restarted it (is the %s run by a supervisor such as OpenRC supervise-daemon, runit or s6?)",
				name, waited, strings.Join(pids, ","), name)
		}
	}
}

// roundDuration rounds d for messages: to seconds, or to milliseconds under a second.
func roundDuration(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(time.Second)
}

// procID identifies a process across PID reuse.
type procID struct {
	pid   int
	start uint64
}

func identity(p Process) procID { return procID{p.PID, p.StartTime} }

// signalIfSame signals p unless its PID now belongs to another process.
func (h *Host) signalIfSame(p Process, sig syscall.Signal) error {
	cur, err := readProcess(h.Proc, p.PID)
	if err != nil || cur.StartTime != p.StartTime {
		return nil // already gone
	}
	kill := h.Kill
	if kill == nil {
		kill = syscall.Kill
	}
	if err := kill(p.PID, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	return nil
}

// verifyError says which verification failed, for the termination message.
type verifyError struct {
	what string
	err  error
}

func (e *verifyError) Error() string { return e.what + ": " + e.err.Error() }
func (e *verifyError) Unwrap() error { return e.err }

// verifyKubelet waits until the installed kubelet reports want, no kubelet process
// still runs a replaced binary, and the healthz endpoint answers ok. Between checks it
// watches the kubelet's processes (every ProcPoll) and fails early on a crash loop:
// CrashLoopStarts kubelet processes seen one after the other, or, when the kubelet's
// processes can be watched (watch: one was seen), no kubelet process between
// CrashLoopAbsentPolls checks in a row. A healthy kubelet neither exits nor
// disappears; one that cannot start would otherwise cost the whole verify timeout.
func (a *Agent) verifyKubelet(ctx context.Context, kubeletPath string, want *version.Version, watch bool) error {
	a.defaults()
	var last error
	start := a.Now()
	seen := map[procID]bool{}
	var pids []string
	absent := 0
	for {
		err := a.checkKubelet(ctx, kubeletPath, want)
		if err == nil {
			return nil
		}
		// A check cut short by the deadline says less than the one before it.
		if ctx.Err() == nil || last == nil {
			last = err
		}
		present, looked := false, false
		for next, i := a.Now().Add(a.Poll), 0; ; i++ {
			if ps, perr := a.Host.runningKubelets(kubeletPath); perr == nil {
				looked = true
				for _, p := range ps {
					present = true
					if !seen[identity(p)] {
						seen[identity(p)] = true
						pids = append(pids, fmt.Sprint(p.PID))
					}
				}
			}
			if len(seen) >= a.CrashLoopStarts {
				return &verifyError{"kubelet crash loop", fmt.Errorf("%d kubelet processes one after the other in %s (pids %s), none became healthy; see the kubelet's log (last check: %v)",
					len(seen), roundDuration(a.Now().Sub(start)), strings.Join(pids, ", "), last)}
			}
			if !a.Now().Before(next) || i >= int(a.Poll/a.ProcPoll) {
				break
			}
			if err := sleepFor(ctx, min(a.ProcPoll, next.Sub(a.Now()))); err != nil {
				return last
			}
		}
		switch {
		case present:
			absent, watch = 0, true
		case looked:
			absent++
		}
		if watch && absent >= a.CrashLoopAbsentPolls {
			return &verifyError{"kubelet crash loop", fmt.Errorf("no kubelet process in %d checks in a row (%s): it exits as soon as it starts, or nothing starts it; see the kubelet's log (last check: %v)",
				absent, roundDuration(a.Now().Sub(start)), last)}
		}
		if err := ctx.Err(); err != nil {
			return last
		}
	}
}

func (a *Agent) checkKubelet(ctx context.Context, kubeletPath string, want *version.Version) error {
	got, err := a.binaryVersion(ctx, kubeletPath)
	if err != nil {
		return &verifyError{"cannot read the kubelet version", err}
	}
	if !got.EqualTo(want) {
		return &verifyError{"kubelet version check failed", fmt.Errorf("%s reports v%s, not v%s", kubeletPath, got, want)}
	}
	procs, err := a.Host.runningKubelets(kubeletPath)
	if err != nil {
		return &verifyError{"kubelet process check failed", err}
	}
	for _, p := range procs {
		if p.Deleted {
			return &verifyError{"kubelet restart check failed", fmt.Errorf("the running kubelet (pid %d) still runs the replaced binary", p.PID)}
		}
	}
	if err := a.healthz(ctx); err != nil {
		return &verifyError{"kubelet healthz failed after restart", err}
	}
	return nil
}
