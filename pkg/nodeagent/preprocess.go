package nodeagent

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/hostcheck"
)

// Preprocess runs the host checks and backs up what the upgrade changes, under
// /var/lib/edgeupgrade/backup/<from-version>/ with a manifest of checksums.
//
// A rerun keeps a good backup of the same version when the last upgrade from it did
// not finish cleanly (last-result.json says in-progress or rollback-failed): the node's
// files may then be half-upgraded and must not replace the backup.
func (a *Agent) Preprocess(ctx context.Context) Outcome {
	a.defaults()
	c := a.Config
	rec := LastResult{Command: "preprocess", RunID: c.RunID, Node: c.NodeName, Role: c.Role, TargetVersion: c.TargetVersion, StartedAt: a.Now().UTC()}
	finish := func(result string, code int, msg string) Outcome {
		msg = oneLine(msg)
		now := a.Now().UTC()
		rec.Result, rec.Message, rec.FinishedAt = result, msg, &now
		a.logf("%s", msg)
		a.writeResult(lastPreprocessFile, rec)
		return Outcome{Code: code, Message: msg}
	}
	target, err := c.target()
	if err == nil {
		err = c.validateRole()
	}
	if err != nil {
		return finish(ResultRefused, ExitFailed, "preprocess: refused: "+err.Error())
	}
	kubelet := a.kubeletPath()
	a.logf("node %s, role %s, run %s: host checks for v%s", c.NodeName, c.Role, c.RunID, target)

	res, err := a.runChecks(ctx, kubelet)
	if err != nil {
		return finish(ResultFailed, ExitFailed, "preprocess: "+err.Error())
	}
	rec.FromVersion = res.KubeletVersion
	from := res.KubeletVersion
	prev, resuming, ignore := a.unfinished(from)
	if msg := blockingFindings(res, ignore...); msg != "" {
		return finish(ResultFailed, ExitFailed, "preprocess: host checks failed: "+msg)
	}
	if res.KubeletVersion == "v"+target.String() {
		return finish(ResultNoop, ExitOK, fmt.Sprintf("preprocess: kubelet is already %s; no backup needed", res.KubeletVersion))
	}
	result, code, msg := a.backUp(from, kubelet, prev, resuming, len(res.Findings))
	if code == ExitOK {
		// The runtime's backup (when the Job asks for a containerd upgrade) sits beside
		// the kubelet's, kept or replaced by the same rule as any backup: up to date
		// means every file still matches.
		note, err := a.backUpRuntime(ctx)
		if err != nil {
			return finish(ResultFailed, ExitFailed, "preprocess: "+err.Error())
		}
		if note != "" {
			msg += "; " + note
		}
	}
	return finish(result, code, msg)
}

// unfinished reads last-result.json: an upgrade from (or to) from that did not finish
// cleanly is being resumed, and its kubelet health must not block the preprocess.
func (a *Agent) unfinished(from string) (prev LastResult, resuming bool, ignore []string) {
	prev, _ = a.readResult(lastResultFile)
	resuming = unclean(prev) && (prev.FromVersion == from || prev.TargetVersion == from)
	if resuming {
		// An unfinished upgrade can leave the kubelet unhealthy; the upgrade that follows
		// finishes it or rolls it back, so that must not block.
		ignore = []string{hostcheck.CheckKubelet, hostcheck.CheckKubeletConfig}
		a.logf("last-result.json records an upgrade %s -> %s that did not finish cleanly (%s): kubelet health does not block", prev.FromVersion, prev.TargetVersion, prev.Result)
	}
	return prev, resuming, ignore
}

// backUp keeps a good backup of from or makes a new one, and returns the result,
// exit code and message of the preprocess.
func (a *Agent) backUp(from, kubelet string, prev LastResult, resuming bool, warnings int) (string, int, string) {
	c := a.Config
	set := backupSet{files: []string{
		kubelet, a.kubeadmPath(kubelet), a.siblingPath(kubelet, "kubectl"),
		hostcheck.KubeletConfigPath, hostcheck.KubeadmFlagsPath,
	}}
	if c.isMaster() {
		set.dirs = []string{hostcheck.StaticPodManifestsDir}
	}
	dir := backupRoot(c.StateDir, from)
	if existing, err := loadBackup(a.Host, c.StateDir, from); err == nil {
		switch {
		case resuming && prev.FromVersion == from:
			return ResultSucceeded, ExitOK, fmt.Sprintf("preprocess: host checks passed (%d warnings); kept the backup of %s in %s: the upgrade from it did not finish cleanly (%s), so the node's files may be half-upgraded",
				warnings, from, dir, prev.Result)
		case verifyTree(a.Host, existing) == nil:
			return ResultSucceeded, ExitOK, fmt.Sprintf("preprocess: host checks passed (%d warnings); the backup of %s in %s is up to date (%d files)", warnings, from, dir, len(existing.Files))
		}
		a.logf("the node's files changed since the backup of %s was made; replacing it", from)
	}
	m, err := createBackup(a.Host, c.StateDir, from, set, Manifest{Node: c.NodeName, Role: c.Role, RunID: c.RunID}, a.Now())
	if err != nil {
		return ResultFailed, ExitFailed, "preprocess: backup failed: " + err.Error()
	}
	for _, f := range m.Files {
		if f.Absent {
			a.logf("backup: %s (absent)", f.Path)
		} else {
			a.logf("backup: %s %s sha256:%s", f.Path, f.Mode, f.SHA256)
		}
	}
	return ResultSucceeded, ExitOK, fmt.Sprintf("preprocess: host checks passed (%d warnings); backed up %s (%d files) to %s", warnings, from, len(m.Files), dir)
}

// runChecks runs the host checks for the configured target and logs every finding.
func (a *Agent) runChecks(ctx context.Context, kubelet string) (hostcheck.Result, error) {
	var running []string
	if ps, _ := a.Host.runningKubelets(kubelet); len(ps) > 0 && len(ps[0].Args) > 1 {
		running = ps[0].Args[1:]
	}
	res, err := hostcheck.Run(ctx, a.Host, hostcheck.Options{
		Node: a.Config.NodeName, TargetVersion: a.Config.TargetVersion, KubeletPath: kubelet,
		RunningKubeletArgs: running, HTTPClient: a.HTTP,
	})
	if err != nil {
		return res, err
	}
	for _, f := range res.Findings {
		a.logf("%s %s: %s", f.Severity, f.Check, f.Message)
		if f.Remediation != "" {
			a.logf("  remedy: %s", f.Remediation)
		}
	}
	a.logf("kubelet %s, cgroup v%d, %d findings", res.KubeletVersion, res.CgroupVersion, len(res.Findings))
	return res, nil
}

// blockingFindings joins the error findings ("" when there are none).
func blockingFindings(r hostcheck.Result, ignore ...string) string {
	var msgs []string
	for _, f := range r.Findings {
		if f.Severity == hostcheck.SeverityError && !slices.Contains(ignore, f.Check) {
			msgs = append(msgs, f.Check+": "+f.Message)
		}
	}
	return strings.Join(msgs, "; ")
}

// Check runs the host checks and returns the Result as JSON (≤ 4 KiB) for the
// deep-check pod's termination message. Findings are data: the outcome is ExitOK
// unless the checks could not run.
func (a *Agent) Check(ctx context.Context) (Outcome, []byte) {
	a.defaults()
	if a.Config.TargetVersion != "" {
		if _, err := a.Config.target(); err != nil {
			return Outcome{Code: ExitFailed, Message: oneLine("check: " + err.Error())}, nil
		}
	}
	res, err := a.runChecks(ctx, a.kubeletPath())
	if err != nil {
		return Outcome{Code: ExitFailed, Message: oneLine("check: " + err.Error())}, nil
	}
	b, err := hostcheck.Encode(res)
	if err != nil {
		return Outcome{Code: ExitFailed, Message: oneLine("check: " + err.Error())}, nil
	}
	return Outcome{Code: ExitOK, Message: string(b)}, b
}
