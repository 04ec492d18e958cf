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
	// KillAfter is how long the old kubelet gets to exit after SIGTERM before it is
	// sent SIGKILL (default 30s; the kubelet normally exits at once).
	KillAfter time.Duration

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
	if a.KillAfter == 0 {
		a.KillAfter = 30 * time.Second
	}
	if a.Config.StepTimeout == 0 {
		a.Config.StepTimeout = DefaultStepTimeout
	}
	if a.Config.StateDir == "" {
		a.Config.StateDir = DefaultStateDir
	}
	if a.Config.BinDir == "" {
		a.Config.BinDir = DefaultBinDir
	}
}

func (a *Agent) logf(format string, args ...any) {
	fmt.Fprintf(a.Out, "%s %s\n", a.Now().UTC().Format(time.RFC3339), fmt.Sprintf(format, args...))
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

// sleep waits for one poll interval or until ctx ends.
func (a *Agent) sleep(ctx context.Context) error {
	t := time.NewTimer(a.Poll)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// restartKubelet restarts the kubelet so that it runs the binary now installed:
//
//   - with systemd (the host has /run/systemd/system): `systemctl daemon-reload` and
//     `systemctl restart kubelet`, run in the host's namespaces;
//   - otherwise (OpenRC, runit, s6, a plain init script, a supervising shell loop):
//     the running kubelet, found in the host's PID namespace by its binary, gets
//     SIGTERM, and the agent waits for its supervisor to start a new kubelet process
//     (a different PID or start time). An old kubelet still alive after KillAfter
//     gets SIGKILL.
//
// Restarting the kubelet never stops this pod: containers are children of the
// runtime's shims, not of the kubelet, and live in the kubepods cgroups, not in
// kubelet.service's; a new kubelet adopts the running pods from the runtime.
func (a *Agent) restartKubelet(ctx context.Context, kubeletPath string) (string, error) {
	if a.Host.HasSystemd() {
		a.logf("restarting the kubelet with systemctl daemon-reload and systemctl restart kubelet")
		if _, err := a.Host.Runner.Run(ctx, Command{Name: "systemctl", Args: []string{"daemon-reload"}, Output: a.Out}); err != nil {
			return RestartSystemd, fmt.Errorf("systemctl daemon-reload: %w", err)
		}
		_, err := a.Host.Runner.Run(ctx, Command{Name: "systemctl", Args: []string{"restart", "kubelet"}, Output: a.Out})
		if err != nil {
			return RestartSystemd, fmt.Errorf("systemctl restart kubelet: %w", err)
		}
		return RestartSystemd, nil
	}
	before, err := a.Host.runningKubelets(kubeletPath)
	if err != nil {
		return RestartSupervisor, err
	}
	if len(before) == 0 {
		return RestartSupervisor, fmt.Errorf("no running kubelet (%s) found in the host's PID namespace (%s) to signal, and the host has no systemd: start the kubelet under a supervisor that restarts it", kubeletPath, a.Host.Proc)
	}
	old := map[procID]bool{}
	var pids []string
	for _, p := range before {
		old[identity(p)] = true
		pids = append(pids, fmt.Sprint(p.PID))
		if err := signalIfSame(a.Host.Proc, p, syscall.SIGTERM); err != nil {
			return RestartSupervisor, fmt.Errorf("signal the kubelet (pid %d): %w", p.PID, err)
		}
	}
	a.logf("sent SIGTERM to the kubelet (pid %s); waiting for its supervisor to start %s again", strings.Join(pids, ","), kubeletPath)
	start := a.Now()
	killed := false
	for {
		now, err := a.Host.runningKubelets(kubeletPath)
		if err != nil {
			return RestartSupervisor, err
		}
		var oldAlive []Process
		for _, p := range now {
			if !old[identity(p)] {
				a.logf("the kubelet is running again (pid %d)", p.PID)
				return RestartSupervisor, nil
			}
			oldAlive = append(oldAlive, p)
		}
		if len(oldAlive) > 0 && !killed && a.Now().Sub(start) > a.KillAfter {
			for _, p := range oldAlive {
				a.logf("the kubelet (pid %d) did not exit %s after SIGTERM; sending SIGKILL", p.PID, a.KillAfter)
				_ = signalIfSame(a.Host.Proc, p, syscall.SIGKILL)
			}
			killed = true
		}
		if err := a.sleep(ctx); err != nil {
			return RestartSupervisor, fmt.Errorf("no new kubelet process within %s after SIGTERM to pid %s: nothing restarted it (is the kubelet run by a supervisor such as OpenRC supervise-daemon, runit or s6?)",
				a.Now().Sub(start).Round(time.Second), strings.Join(pids, ","))
		}
	}
}

// procID identifies a process across PID reuse.
type procID struct {
	pid   int
	start uint64
}

func identity(p Process) procID { return procID{p.PID, p.StartTime} }

// signalIfSame signals p unless its PID now belongs to another process.
func signalIfSame(procDir string, p Process, sig syscall.Signal) error {
	cur, err := readProcess(procDir, p.PID)
	if err != nil || cur.StartTime != p.StartTime {
		return nil // already gone
	}
	if err := syscall.Kill(p.PID, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
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
// still runs a replaced binary, and the healthz endpoint answers ok.
func (a *Agent) verifyKubelet(ctx context.Context, kubeletPath string, want *version.Version) error {
	var last error
	for {
		err := a.checkKubelet(ctx, kubeletPath, want)
		if err == nil {
			return nil
		}
		// A check cut short by the deadline says less than the one before it.
		if ctx.Err() == nil || last == nil {
			last = err
		}
		if err := a.sleep(ctx); err != nil {
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
