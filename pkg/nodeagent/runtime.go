package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/util/version"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/hostcheck"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/internal/containerd"
)

// The container runtime's upgrade (containerd), run before the kubelet's when the Job
// asks for a runtime version (see docs/node-agent.md § The container runtime).
const (
	StepInstallRuntime = "install-containerd"
	StepRestartRuntime = "restart-containerd"
	StepVerifyRuntime  = "verify-containerd"

	StepRollbackRuntimeRestore = "rollback-restore-containerd"
	StepRollbackRuntimeRestart = "rollback-restart-containerd"
	StepRollbackRuntimeVerify  = "rollback-verify-containerd"
)

// Files of containerd on a node and in the upgrade image.
const (
	containerdBin       = "containerd"
	containerdShim      = "containerd-shim-runc-v2"
	containerdCtr       = "ctr"
	ContainerdConfig    = "/etc/containerd/config.toml"
	defaultRuntimeSock  = "/run/containerd/containerd.sock"
	DefaultRuntimeBin   = "/usr/local/containerd/bin"
	runtimeK8sNamespace = "k8s.io"
)

// runtimeBinaries are what the upgrade installs: the daemon, the shim that starts new
// containers and the client the verification uses.
var runtimeBinaries = []string{containerdBin, containerdShim, containerdCtr}

// runtimeAction is what the upgrade does with the container runtime.
type runtimeAction int

const (
	runtimeLeave   runtimeAction = iota // no runtime version asked: the runtime is not touched
	runtimeCurrent                      // containerd is already at (or past) the version asked
	runtimeUpgrade                      // containerd is older: upgrade it before the kubelet
)

func (r runtimeAction) String() string {
	return [...]string{"leave", "current", "upgrade"}[r]
}

// planRuntime decides what to do with the node's containerd. want is the version the
// Job asks for ("" for none); installed is `containerd --version` of the node's
// binary, or an error when it could not be run. A node without containerd, or with
// one that cannot say its version, is refused only when a version was asked: the
// runtime upgrade is containerd's alone. containerd is never downgraded.
func planRuntime(want string, installed *version.Version, installedErr error) (runtimeAction, error) {
	if want == "" {
		return runtimeLeave, nil
	}
	w, err := containerd.ParseVersion(want)
	if err != nil {
		return runtimeLeave, err
	}
	if installedErr != nil {
		return runtimeLeave, fmt.Errorf("runtime version %s asked, but the node's containerd cannot be run (%v): the runtime upgrade supports containerd only", want, installedErr)
	}
	if installed.AtLeast(w) {
		return runtimeCurrent, nil
	}
	return runtimeUpgrade, nil
}

// parseContainerdVersion reads `containerd --version`:
//
//	containerd github.com/containerd/containerd v1.6.20~ds1 1.6.20~ds1-1+b1
//	containerd github.com/containerd/containerd/v2 v2.2.9 <revision>
func parseContainerdVersion(out string) (*version.Version, error) {
	f := strings.Fields(out)
	if len(f) < 3 || f[0] != "containerd" {
		return nil, fmt.Errorf("unexpected containerd --version output %q", strings.TrimSpace(out))
	}
	return containerd.ParseVersion(f[2])
}

// parseCtrServerVersion reads the server's version from `ctr version`.
func parseCtrServerVersion(out string) (*version.Version, error) {
	_, server, ok := strings.Cut(out, "Server:")
	if ok {
		for _, l := range strings.Split(server, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(l), "Version:"); ok {
				return containerd.ParseVersion(strings.TrimSpace(v))
			}
		}
	}
	return nil, fmt.Errorf("ctr version printed no server version: %q", strings.TrimSpace(out))
}

// criPluginError says why `ctr plugins ls` shows no working CRI plugin ("" when it
// is loaded): the kubelet talks to containerd through it, so a containerd whose CRI
// plugin failed (a config option the new release rejects) answers ctr but runs no pod.
func criPluginError(out string) string {
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) >= 3 && f[0] == "io.containerd.grpc.v1" && f[1] == "cri" {
			if f[len(f)-1] == "ok" {
				return ""
			}
			return "the CRI plugin (io.containerd.grpc.v1 cri) is " + f[len(f)-1] + ": see containerd's log"
		}
	}
	return "containerd has no CRI plugin (io.containerd.grpc.v1 cri): see containerd's log and its config"
}

// runningTasks reads `ctr -n k8s.io tasks ls` into task ID -> PID for running tasks.
func runningTasks(out string) map[string]string {
	tasks := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) == 3 && f[2] == "RUNNING" {
			tasks[f[0]] = f[1]
		}
	}
	return tasks
}

// lostTasks lists the containers that ran before containerd's restart and no longer
// run with the same process after it: restarting containerd must not stop a
// container (its shim keeps it running), so any is a failed upgrade.
func lostTasks(before, after map[string]string) []string {
	var lost []string
	for id, pid := range before {
		switch now, ok := after[id]; {
		case !ok:
			lost = append(lost, fmt.Sprintf("%.12s (pid %s) no longer runs", id, pid))
		case now != pid:
			lost = append(lost, fmt.Sprintf("%.12s runs as pid %s, not %s (restarted)", id, now, pid))
		}
	}
	sort.Strings(lost)
	return lost
}

// runtimeBackupName is the backup of containerd version v, kept beside the kubelet's
// (backup/containerd-<version>/).
func runtimeBackupName(v *version.Version) string { return "containerd-v" + v.String() }

// runtime is the container runtime part of one upgrade.
type runtime struct {
	action             runtimeAction
	from, want         *version.Version
	bin, shim, ctr     string // host paths
	sock               string // host path of containerd's socket
	backup             *Manifest
	stage              string // host staging directory of the new binaries
	tasks              map[string]string
	seen, upgraded     bool
	restartedBy        string
	fromText, wantText string
}

// containerdPath is the host path of the containerd binary: the running one's,
// else the first that exists of the usual places.
func (a *Agent) containerdPath() string {
	if p := a.Host.findBinary(containerdBin); p != "" {
		return p
	}
	for _, p := range []string{"/usr/bin/containerd", "/usr/local/bin/containerd", "/opt/bin/containerd"} {
		if _, err := os.Stat(a.Host.Path(p)); err == nil {
			return p
		}
	}
	return "/usr/bin/containerd"
}

// runtimeSocket is the host path of the CRI socket the kubelet uses.
func (a *Agent) runtimeSocket() string {
	if cfg, err := hostcheck.ReadKubeletConfig(a.Host, hostcheck.KubeletConfigPath); err == nil {
		if p, ok := strings.CutPrefix(cfg.ContainerRuntimeEndpoint, "unix://"); ok && p != "" {
			return p
		}
	}
	return defaultRuntimeSock
}

// planNodeRuntime reads the node's containerd and decides what to do with it.
func (a *Agent) planNodeRuntime(ctx context.Context) (*runtime, error) {
	rt := &runtime{bin: a.containerdPath(), sock: a.runtimeSocket(), wantText: a.Config.RuntimeVersion}
	rt.shim = filepath.Join(filepath.Dir(rt.bin), containerdShim)
	rt.ctr = filepath.Join(filepath.Dir(rt.bin), containerdCtr)
	if a.Config.RuntimeVersion == "" {
		return rt, nil
	}
	var err error
	if rt.want, err = containerd.ParseVersion(a.Config.RuntimeVersion); err != nil {
		return nil, err
	}
	rt.from, err = a.runtimeBinaryVersion(ctx, rt.bin)
	if rt.action, err = planRuntime(a.Config.RuntimeVersion, rt.from, err); err != nil {
		return nil, err
	}
	rt.fromText = "v" + rt.from.String()
	a.logf("containerd %s at %s, %s asked: %s", rt.fromText, rt.bin, rt.wantText, rt.action)
	return rt, nil
}

func (a *Agent) runtimeBinaryVersion(ctx context.Context, bin string) (*version.Version, error) {
	out, err := a.Host.Run(ctx, bin, "--version")
	if err != nil {
		return nil, fmt.Errorf("run %s --version: %w", bin, err)
	}
	return parseContainerdVersion(string(out))
}

// runtimeBackupSet is what the runtime's backup holds.
func (rt *runtime) backupSet() backupSet {
	return backupSet{files: []string{rt.bin, rt.shim, rt.ctr, ContainerdConfig}}
}

// backUpRuntime keeps a good backup of the node's containerd or makes one (preprocess).
func (a *Agent) backUpRuntime(ctx context.Context) (string, error) {
	rt, err := a.planNodeRuntime(ctx)
	if err != nil || rt.action != runtimeUpgrade {
		return "", err
	}
	c := a.Config
	name := runtimeBackupName(rt.from)
	if m, err := loadBackup(a.Host, c.StateDir, name); err == nil && verifyTree(a.Host, m) == nil {
		return fmt.Sprintf("the backup of containerd %s is up to date", rt.fromText), nil
	}
	m, err := createBackup(a.Host, c.StateDir, name, rt.backupSet(), Manifest{Node: c.NodeName, Role: c.Role, RunID: c.RunID}, a.Now())
	if err != nil {
		return "", fmt.Errorf("backup of containerd %s failed: %w", rt.fromText, err)
	}
	return fmt.Sprintf("backed up containerd %s (%d files) to %s", rt.fromText, len(m.Files), backupRoot(c.StateDir, name)), nil
}

// stageRuntime copies the image's containerd binaries onto the host and checks that
// they report the version asked.
func (u *upgradeRun) stageRuntime(ctx context.Context) error {
	rt, a := u.rt, u.a
	rt.stage = filepath.Join(u.stage, "containerd")
	for _, name := range runtimeBinaries {
		src := filepath.Join(a.Config.RuntimeBinDir, name)
		if _, err := os.Stat(src); err != nil {
			return fmt.Errorf("the upgrade image has no %s at %s: use an upgrade image that carries containerd %s", name, src, rt.wantText)
		}
		if err := installFile(src, a.Host.Path(filepath.Join(rt.stage, name)), 0o755, "-"); err != nil {
			return fmt.Errorf("copy %s onto the host: %w", name, err)
		}
	}
	v, err := a.runtimeBinaryVersion(ctx, filepath.Join(rt.stage, containerdBin))
	if err != nil {
		return err
	}
	if !v.EqualTo(rt.want) {
		return fmt.Errorf("the upgrade image carries containerd v%s, not %s: use an upgrade image that carries containerd %s", v, rt.wantText, rt.wantText)
	}
	a.logf("staged containerd %s in %s", rt.wantText, rt.stage)
	return nil
}

// ctrRun runs the staged (new) ctr against the node's containerd: it speaks to the
// old daemon before the restart and to the new one after.
func (u *upgradeRun) ctrRun(ctx context.Context, args ...string) (string, error) {
	out, err := u.a.Host.Run(ctx, filepath.Join(u.rt.stage, containerdCtr), append([]string{"--address", u.rt.sock}, args...)...)
	return string(out), err
}

// snapshotTasks records the containers running before containerd is replaced.
func (u *upgradeRun) snapshotTasks(ctx context.Context) error {
	out, err := u.ctrRun(ctx, "--namespace", runtimeK8sNamespace, "tasks", "ls")
	if err != nil {
		return fmt.Errorf("list the running containers: %w", err)
	}
	u.rt.tasks = runningTasks(out)
	u.a.logf("%d containers run in containerd's %s namespace", len(u.rt.tasks), runtimeK8sNamespace)
	return nil
}

func (u *upgradeRun) installRuntime(ctx context.Context) error {
	rt, h := u.rt, u.a.Host
	if err := u.snapshotTasks(ctx); err != nil {
		return err
	}
	rt.upgraded = true // from here on a failure restores the runtime's backup
	for _, name := range runtimeBinaries {
		dst := filepath.Join(filepath.Dir(rt.bin), name)
		if _, err := os.Stat(h.Path(dst)); err != nil && name == containerdCtr {
			continue // the node had no ctr beside containerd: the staged one serves the checks
		}
		if err := installFile(h.Path(filepath.Join(rt.stage, name)), h.Path(dst), 0, ""); err != nil {
			return err
		}
	}
	u.a.logf("installed containerd %s at %s (with %s and %s); running containers keep their old shims", rt.wantText, rt.bin, containerdShim, containerdCtr)
	return nil
}

func (u *upgradeRun) restartRuntime(ctx context.Context) error {
	how, seen, err := u.a.restartService(ctx, containerdBin, u.rt.bin)
	u.rt.restartedBy, u.rt.seen = how, seen
	if err != nil {
		return fmt.Errorf("containerd restart failed: %w", err)
	}
	return nil
}

func (u *upgradeRun) verifyRuntime(ctx context.Context) error {
	if err := u.a.verifyContainerd(ctx, u, u.rt.want); err != nil {
		return err
	}
	u.a.logf("containerd %s answers, its CRI plugin is loaded and all %d containers still run", u.rt.wantText, len(u.rt.tasks))
	return nil
}

// verifyContainerd waits until the node's containerd binary reports want, the daemon
// answers `ctr version` as want, its CRI plugin is loaded, and every container that
// ran before the restart still runs with the same process. A lost container fails at
// once: waiting does not bring it back.
func (a *Agent) verifyContainerd(ctx context.Context, u *upgradeRun, want *version.Version) error {
	var last error
	for {
		err := u.checkContainerd(ctx, want)
		var lost *lostError
		if err == nil || errors.As(err, &lost) {
			return err
		}
		if ctx.Err() == nil || last == nil {
			last = err
		}
		if sleepFor(ctx, a.Poll) != nil {
			return last
		}
	}
}

// lostError: containers stopped while containerd was replaced.
type lostError struct{ lost []string }

func (e *lostError) Error() string {
	return fmt.Sprintf("containers stopped when containerd restarted: %s", strings.Join(e.lost, "; "))
}

func (u *upgradeRun) checkContainerd(ctx context.Context, want *version.Version) error {
	rt := u.rt
	got, err := u.a.runtimeBinaryVersion(ctx, rt.bin)
	if err != nil {
		return &verifyError{"cannot read the containerd version", err}
	}
	if !got.EqualTo(want) {
		return &verifyError{"containerd version check failed", fmt.Errorf("%s reports v%s, not v%s", rt.bin, got, want)}
	}
	out, err := u.ctrRun(ctx, "version")
	if err != nil {
		return &verifyError{"containerd does not answer", err}
	}
	if sv, err := parseCtrServerVersion(out); err != nil || !sv.EqualTo(want) {
		return &verifyError{"containerd server version check failed", fmt.Errorf("the running containerd is %v, not v%s (%v)", sv, want, err)}
	}
	if out, err = u.ctrRun(ctx, "plugins", "ls"); err != nil {
		return &verifyError{"containerd plugin check failed", err}
	}
	if msg := criPluginError(out); msg != "" {
		return &verifyError{"containerd CRI check failed", errors.New(msg)}
	}
	if out, err = u.ctrRun(ctx, "--namespace", runtimeK8sNamespace, "tasks", "ls"); err != nil {
		return &verifyError{"containerd task check failed", err}
	}
	if lost := lostTasks(rt.tasks, runningTasks(out)); len(lost) > 0 {
		return &lostError{lost}
	}
	return nil
}

// rollbackRuntime restores containerd's backup, restarts it and verifies the old
// version (the containers that ran before must still run). It returns nil when the
// runtime was not changed in this run.
func (u *upgradeRun) rollbackRuntime(ctx context.Context) error {
	rt, a := u.rt, u.a
	if rt == nil || !rt.upgraded {
		return nil
	}
	u.steps += 3
	if err := u.step(ctx, StepRollbackRuntimeRestore, func(context.Context) error {
		return restoreBackup(a.Host, a.Config.StateDir, *rt.backup)
	}); err != nil {
		return err
	}
	a.logf("restored the backup of containerd %s; the files match its checksums", rt.fromText)
	// What runs now is what must survive the restart: the upgrade may have replaced
	// containers since (kubeadm's new control plane). When the new containerd does not
	// answer, the containers that ran before the upgrade must run after the rollback.
	if err := u.snapshotTasks(ctx); err != nil {
		a.logf("cannot list the containers before the rollback's restart (%v); checking those from before the upgrade", err)
	}
	if err := u.step(ctx, StepRollbackRuntimeRestart, func(ctx context.Context) error {
		_, _, err := a.restartService(ctx, containerdBin, rt.bin)
		return err
	}); err != nil {
		return err
	}
	return u.step(ctx, StepRollbackRuntimeVerify, func(ctx context.Context) error {
		return a.verifyContainerd(ctx, u, rt.from)
	})
}
