package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/version"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/hostcheck"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
)

// Upgrade steps, in order (last-result.json and the termination message name them).
const (
	StepReadVersion    = "read-version"
	StepCheckBackup    = "check-backup"
	StepStage          = "stage"
	StepInstallKubeadm = "install-kubeadm"
	StepKubeadm        = "kubeadm"
	StepInstallKubelet = "install-kubelet"
	StepRestart        = "restart-kubelet"
	StepVerify         = "verify"
)

// upgradeRun is the state of one upgrade.
type upgradeRun struct {
	a                         *Agent
	rec                       LastResult
	target, from              *version.Version
	kubelet, kubeadm, kubectl string // host paths
	stage                     string // host staging directory
	backup                    *Manifest
	stepNo, steps             int
	// kubeletSeen: a kubelet process was seen at the last restart, so verification
	// can watch the kubelet's processes for a crash loop.
	kubeletSeen bool
	// rt is the container runtime's part (nil until planned).
	rt *runtime
}

// Upgrade upgrades the node in place to the target version (see docs/node-agent.md):
// kubeadm, then the kubelet, a kubelet restart and a verification; any failure after
// the node was first changed restores the backup that preprocess made.
func (a *Agent) Upgrade(ctx context.Context) Outcome {
	a.defaults()
	c := a.Config
	u := &upgradeRun{a: a, steps: 8, rec: LastResult{
		Command: "upgrade", RunID: c.RunID, Node: c.NodeName, Role: c.Role,
		TargetVersion: c.TargetVersion, StartedAt: a.Now().UTC(),
	}}
	var err error
	if u.target, err = c.target(); err != nil {
		return u.refuse("", err)
	}
	if err := c.validateRole(); err != nil {
		return u.refuse("", err)
	}
	u.rec.TargetVersion = "v" + u.target.String()
	u.kubelet = a.kubeletPath()
	u.kubeadm = a.kubeadmPath(u.kubelet)
	u.kubectl = a.siblingPath(u.kubelet, "kubectl")
	u.stage = filepath.Join(c.StateDir, "stage", u.rec.TargetVersion)
	a.logf("node %s, role %s, run %s: upgrade to %s (kubelet %s, kubeadm %s)", c.NodeName, c.Role, c.RunID, u.rec.TargetVersion, u.kubelet, u.kubeadm)

	if err := u.step(ctx, StepReadVersion, func(ctx context.Context) error {
		u.from, err = a.binaryVersion(ctx, u.kubelet)
		return err
	}); err != nil {
		return u.fail(StepReadVersion, fmt.Errorf("cannot read the installed kubelet version: %w", err))
	}
	u.rec.FromVersion = "v" + u.from.String()
	if u.from.EqualTo(u.target) {
		return u.atTarget(ctx)
	}
	if err := hostcheck.CheckUpgradePath(u.from, u.target); err != nil {
		return u.refuse(StepReadVersion, err)
	}
	if err := u.step(ctx, StepCheckBackup, u.checkBackups); err != nil {
		return u.fail(StepCheckBackup, err)
	}
	if err := u.step(ctx, StepStage, u.stageAll); err != nil {
		return u.fail(StepStage, err)
	}

	// From here on the node changes: record that first, so that a crash leaves a trace
	// that preprocess and a rerun understand.
	u.rec.Result = ResultInProgress
	a.writeResult(lastResultFile, u.rec)
	type stepFn struct {
		name string
		fn   func(context.Context) error
	}
	var steps []stepFn
	if u.rt.action == runtimeUpgrade {
		// The runtime first: the new kubelet may need it (Kubernetes 1.36 needs
		// containerd 2.x), and a kubelet restart over a runtime restart is one restart
		// too many to debug.
		steps = append(steps, stepFn{StepInstallRuntime, u.installRuntime}, stepFn{StepRestartRuntime, u.restartRuntime}, stepFn{StepVerifyRuntime, u.verifyRuntime})
	}
	steps = append(steps,
		stepFn{StepInstallKubeadm, u.installKubeadm},
		stepFn{StepKubeadm, u.runKubeadm},
		stepFn{StepInstallKubelet, u.installKubelet},
		stepFn{StepRestart, u.restart},
		stepFn{StepVerify, u.verify},
	)
	for _, s := range steps {
		if err := u.step(ctx, s.name, s.fn); err != nil {
			return u.rollback(ctx, s.name, err)
		}
	}
	runtimeNote := ""
	if u.rt.upgraded {
		runtimeNote = fmt.Sprintf("containerd %s -> %s, restarted by %s; ", u.rt.fromText, u.rt.wantText, u.rt.restartedBy)
	}
	return u.finish(ResultSucceeded, "", ExitOK, fmt.Sprintf("upgrade: node %s upgraded from %s to %s (%s%s; kubelet restarted by %s)",
		c.NodeName, u.rec.FromVersion, u.rec.TargetVersion, runtimeNote, u.kubeadmCommand(), u.rec.KubeletRestart))
}

// checkBackups checks the kubelet's backup and plans the runtime: when containerd is
// to be upgraded, its backup must exist too.
func (u *upgradeRun) checkBackups(ctx context.Context) error {
	a, c := u.a, u.a.Config
	m, err := loadBackup(a.Host, c.StateDir, u.rec.FromVersion)
	if err != nil {
		return fmt.Errorf("%w: run preprocess first", err)
	}
	u.backup = &m
	if u.rt, err = a.planNodeRuntime(ctx); err != nil {
		return err
	}
	if u.rt.action != runtimeUpgrade {
		return nil
	}
	rm, err := loadBackup(a.Host, c.StateDir, runtimeBackupName(u.rt.from))
	if err != nil {
		return fmt.Errorf("%w: run preprocess first (with the same runtime version)", err)
	}
	u.rt.backup = &rm
	u.rec.RuntimeFrom, u.rec.RuntimeVersion = u.rt.fromText, u.rt.wantText
	u.steps += 3
	return nil
}

// stageAll stages the Kubernetes binaries and, when containerd is upgraded, its own.
func (u *upgradeRun) stageAll(ctx context.Context) error {
	if err := u.stageBinaries(ctx); err != nil {
		return err
	}
	if u.rt.action == runtimeUpgrade {
		return u.stageRuntime(ctx)
	}
	return nil
}

// Rollback steps.
const (
	StepRollbackRestore = "rollback-restore"
	StepRollbackRestart = "rollback-restart-kubelet"
	StepRollbackVerify  = "rollback-verify"
)

// timeout is the time limit of a step: the verify timeout for the kubelet's restart
// and verification (a healthy kubelet is up within seconds), else the step timeout.
// The rollback's restart keeps the step timeout: when no kubelet runs it waits for
// the supervisor's next start, whatever its back-off, and a failed rollback needs a
// person.
func (u *upgradeRun) timeout(name string) (time.Duration, string) {
	switch name {
	case StepRestart, StepVerify, StepRollbackVerify, StepRestartRuntime, StepVerifyRuntime, StepRollbackRuntimeVerify:
		return u.a.Config.VerifyTimeout, "verify timeout"
	}
	return u.a.Config.StepTimeout, "step timeout"
}

// step runs one step with its time limit and records it.
func (u *upgradeRun) step(ctx context.Context, name string, fn func(context.Context) error) error {
	u.stepNo++
	u.a.logf("step %d/%d %s", u.stepNo, u.steps, name)
	start := u.a.Now()
	limit, limitName := u.timeout(name)
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var err error
	if u.a.beforeStep != nil {
		err = u.a.beforeStep(name)
	}
	if err == nil {
		err = fn(ctx)
	}
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("%w (%s %s)", err, limitName, limit)
	}
	rec := StepRecord{Name: name, Started: start.UTC(), Duration: u.a.Now().Sub(start).Round(time.Millisecond).String()}
	if err != nil {
		rec.Error = err.Error()
		u.a.logf("step %s failed: %v", name, err)
	}
	u.rec.Steps = append(u.rec.Steps, rec)
	return err
}

func (u *upgradeRun) kubeadmArgs() []string {
	args := []string{"upgrade", "node"}
	if u.a.Config.Role == job.RoleMasterFirst {
		args = []string{"upgrade", "apply", u.rec.TargetVersion, "--yes"}
	}
	args = append(args, u.a.Config.KubeadmArgs...)
	if skip, why := u.a.cgroupV1PreflightSkip(u.a.Config.KubeadmArgs); skip != "" {
		u.a.logf("%s: adding %s", why, skip)
		args = append(args, skip)
	}
	return args
}

// cgroupV1PreflightSkip returns the kubeadm flag that skips its SystemVerification
// preflight check, and why, when the host uses cgroup v1 and the node's kubelet
// configuration sets failCgroupV1: false; else "". kubeadm 1.35+ refuses to upgrade a
// cgroup v1 host ("[ERROR SystemVerification]: cgroups v1 support is deprecated ...
// you must set 'FailCgroupV1' to 'false'. You must also explicitly skip this
// validation"): failCgroupV1: false is the operator's explicit opt-in that kubeadm
// asks for, so the agent skips the check only then. Nothing is added when the extra
// kubeadm arguments already skip it (SystemVerification or all).
func (a *Agent) cgroupV1PreflightSkip(extra []string) (flag, why string) {
	if v, err := hostcheck.CgroupVersion(a.Host.Path("/sys/fs/cgroup")); err != nil || v != 1 {
		return "", ""
	}
	cfg, err := hostcheck.ReadKubeletConfig(a.Host, hostcheck.KubeletConfigPath)
	if err != nil || cfg.FailCgroupV1 == nil || *cfg.FailCgroupV1 {
		return "", ""
	}
	for i, arg := range extra {
		val, ok := strings.CutPrefix(arg, "--ignore-preflight-errors=")
		if !ok && arg == "--ignore-preflight-errors" && i+1 < len(extra) {
			val, ok = extra[i+1], true
		}
		if !ok {
			continue
		}
		for _, c := range strings.Split(val, ",") {
			if c = strings.ToLower(strings.TrimSpace(c)); c == "systemverification" || c == "all" {
				return "", ""
			}
		}
	}
	return "--ignore-preflight-errors=SystemVerification",
		fmt.Sprintf("the host uses cgroup v1 and %s sets failCgroupV1: false (the operator's opt-in to cgroup v1 that kubeadm 1.35+ requires with an explicit skip of its SystemVerification check)", hostcheck.KubeletConfigPath)
}

func (u *upgradeRun) kubeadmCommand() string {
	if u.a.Config.Role == job.RoleMasterFirst {
		return "kubeadm upgrade apply"
	}
	return "kubeadm upgrade node"
}

// stageBinaries copies the image's binaries onto the host (they run there, in the
// host's namespaces, not in this container) and checks their versions.
func (u *upgradeRun) stageBinaries(ctx context.Context) error {
	h := u.a.Host
	for _, name := range []string{"kubeadm", "kubelet", "kubectl"} {
		src := filepath.Join(u.a.Config.BinDir, name)
		if _, err := os.Stat(src); err != nil {
			if name == "kubectl" {
				continue
			}
			return fmt.Errorf("the upgrade image has no %s at %s: %w", name, src, err)
		}
		if err := installFile(src, h.Path(filepath.Join(u.stage, name)), 0o755, "-"); err != nil {
			return fmt.Errorf("copy %s onto the host: %w", name, err)
		}
	}
	for _, name := range []string{"kubeadm", "kubelet"} {
		v, err := u.a.binaryVersion(ctx, filepath.Join(u.stage, name))
		if err != nil {
			return err
		}
		if !v.EqualTo(u.target) {
			return fmt.Errorf("the upgrade image carries %s v%s, not the target %s: use the upgrade image built for %s", name, v, u.rec.TargetVersion, u.rec.TargetVersion)
		}
	}
	u.a.logf("staged kubeadm and kubelet %s in %s", u.rec.TargetVersion, u.stage)
	return nil
}

func (u *upgradeRun) installKubeadm(context.Context) error {
	h := u.a.Host
	if err := installFile(h.Path(filepath.Join(u.stage, "kubeadm")), h.Path(u.kubeadm), 0, ""); err != nil {
		return err
	}
	u.a.logf("installed kubeadm %s at %s", u.rec.TargetVersion, u.kubeadm)
	staged := h.Path(filepath.Join(u.stage, "kubectl"))
	if _, err := os.Stat(h.Path(u.kubectl)); err == nil {
		if _, err := os.Stat(staged); err == nil {
			if err := installFile(staged, h.Path(u.kubectl), 0, ""); err != nil {
				return err
			}
			u.a.logf("installed kubectl %s at %s", u.rec.TargetVersion, u.kubectl)
		}
	}
	return nil
}

func (u *upgradeRun) runKubeadm(ctx context.Context) error {
	args := u.kubeadmArgs()
	u.a.logf("running %s %v", u.kubeadm, args)
	_, err := u.a.Host.Runner.Run(ctx, Command{Name: u.kubeadm, Args: args, Output: u.a.Out})
	if err != nil {
		return fmt.Errorf("%s failed: %w", u.kubeadmCommand(), err)
	}
	return nil
}

func (u *upgradeRun) installKubelet(context.Context) error {
	h := u.a.Host
	if err := installFile(h.Path(filepath.Join(u.stage, "kubelet")), h.Path(u.kubelet), 0, ""); err != nil {
		return err
	}
	u.a.logf("installed kubelet %s at %s", u.rec.TargetVersion, u.kubelet)
	return nil
}

func (u *upgradeRun) restart(ctx context.Context) error {
	how, seen, err := u.a.restartKubelet(ctx, u.kubelet)
	u.rec.KubeletRestart, u.kubeletSeen = how, seen
	if err != nil {
		return fmt.Errorf("kubelet restart failed: %w", err)
	}
	return nil
}

func (u *upgradeRun) verify(ctx context.Context) error {
	if err := u.a.verifyKubelet(ctx, u.kubelet, u.target, u.kubeletSeen); err != nil {
		return err
	}
	u.a.logf("the kubelet runs %s and is healthy", u.rec.TargetVersion)
	return nil
}

// atTarget handles a node whose kubelet binary already reports the target: a no-op
// when that kubelet runs and is healthy; otherwise an interrupted upgrade is finished
// (restart and verify), with a rollback when its backup is known.
func (u *upgradeRun) atTarget(ctx context.Context) Outcome {
	a := u.a
	err := a.checkKubelet(ctx, u.kubelet, u.target)
	if err == nil {
		return u.finish(ResultNoop, "", ExitOK, fmt.Sprintf("upgrade: kubelet on %s is already %s and healthy; nothing to do", a.Config.NodeName, u.rec.TargetVersion))
	}
	a.logf("the kubelet binary is already %s but %v: finishing the upgrade (restart and verify)", u.rec.TargetVersion, err)
	prev, _ := a.readResult(lastResultFile)
	if prev.Result == ResultInProgress && prev.TargetVersion == u.rec.TargetVersion && prev.FromVersion != "" {
		if m, err := loadBackup(a.Host, a.Config.StateDir, prev.FromVersion); err == nil {
			u.backup = &m
			u.rec.FromVersion = prev.FromVersion
			u.from, _ = version.ParseSemantic(prev.FromVersion)
		}
	}
	u.rec.Result = ResultInProgress
	a.writeResult(lastResultFile, u.rec)
	for _, s := range []struct {
		name string
		fn   func(context.Context) error
	}{{StepRestart, u.restart}, {StepVerify, u.verify}} {
		if err := u.step(ctx, s.name, s.fn); err != nil {
			if u.backup != nil {
				return u.rollback(ctx, s.name, err)
			}
			return u.finish(ResultRollbackFailed, s.name, ExitRollbackFailed,
				fmt.Sprintf("upgrade: %v; no backup of the previous version to roll back to (see %s)", err, filepath.Join(a.Config.StateDir, "backup")))
		}
	}
	return u.finish(ResultSucceeded, "", ExitOK, fmt.Sprintf("upgrade: node %s finished its upgrade to %s (kubelet restarted by %s)", a.Config.NodeName, u.rec.TargetVersion, u.rec.KubeletRestart))
}

// rollback restores the backup after step failed with cause, restarts the kubelet and
// verifies that the old version runs again. It runs even when ctx was cancelled (the
// Job's deadline or a deleted pod): a half-upgraded node is worse than a late exit.
func (u *upgradeRun) rollback(ctx context.Context, step string, cause error) Outcome {
	a := u.a
	ctx = context.WithoutCancel(ctx)
	from := u.rec.FromVersion
	a.logf("rolling back to %s after %s failed", from, step)
	if err := u.rollbackRuntime(ctx); err != nil {
		return u.finish(ResultRollbackFailed, step, ExitRollbackFailed, fmt.Sprintf("upgrade: %v; ROLLBACK of containerd to %s FAILED: %v; the backups are kept in %s",
			cause, u.rt.fromText, err, filepath.Join(a.Config.StateDir, "backup")))
	}
	if u.rt != nil && u.rt.upgraded && u.kubeletUntouched(step) {
		return u.finish(ResultRolledBack, step, ExitRolledBack, fmt.Sprintf("upgrade: %v; rolled back to containerd %s", cause, u.rt.fromText))
	}
	u.steps += 3
	var err error
	if err = u.step(ctx, StepRollbackRestore, func(context.Context) error {
		return restoreBackup(a.Host, a.Config.StateDir, *u.backup)
	}); err == nil {
		a.logf("restored the backup of %s; the files match its checksums", from)
		if err = u.step(ctx, StepRollbackRestart, func(ctx context.Context) error {
			_, seen, err := a.restartKubelet(ctx, u.kubelet)
			u.kubeletSeen = seen
			return err
		}); err == nil {
			err = u.step(ctx, StepRollbackVerify, func(ctx context.Context) error {
				return a.verifyKubelet(ctx, u.kubelet, u.from, u.kubeletSeen)
			})
		}
	}
	if err != nil {
		return u.finish(ResultRollbackFailed, step, ExitRollbackFailed, fmt.Sprintf("upgrade: %v; ROLLBACK to %s FAILED: %v; the backup is kept in %s",
			cause, from, err, backupRoot(a.Config.StateDir, from)))
	}
	if u.rt != nil && u.rt.upgraded {
		from += " and containerd " + u.rt.fromText
	}
	return u.finish(ResultRolledBack, step, ExitRolledBack, fmt.Sprintf("upgrade: %v; rolled back to %s", cause, from))
}

// kubeletUntouched reports whether the upgrade failed at step before it changed any
// Kubernetes file: then only the runtime is rolled back.
func (u *upgradeRun) kubeletUntouched(step string) bool {
	switch step {
	case StepInstallRuntime, StepRestartRuntime, StepVerifyRuntime:
		return true
	}
	return false
}

func (u *upgradeRun) refuse(step string, err error) Outcome {
	return u.finish(ResultRefused, step, ExitFailed, fmt.Sprintf("upgrade: refused: %v", err))
}

func (u *upgradeRun) fail(step string, err error) Outcome {
	return u.finish(ResultFailed, step, ExitFailed, fmt.Sprintf("upgrade: %s: %v; nothing on the node was changed", step, err))
}

func (u *upgradeRun) finish(result, step string, code int, msg string) Outcome {
	msg = oneLine(msg)
	now := u.a.Now().UTC()
	u.rec.Result, u.rec.Step, u.rec.Message, u.rec.FinishedAt = result, step, msg, &now
	u.a.logf("%s", msg)
	if result == ResultFailed || result == ResultRefused {
		// Nothing changed in this run: keep the record of an unfinished or failed
		// earlier upgrade, which preprocess relies on to keep its backup.
		if prev, err := u.a.readResult(lastResultFile); err == nil && unclean(prev) {
			u.a.logf("keeping %s: it records an earlier upgrade that did not finish cleanly (%s)", lastResultFile, prev.Result)
			return Outcome{Code: code, Message: msg}
		}
	}
	u.a.writeResult(lastResultFile, u.rec)
	return Outcome{Code: code, Message: msg}
}

// unclean reports whether r is an upgrade that left the node between versions.
func unclean(r LastResult) bool {
	return r.Result == ResultInProgress || r.Result == ResultRollbackFailed
}
