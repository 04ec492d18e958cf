package nodeagent

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/version"
)

// containerd versions of the fake node: as installed (Debian's 1.6) and in the image.
const (
	oldCtd = "v1.6.20"
	newCtd = "v2.2.9"
)

func TestPlanRuntime(t *testing.T) {
	v := func(s string) *version.Version { return version.MustParseSemantic(s) }
	for _, tc := range []struct {
		name      string
		want      string
		installed *version.Version
		err       error
		action    runtimeAction
		refused   string
	}{
		{name: "not asked", want: "", installed: v("1.6.20"), action: runtimeLeave},
		{name: "not asked, no containerd", want: "", err: errors.New("not found"), action: runtimeLeave},
		{name: "older: upgrade", want: "v2.2.9", installed: v("1.6.20"), action: runtimeUpgrade},
		{name: "older patch: upgrade", want: "v2.2.9", installed: v("2.2.8"), action: runtimeUpgrade},
		{name: "at the version", want: "v2.2.9", installed: v("2.2.9"), action: runtimeCurrent},
		{name: "newer: never downgraded", want: "v2.2.9", installed: v("2.3.0"), action: runtimeCurrent},
		{name: "no containerd on the node", want: "v2.2.9", err: errors.New("no such file"), refused: "containerd only"},
		{name: "bad version", want: "latest", installed: v("1.6.20"), refused: "not a containerd version"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := planRuntime(tc.want, tc.installed, tc.err)
			if tc.refused != "" {
				if err == nil || !strings.Contains(err.Error(), tc.refused) {
					t.Fatalf("planRuntime = %v, %v; want an error naming %q", got, err, tc.refused)
				}
				return
			}
			if err != nil || got != tc.action {
				t.Errorf("planRuntime = %v, %v; want %v", got, err, tc.action)
			}
		})
	}
}

func TestParseRuntimeOutputs(t *testing.T) {
	for out, want := range map[string]string{
		"containerd github.com/containerd/containerd v1.6.20~ds1 1.6.20~ds1-1+b1\n":  "1.6.20", // Debian 12
		"containerd github.com/containerd/containerd/v2 v2.2.9 abcdef\n":             "2.2.9",
		"containerd containerd.io 1.7.24 88bf19b2105c8b17560993bee28a01ddc2f97182\n": "1.7.24", // Docker's package
	} {
		v, err := parseContainerdVersion(out)
		if err != nil || v.String() != want {
			t.Errorf("parseContainerdVersion(%q) = %v, %v; want %s", out, v, err, want)
		}
	}
	if _, err := parseContainerdVersion("Kubernetes v1.36.3"); err == nil {
		t.Error("parseContainerdVersion accepted a kubelet's version")
	}
	ctrOut := "Client:\n  Version:  v2.2.9\n  Revision: x\n  Go version: go1.26.8\n\nServer:\n  Version:  1.6.20~ds1\n  Revision: 1.6.20~ds1-1+b1\n  UUID: 1\n"
	if v, err := parseCtrServerVersion(ctrOut); err != nil || v.String() != "1.6.20" {
		t.Errorf("parseCtrServerVersion = %v, %v; want the server's 1.6.20, not the client's", v, err)
	}
	if _, err := parseCtrServerVersion("Client:\n  Version: v2.2.9\n"); err == nil {
		t.Error("parseCtrServerVersion found a server version in a client-only output")
	}
}

func TestCRIPluginError(t *testing.T) {
	const head = "TYPE                                      ID                       PLATFORMS      STATUS\n"
	for out, want := range map[string]string{
		head + "io.containerd.grpc.v1                     cri                      linux/amd64    ok\n":    "",
		head + "io.containerd.grpc.v1                     cri                      linux/amd64    error\n": "is error",
		head + "io.containerd.cri.v1                      runtime                  linux/amd64    ok\n":    "no CRI plugin",
	} {
		got := criPluginError(out)
		if (want == "") != (got == "") || !strings.Contains(got, want) {
			t.Errorf("criPluginError(%q) = %q; want %q", out, got, want)
		}
	}
}

func TestLostTasks(t *testing.T) {
	before := runningTasks("TASK PID STATUS\naaaaaaaaaaaaaaaa 100 RUNNING\nbbbb 200 RUNNING\ncccc 300 STOPPED\n")
	if diff := cmp.Diff(map[string]string{"aaaaaaaaaaaaaaaa": "100", "bbbb": "200"}, before); diff != "" {
		t.Fatalf("runningTasks (-want +got):\n%s", diff)
	}
	for _, tc := range []struct {
		name, after string
		lost        []string
	}{
		{"all kept, one more started", "aaaaaaaaaaaaaaaa 100 RUNNING\nbbbb 200 RUNNING\ndddd 400 RUNNING\n", nil},
		{"one gone", "aaaaaaaaaaaaaaaa 100 RUNNING\n", []string{"bbbb (pid 200) no longer runs"}},
		{"one stopped", "aaaaaaaaaaaaaaaa 100 RUNNING\nbbbb 200 STOPPED\n", []string{"bbbb (pid 200) no longer runs"}},
		{"one restarted", "aaaaaaaaaaaaaaaa 101 RUNNING\nbbbb 200 RUNNING\n", []string{"aaaaaaaaaaaa runs as pid 101, not 100 (restarted)"}},
	} {
		if diff := cmp.Diff(tc.lost, lostTasks(before, runningTasks(tc.after))); diff != "" {
			t.Errorf("%s: lostTasks (-want +got):\n%s", tc.name, diff)
		}
	}
}

// fakeTasks are the containers running on the fake node.
const fakeTasks = "3f2a9c0d1e4b 4242 RUNNING\n7b1e5d2c9a8f 4343 RUNNING\n"

// withContainerd gives the node a containerd of version installed (binaries beside
// each other in /usr/bin, Debian's config, a running daemon with two containers) and
// the upgrade image containerd newCtd; the agent is asked for want.
func (n *node) withContainerd(installed, want string) *node {
	for _, b := range runtimeBinaries {
		n.copyFake(installed, filepath.Join(n.root, "usr/bin", b))
		n.copyFake(newCtd, filepath.Join(n.image, "containerd", b))
	}
	n.write("etc/containerd/config.toml", "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\"]\n", 0o644)
	n.write("run/containerd/fake-server", installed, 0o644)
	n.write("run/containerd/fake-tasks", fakeTasks, 0o644)
	n.agent.Config.RuntimeVersion = want
	n.agent.Config.RuntimeBinDir = filepath.Join(n.image, "containerd")
	return n
}

// restartFakeContainerd is `systemctl restart containerd` on the fake node: the daemon
// now runs the installed binary's version; with fail/containerd-loses-tasks-<version>
// that version forgets the running containers.
func restartFakeContainerd(root string) {
	sum, _ := fileSHA256(filepath.Join(root, "usr/bin/containerd"))
	v := fakeVersion[sum]
	_ = os.WriteFile(filepath.Join(root, "run/containerd/fake-server"), []byte(v), 0o644)
	if _, err := os.Stat(filepath.Join(root, "fail/containerd-loses-tasks-"+v)); err == nil {
		_ = os.WriteFile(filepath.Join(root, "run/containerd/fake-tasks"), nil, 0o644)
	}
}

func (n *node) containerdVersion() string {
	sum, _ := fileSHA256(filepath.Join(n.root, "usr/bin/containerd"))
	return fakeVersion[sum]
}

func (n *node) restarts() []string {
	var out []string
	for _, c := range n.runner.calls() {
		if r, ok := strings.CutPrefix(c, "systemctl restart "); ok {
			out = append(out, r)
		}
	}
	return out
}

func TestUpgradeRuntimeBeforeKubelet(t *testing.T) {
	t.Parallel()
	n := newNode(t, nodeOpts{systemd: true}).withContainerd(oldCtd, newCtd)
	pre := n.preprocess()
	if !strings.Contains(pre.Message, "backed up containerd v1.6.20 (4 files)") {
		t.Errorf("preprocess did not back up containerd: %s", pre.Message)
	}
	out := n.upgrade()
	if out.Code != ExitOK {
		t.Fatalf("exit %d: %s", out.Code, out.Message)
	}
	want := "upgrade: node node-1 upgraded from v1.35.4 to v1.36.3 (containerd v1.6.20 -> v2.2.9, restarted by systemd; kubeadm upgrade node; kubelet restarted by systemd)"
	if out.Message != want {
		t.Errorf("message:\n got %q\nwant %q", out.Message, want)
	}
	if diff := cmp.Diff([]string{"containerd", "kubelet"}, n.restarts()); diff != "" {
		t.Errorf("restarts: containerd first, then the kubelet (-want +got):\n%s", diff)
	}
	for _, b := range runtimeBinaries {
		sum, _ := fileSHA256(filepath.Join(n.root, "usr/bin", b))
		if fakeVersion[sum] != newCtd {
			t.Errorf("/usr/bin/%s is %s, want %s", b, fakeVersion[sum], newCtd)
		}
	}
	r := n.lastResult()
	if r.RuntimeFrom != "v1.6.20" || r.RuntimeVersion != newCtd {
		t.Errorf("last-result runtime %q -> %q, want v1.6.20 -> %s", r.RuntimeFrom, r.RuntimeVersion, newCtd)
	}
	var steps []string
	for _, s := range r.Steps {
		steps = append(steps, s.Name)
	}
	wantSteps := []string{StepReadVersion, StepCheckBackup, StepStage, StepInstallRuntime, StepRestartRuntime, StepVerifyRuntime,
		StepInstallKubeadm, StepKubeadm, StepInstallKubelet, StepRestart, StepVerify}
	if diff := cmp.Diff(wantSteps, steps); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	if !strings.Contains(n.log.String(), "step 11/11 verify") {
		t.Errorf("the step count does not include the runtime's steps:\n%s", n.log)
	}
}

func TestUpgradeRuntimeRollback(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, fail, why string
		kubeletTouched  bool
	}{
		{name: "CRI plugin of the new containerd fails", fail: "cri-" + newCtd, why: "containerd CRI check failed: the CRI plugin (io.containerd.grpc.v1 cri) is error"},
		{name: "containers lost in the restart", fail: "containerd-loses-tasks-" + newCtd, why: "containers stopped when containerd restarted: 3f2a9c0d1e4b (pid 4242) no longer runs; 7b1e5d2c9a8f (pid 4343) no longer runs"},
		{name: "the new kubelet fails after the runtime", fail: "healthz-" + newV, why: "kubelet healthz failed after restart", kubeletTouched: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			n := newNode(t, nodeOpts{systemd: true}).withContainerd(oldCtd, newCtd)
			if tc.kubeletTouched {
				n.agent.Config.VerifyTimeout = 3 * time.Second // the new kubelet's healthz fails until then
			}
			before := n.tree()
			n.preprocess()
			n.fail(tc.fail, "broken")
			out := n.upgrade()
			if out.Code != ExitRolledBack {
				t.Fatalf("exit %d, want %d (rolled back): %s", out.Code, ExitRolledBack, out.Message)
			}
			if !strings.Contains(out.Message, tc.why) {
				t.Errorf("message %q does not name %q", out.Message, tc.why)
			}
			wantTail := "rolled back to containerd v1.6.20"
			if tc.kubeletTouched {
				wantTail = "rolled back to v1.35.4 and containerd v1.6.20"
			}
			if !strings.HasSuffix(out.Message, wantTail) {
				t.Errorf("message %q does not end with %q", out.Message, wantTail)
			}
			if v := n.containerdVersion(); v != oldCtd {
				t.Errorf("containerd on disk is %s after the rollback, want %s", v, oldCtd)
			}
			if b, _ := os.ReadFile(filepath.Join(n.root, "run/containerd/fake-server")); string(b) != oldCtd {
				t.Errorf("the running containerd is %s after the rollback, want %s (restarted on the restored binary)", b, oldCtd)
			}
			if diff := cmp.Diff(before, n.tree()); diff != "" {
				t.Errorf("the node's files differ from before the upgrade (-before +after):\n%s", diff)
			}
			wantRestarts := []string{"containerd", "containerd"}
			if tc.kubeletTouched {
				wantRestarts = []string{"containerd", "kubelet", "containerd", "kubelet"}
			}
			if diff := cmp.Diff(wantRestarts, n.restarts()); diff != "" {
				t.Errorf("restarts (-want +got):\n%s", diff)
			}
			if got := slices.ContainsFunc(n.calls(), func(c string) bool { return strings.Contains(c, "upgrade node") }); got != tc.kubeletTouched {
				t.Errorf("kubeadm ran: %v, want %v (a runtime failure stops before the kubelet)", got, tc.kubeletTouched)
			}
			if r := n.lastResult(); r.Result != ResultRolledBack {
				t.Errorf("last-result %s, want %s", r.Result, ResultRolledBack)
			}
		})
	}
}

func TestUpgradeRuntimeNotNeeded(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, installed, want string }{
		{"not asked", oldCtd, ""},
		{"already at the version", newCtd, newCtd},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			n := newNode(t, nodeOpts{systemd: true}).withContainerd(tc.installed, tc.want)
			n.preprocess()
			if out := n.upgrade(); out.Code != ExitOK {
				t.Fatalf("exit %d: %s", out.Code, out.Message)
			}
			if diff := cmp.Diff([]string{"kubelet"}, n.restarts()); diff != "" {
				t.Errorf("restarts: containerd left alone (-want +got):\n%s", diff)
			}
			if v := n.containerdVersion(); v != tc.installed {
				t.Errorf("containerd %s, want %s untouched", v, tc.installed)
			}
			if n.exists("var/lib/edgeupgrade/backup/containerd-v1.6.20") {
				t.Error("containerd was backed up although it is not upgraded")
			}
		})
	}
}

func TestUpgradeRuntimeRefusedBeforeChange(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, why string
		setup     func(n *node)
	}{
		{"image without containerd", "the upgrade image has no containerd", func(n *node) {
			must(t, os.RemoveAll(filepath.Join(n.image, "containerd")))
		}},
		{"image carries another version", "carries containerd v2.2.9, not v2.3.0", func(n *node) {
			n.agent.Config.RuntimeVersion = "v2.3.0"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			n := newNode(t, nodeOpts{systemd: true}).withContainerd(oldCtd, newCtd)
			before := n.tree()
			n.preprocess()
			tc.setup(n)
			out := n.upgrade()
			if out.Code != ExitFailed || !strings.Contains(out.Message, tc.why) || !strings.Contains(out.Message, "nothing on the node was changed") {
				t.Fatalf("exit %d %q; want exit 1 naming %q", out.Code, out.Message, tc.why)
			}
			if diff := cmp.Diff(before, n.tree()); diff != "" {
				t.Errorf("the node changed (-before +after):\n%s", diff)
			}
			if len(n.restarts()) != 0 {
				t.Errorf("restarted %v", n.restarts())
			}
		})
	}
}
