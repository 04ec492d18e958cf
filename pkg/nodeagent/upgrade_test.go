package nodeagent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
)

func (n *node) upgrade() Outcome {
	n.t.Helper()
	out := n.agent.Upgrade(context.Background())
	checkMessage(n.t, out.Message)
	return out
}

func (n *node) lastResult() LastResult {
	n.t.Helper()
	var r LastResult
	b, err := os.ReadFile(filepath.Join(n.root, "var/lib/edgeupgrade/last-result.json"))
	must(n.t, err)
	must(n.t, json.Unmarshal(b, &r))
	return r
}

func (n *node) manifest() Manifest {
	n.t.Helper()
	m, err := loadBackup(n.agent.Host, DefaultStateDir, oldV)
	must(n.t, err)
	return m
}

// checkMessage: a termination message is one line of at most 4 KiB.
func checkMessage(t *testing.T, msg string) {
	t.Helper()
	if len(msg) > MaxMessageBytes || strings.Contains(msg, "\n") || msg == "" {
		t.Errorf("termination message is not one line of ≤ 4 KiB (%d bytes): %q", len(msg), msg)
	}
}

func TestUpgradeWorker(t *testing.T) {
	t.Parallel()
	n := newNode(t, nodeOpts{systemd: true})
	n.preprocess()
	out := n.upgrade()
	if out.Code != ExitOK {
		t.Fatalf("exit %d: %s", out.Code, out.Message)
	}
	want := "upgrade: node node-1 upgraded from v1.35.4 to v1.36.3 (kubeadm upgrade node; kubelet restarted by systemd)"
	if out.Message != want {
		t.Errorf("message:\n got %q\nwant %q", out.Message, want)
	}
	if b, _ := os.ReadFile(n.tlog); len(b) != 0 {
		t.Errorf("Upgrade wrote the termination log itself; the command does: %q", b)
	}
	if v := n.installedVersion(); v != newV {
		t.Errorf("installed kubelet %s, want %s", v, newV)
	}
	kubeadm := filterCalls(n.calls(), "kubeadm "+newV+" upgrade")
	if diff := cmp.Diff([]string{"kubeadm v1.36.3 upgrade node"}, kubeadm); diff != "" {
		t.Errorf("kubeadm calls (-want +got):\n%s", diff)
	}
	if !n.runner.called("systemctl restart kubelet") {
		t.Errorf("systemctl restart kubelet not run; calls: %v", n.runner.calls())
	}
	// The binaries ran from the host (copied out of the image), not from the image.
	for _, c := range n.runner.calls() {
		if strings.HasPrefix(c, n.image) {
			t.Errorf("ran a binary inside the image instead of the host: %s", c)
		}
	}
	r := n.lastResult()
	if r.Result != ResultSucceeded || r.FromVersion != oldV || r.TargetVersion != newV || r.KubeletRestart != RestartSystemd || len(r.Steps) != 8 {
		t.Errorf("last-result.json: %+v", r)
	}
}

func TestUpgradeMasters(t *testing.T) {
	t.Parallel()
	for role, want := range map[string]string{
		job.RoleMasterFirst: "kubeadm v1.36.3 upgrade apply v1.36.3 --yes",
		job.RoleMaster:      "kubeadm v1.36.3 upgrade node",
	} {
		t.Run(role, func(t *testing.T) {
			t.Parallel()
			n := newNode(t, nodeOpts{systemd: true, role: role})
			n.preprocess()
			if m := n.manifest(); !slices.Contains(m.Dirs, "/etc/kubernetes/manifests") || len(m.Files) != 9 {
				t.Errorf("master backup: dirs %v, %d files", m.Dirs, len(m.Files))
			}
			out := n.upgrade()
			if out.Code != ExitOK {
				t.Fatalf("exit %d: %s", out.Code, out.Message)
			}
			if got := filterCalls(n.calls(), "kubeadm "+newV+" upgrade"); !slices.Equal(got, []string{want}) {
				t.Errorf("kubeadm calls %q, want %q", got, want)
			}
		})
	}
}

func TestUpgradeAlreadyAtTargetIsNoop(t *testing.T) {
	t.Parallel()
	n := newNode(t, nodeOpts{systemd: true, installed: newV})
	before := n.tree()
	out := n.upgrade()
	if out.Code != ExitOK || !strings.Contains(out.Message, "already v1.36.3 and healthy; nothing to do") {
		t.Fatalf("exit %d: %s", out.Code, out.Message)
	}
	if diff := cmp.Diff(before, n.tree()); diff != "" {
		t.Errorf("a no-op changed the node:\n%s", diff)
	}
	for _, c := range n.runner.calls() {
		if !strings.HasSuffix(c, "--version") {
			t.Errorf("a no-op ran %q", c)
		}
	}
	if r := n.lastResult(); r.Result != ResultNoop {
		t.Errorf("result %q, want %q", r.Result, ResultNoop)
	}
}

func TestUpgradeRerunAfterSuccessIsNoop(t *testing.T) {
	t.Parallel()
	n := newNode(t, nodeOpts{systemd: true})
	n.preprocess()
	if out := n.upgrade(); out.Code != ExitOK {
		t.Fatalf("first run: %s", out.Message)
	}
	after := n.tree()
	// A rerun of the whole Job: preprocess needs no backup, upgrade does nothing.
	if out := n.preprocess(); !strings.Contains(out.Message, "already v1.36.3; no backup needed") {
		t.Errorf("preprocess rerun: %s", out.Message)
	}
	out := n.upgrade()
	if out.Code != ExitOK || !strings.Contains(out.Message, "nothing to do") {
		t.Fatalf("rerun: exit %d: %s", out.Code, out.Message)
	}
	if diff := cmp.Diff(after, n.tree()); diff != "" {
		t.Errorf("the rerun changed the node:\n%s", diff)
	}
}

func TestUpgradeRefusesDowngradeAndSkippedMinor(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct{ installed, target, want string }{
		"downgrade":     {newV, oldV, "upgrade: refused: kubelet v1.36.3 is newer than the target v1.35.4: downgrades are not supported"},
		"patch down":    {newV, "v1.36.2", "upgrade: refused: kubelet v1.36.3 is newer than the target v1.36.2: downgrades are not supported"},
		"skipped minor": {oldV, "v1.37.0", "upgrade: refused: kubelet v1.35.4 to v1.37.0 skips a minor version: upgrade to v1.36 first"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			n := newNode(t, nodeOpts{systemd: true, installed: tc.installed, target: tc.target})
			before := n.tree()
			out := n.upgrade()
			if out.Code != ExitFailed || out.Message != tc.want {
				t.Errorf("exit %d %q, want exit 1 %q", out.Code, out.Message, tc.want)
			}
			if diff := cmp.Diff(before, n.tree()); diff != "" {
				t.Errorf("a refusal changed the node:\n%s", diff)
			}
			if r := n.lastResult(); r.Result != ResultRefused {
				t.Errorf("result %q", r.Result)
			}
		})
	}
}

func TestUpgradeWithoutBackupChangesNothing(t *testing.T) {
	t.Parallel()
	n := newNode(t, nodeOpts{systemd: true})
	before := n.tree()
	out := n.upgrade()
	if out.Code != ExitFailed || !strings.Contains(out.Message, "upgrade: check-backup: no backup of v1.35.4") || !strings.Contains(out.Message, "run preprocess first") {
		t.Errorf("exit %d: %s", out.Code, out.Message)
	}
	if diff := cmp.Diff(before, n.tree()); diff != "" {
		t.Errorf("changed the node:\n%s", diff)
	}
}

func TestUpgradeWrongImageChangesNothing(t *testing.T) {
	t.Parallel()
	n := newNode(t, nodeOpts{systemd: true, image: "v1.36.2"})
	n.preprocess()
	before := n.tree()
	out := n.upgrade()
	want := "upgrade: stage: the upgrade image carries kubeadm v1.36.2, not the target v1.36.3: use the upgrade image built for v1.36.3; nothing on the node was changed"
	if out.Code != ExitFailed || out.Message != want {
		t.Errorf("exit %d\n got %q\nwant %q", out.Code, out.Message, want)
	}
	if diff := cmp.Diff(before, n.tree()); diff != "" {
		t.Errorf("changed the node:\n%s", diff)
	}
}

// A failure at each step after the node was first changed restores the backup: the
// node's files are those from before the upgrade (checked against the manifest and
// against a snapshot taken independently), the old kubelet runs again, and the
// message names the step and the cause.
func TestUpgradeFailureAtEachStepRollsBack(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		step   string
		inject func(n *node)
		want   string
	}{
		{StepInstallKubeadm, func(n *node) { n.failStep(StepInstallKubeadm, "write /usr/bin/kubeadm: no space left on device") },
			"upgrade: write /usr/bin/kubeadm: no space left on device; rolled back to v1.35.4"},
		{StepKubeadm, func(n *node) {
			n.fail("kubeadm", "[ERROR CoreDNSUnsupportedPlugins]: there are unsupported plugins in the CoreDNS Corefile")
		},
			"upgrade: kubeadm upgrade node failed: /usr/bin/kubeadm: exit status 1: [ERROR CoreDNSUnsupportedPlugins]: there are unsupported plugins in the CoreDNS Corefile; rolled back to v1.35.4"},
		{StepInstallKubelet, func(n *node) { n.failStep(StepInstallKubelet, "write /usr/bin/kubelet: read-only file system") },
			"upgrade: write /usr/bin/kubelet: read-only file system; rolled back to v1.35.4"},
		{StepRestart, func(n *node) { n.fail("systemctl-restart", "Job for kubelet.service failed") },
			"upgrade: kubelet restart failed: systemctl restart kubelet: systemctl: exit status 1: Job for kubelet.service failed; rolled back to v1.35.4"},
		{StepVerify, func(n *node) { n.fail("healthz-"+newV, "") },
			"upgrade: kubelet healthz failed after restart: http://127.0.0.1:PORT/healthz answered 500 kubelet v1.36.3 is broken (verify timeout 3s); rolled back to v1.35.4"},
	} {
		t.Run(tc.step, func(t *testing.T) {
			t.Parallel()
			n := newNode(t, nodeOpts{systemd: true, role: job.RoleMaster})
			n.agent.Config.VerifyTimeout = 3 * time.Second
			n.preprocess()
			before := n.tree()
			tc.inject(n)
			out := n.upgrade()
			want := strings.ReplaceAll(tc.want, "PORT", fmt.Sprint(n.port))
			if out.Code != ExitRolledBack || out.Message != want {
				t.Errorf("exit %d\n got %q\nwant %q", out.Code, out.Message, want)
			}
			if err := verifyTree(n.agent.Host, n.manifest()); err != nil {
				t.Errorf("restored tree does not match the backup checksums: %v", err)
			}
			if diff := cmp.Diff(before, n.tree()); diff != "" {
				t.Errorf("restored tree differs from the node before the upgrade (-before +after):\n%s", diff)
			}
			if v := n.installedVersion(); v != oldV {
				t.Errorf("installed kubelet %s after rollback", v)
			}
			r := n.lastResult()
			if r.Result != ResultRolledBack || r.Step != tc.step || r.Message != out.Message {
				t.Errorf("last-result.json: result %q step %q message %q", r.Result, r.Step, r.Message)
			}
			restarts := filterCalls(n.runner.calls(), "systemctl restart kubelet")
			if len(restarts) == 0 {
				t.Errorf("the rollback did not restart the kubelet")
			}
		})
	}
}

func TestRollbackFailureKeepsBackupAndSaysSo(t *testing.T) {
	t.Parallel()
	n := newNode(t, nodeOpts{systemd: true})
	n.agent.Config.VerifyTimeout = 3 * time.Second
	n.preprocess()
	n.fail("healthz-"+newV, "")
	n.fail("healthz-"+oldV, "") // the old kubelet does not come back either
	out := n.upgrade()
	if out.Code != ExitRollbackFailed || !strings.Contains(out.Message, "; ROLLBACK to v1.35.4 FAILED: kubelet healthz failed after restart") ||
		!strings.HasSuffix(out.Message, "the backup is kept in /var/lib/edgeupgrade/backup/v1.35.4") {
		t.Errorf("exit %d: %s", out.Code, out.Message)
	}
	if r := n.lastResult(); r.Result != ResultRollbackFailed {
		t.Errorf("result %q", r.Result)
	}
	// A rerun of preprocess must keep the backup, not replace it with this state.
	m := n.manifest()
	n.preprocess()
	if diff := cmp.Diff(m, n.manifest()); diff != "" {
		t.Errorf("preprocess replaced the backup after a failed rollback:\n%s", diff)
	}
}

func TestTerminationMessageIsBounded(t *testing.T) {
	t.Parallel()
	n := newNode(t, nodeOpts{systemd: true})
	n.preprocess()
	n.fail("kubeadm", "[ERROR] "+strings.Repeat("étcd unhealthy ", 1000))
	out := n.upgrade()
	if out.Code != ExitRolledBack || len(out.Message) > MaxMessageBytes || !strings.HasPrefix(out.Message, "upgrade: kubeadm upgrade node failed: ") {
		t.Errorf("exit %d, %d bytes: %.200s", out.Code, len(out.Message), out.Message)
	}
}

func TestPreprocessKeepsBackupOfUnfinishedUpgrade(t *testing.T) {
	t.Parallel()
	n := newNode(t, nodeOpts{systemd: true, role: job.RoleMaster})
	n.preprocess()
	m := n.manifest()
	// The node crashed midway: kubeadm had rewritten the kubelet config, and
	// last-result.json still says in-progress.
	n.write("var/lib/kubelet/config.yaml", "half-upgraded: true\n", 0o644)
	n.write("var/lib/edgeupgrade/last-result.json", `{"schemaVersion":1,"command":"upgrade","fromVersion":"v1.35.4","targetVersion":"v1.36.3","result":"in-progress"}`, 0o644)
	n.agent.Config.StepTimeout = 3 * time.Second
	// The half-upgraded config has no healthz port: preprocess must still keep the backup.
	out := n.agent.Preprocess(context.Background())
	if out.Code != ExitOK || !strings.Contains(out.Message, "kept the backup of v1.35.4") {
		t.Fatalf("exit %d: %s", out.Code, out.Message)
	}
	if diff := cmp.Diff(m, n.manifest()); diff != "" {
		t.Errorf("backup replaced:\n%s", diff)
	}

	// Once the upgrade is known to have ended cleanly, a changed node gets a new backup.
	n.write("var/lib/kubelet/config.yaml", fmt.Sprintf("healthzBindAddress: 127.0.0.1\nhealthzPort: %d\nmaxPods: 50\n", n.port), 0o644)
	n.write("var/lib/edgeupgrade/last-result.json", `{"schemaVersion":1,"command":"upgrade","fromVersion":"v1.35.4","targetVersion":"v1.36.3","result":"rolled-back"}`, 0o644)
	out = n.agent.Preprocess(context.Background())
	if out.Code != ExitOK || !strings.Contains(out.Message, "backed up v1.35.4") {
		t.Fatalf("exit %d: %s", out.Code, out.Message)
	}
	if err := verifyTree(n.agent.Host, n.manifest()); err != nil {
		t.Errorf("the new backup does not match the node: %v", err)
	}
	// And an unchanged node keeps its backup.
	out = n.preprocess()
	if !strings.Contains(out.Message, "is up to date") {
		t.Errorf("%s", out.Message)
	}
}

func TestPreprocessFailsOnBlockingHostFindings(t *testing.T) {
	t.Parallel()
	n := newNode(t, nodeOpts{systemd: true, swap: true, cgroupV1: true})
	out := n.agent.Preprocess(context.Background())
	checkMessage(t, out.Message)
	if out.Code != ExitFailed || !strings.Contains(out.Message, "host-swap: swap is on (/swapfile)") || !strings.Contains(out.Message, "host-cgroup: the node uses cgroup v1") {
		t.Errorf("exit %d: %s", out.Code, out.Message)
	}
	if n.exists("var/lib/edgeupgrade/backup/v1.35.4") {
		t.Errorf("backed up despite failed checks")
	}
}

func TestRestartMethodFollowsTheHost(t *testing.T) {
	t.Parallel()
	t.Run("systemd", func(t *testing.T) {
		t.Parallel()
		n := newNode(t, nodeOpts{systemd: true})
		n.preprocess()
		if out := n.upgrade(); out.Code != ExitOK {
			t.Fatal(out.Message)
		}
		if r := n.lastResult(); r.KubeletRestart != RestartSystemd {
			t.Errorf("restart %q", r.KubeletRestart)
		}
	})
	t.Run("supervisor", func(t *testing.T) {
		t.Parallel()
		n := newNode(t, nodeOpts{kubeletProcess: true})
		n.preprocess()
		if out := n.upgrade(); out.Code != ExitOK {
			t.Fatal(out.Message)
		}
		if n.runner.called("systemctl") {
			t.Errorf("ran systemctl on a host without systemd")
		}
		if r := n.lastResult(); r.KubeletRestart != RestartSupervisor {
			t.Errorf("restart %q", r.KubeletRestart)
		}
	})
}

// The real restart path: a kubelet process run by a supervisor is found by a /proc
// scan, gets SIGTERM, and the supervisor starts the new binary.
func TestSupervisorRestartRealProcess(t *testing.T) {
	t.Parallel()
	n := newNode(t, nodeOpts{kubeletProcess: true})
	n.preprocess()
	first := n.sup.started()
	ps, err := n.agent.Host.runningKubelets("/usr/bin/kubelet")
	if err != nil || len(ps) != 1 || ps[0].PID != first[0] {
		t.Fatalf("/proc scan found %+v (%v), want the supervised pid %v", ps, err, first)
	}
	out := n.upgrade()
	if out.Code != ExitOK || !strings.HasSuffix(out.Message, "(kubeadm upgrade node; kubelet restarted by supervisor)") {
		t.Fatalf("exit %d: %s", out.Code, out.Message)
	}
	pids := n.sup.started()
	if len(pids) != 2 {
		t.Fatalf("supervisor started the kubelet %d times (%v), want 2", len(pids), pids)
	}
	ps, _ = n.agent.Host.runningKubelets("/usr/bin/kubelet")
	if len(ps) != 1 || ps[0].PID != pids[1] || ps[0].Deleted {
		t.Errorf("running kubelets %+v, want the new pid %d running the new binary", ps, pids[1])
	}
	if !slices.Contains(n.calls(), "kubelet "+newV+" --config=/var/lib/kubelet/config.yaml --v=2") {
		t.Errorf("the new kubelet binary was not started by the supervisor: %v", n.calls())
	}
}

func TestSupervisorRestartBrokenKubeletRollsBack(t *testing.T) {
	t.Parallel()
	n := newNode(t, nodeOpts{kubeletProcess: true})
	n.agent.Config.VerifyTimeout = 3 * time.Second
	n.preprocess()
	before := n.tree()
	n.fail("healthz-"+newV, "")
	out := n.upgrade()
	if out.Code != ExitRolledBack || !strings.HasPrefix(out.Message, "upgrade: kubelet healthz failed after restart: ") || !strings.HasSuffix(out.Message, "; rolled back to v1.35.4") {
		t.Fatalf("exit %d: %s", out.Code, out.Message)
	}
	if diff := cmp.Diff(before, n.tree()); diff != "" {
		t.Errorf("restored tree differs:\n%s", diff)
	}
	if pids := n.sup.started(); len(pids) != 3 {
		t.Errorf("kubelet started %d times, want 3 (old, new, old again)", len(pids))
	}
}

func TestNoSupervisorFailsClearly(t *testing.T) {
	t.Parallel()
	n := newNode(t, nodeOpts{kubeletProcess: true, noSupervisor: true})
	n.agent.Config.VerifyTimeout = 3 * time.Second
	n.agent.Config.StepTimeout = 3 * time.Second // the rollback's restart waits this long
	n.preprocess()
	out := n.upgrade()
	if out.Code != ExitRollbackFailed || !strings.Contains(out.Message, "upgrade: kubelet restart failed: no new kubelet process within") ||
		!strings.Contains(out.Message, "is the kubelet run by a supervisor") {
		t.Errorf("exit %d: %s", out.Code, out.Message)
	}
	// The files are restored even though no kubelet runs.
	if err := verifyTree(n.agent.Host, n.manifest()); err != nil {
		t.Error(err)
	}
}

func (n *node) failStep(step, msg string) {
	n.agent.beforeStep = func(s string) error {
		if s == step {
			return errors.New(msg)
		}
		return nil
	}
}

func filterCalls(calls []string, prefix string) []string {
	var out []string
	for _, c := range calls {
		if strings.HasPrefix(c, prefix) {
			out = append(out, c)
		}
	}
	return out
}
