package nodeagent

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
)

// The failure message of a command is the line that names the cause. The kubeadm
// samples in testdata/kubeadm are real kubeadm v1.36.3 stderr (README there).
func TestErrorSummary(t *testing.T) {
	t.Parallel()
	sample := func(name string) string {
		b, err := os.ReadFile(filepath.Join("testdata/kubeadm", name))
		must(t, err)
		return string(b)
	}
	for _, tc := range []struct{ name, out, want string }{
		{"kubeadm preflight, one error", sample("upgrade-node-preflight-one-error.stderr"),
			"error execution phase preflight: preflight checks failed: [ERROR SystemVerification]: couldn't get kubelet version: cannot execute 'kubelet --version': executable file not found in $PATH"},
		{"kubeadm preflight, two errors", sample("upgrade-node-preflight-two-errors.stderr"),
			"error execution phase preflight: preflight checks failed: [ERROR SystemVerification]: couldn't get kubelet version: cannot execute 'kubelet --version': executable file not found in $PATH; " +
				`[ERROR ContainerRuntimeVersion]: could not connect to the container runtime: failed to create new CRI runtime service: validate service connection: validate CRI v1 runtime API for endpoint "unix:///var/run/containerd/containerd.sock": rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing: dial unix /var/run/containerd/containerd.sock: connect: no such file or directory"`},
		{"kubeadm preflight on cgroup v1", sample("upgrade-apply-cgroup-v1.stderr"),
			"error execution phase preflight: preflight checks failed: [ERROR SystemVerification]: cgroups v1 support is deprecated and will be removed in a future release. Please migrate to cgroups v2. " +
				"To explicitly enable cgroups v1 support for kubelet v1.35 or newer, you must set the kubelet configuration option 'FailCgroupV1' to 'false'. " +
				"You must also explicitly skip this validation. For more information, see https://git.k8s.io/enhancements/keps/sig-node/5573-remove-cgroup-v1"},
		{"kubeadm error outside a phase", sample("upgrade-apply-no-kubeconfig.stderr"),
			`couldn't create a Kubernetes client from file "/etc/kubernetes/admin.conf": failed to load admin kubeconfig: open /etc/kubernetes/admin.conf: no such file or directory`},
		{"kubeadm error over several lines", "[upgrade/apply] Upgrading your Static Pod-hosted control plane to version \"v1.36.3\"...\n" +
			"error: error execution phase control-plane: couldn't complete the static pod upgrade: couldn't upgrade control plane.\n" +
			"kubeadm has tried to recover everything into the earlier state. Errors faced: timed out waiting for the condition\n" +
			kubeadmStackTraceHint + "\n",
			"error execution phase control-plane: couldn't complete the static pod upgrade: couldn't upgrade control plane. kubeadm has tried to recover everything into the earlier state. Errors faced: timed out waiting for the condition"},
		{"only the hint", "something\n" + kubeadmStackTraceHint + "\n", "something"},
		{"other command", "first\n  Job for kubelet.service failed  \n\n", "Job for kubelet.service failed"},
		{"nothing", "\n \n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := errorSummary(tc.out); got != tc.want {
				t.Errorf("errorSummary:\n got %q\nwant %q", got, tc.want)
			}
			if strings.Contains(errorSummary(tc.out), "stack trace") {
				t.Errorf("the summary is kubeadm's hint about --v=5")
			}
		})
	}
}

// A failed kubeadm is reported by its error and [ERROR ...] lines, in the termination
// message (status, Events) and in last-result.json.
func TestKubeadmFailureMessageNamesTheCause(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("testdata/kubeadm/upgrade-node-preflight-two-errors.stderr")
	must(t, err)
	n := newNode(t, nodeOpts{systemd: true})
	n.preprocess()
	n.fail("kubeadm", string(b))
	out := n.upgrade()
	want := "upgrade: kubeadm upgrade node failed: /usr/bin/kubeadm: exit status 1: error execution phase preflight: preflight checks failed: " +
		"[ERROR SystemVerification]: couldn't get kubelet version: cannot execute 'kubelet --version': executable file not found in $PATH; [ERROR ContainerRuntimeVersion]: could not connect"
	if out.Code != ExitRolledBack || !strings.HasPrefix(out.Message, want) || !strings.HasSuffix(out.Message, "; rolled back to v1.35.4") || strings.Contains(out.Message, "stack trace") {
		t.Errorf("exit %d\n got %q\nwant %q...; rolled back to v1.35.4", out.Code, out.Message, want)
	}
	if r := n.lastResult(); r.Message != out.Message || r.Step != StepKubeadm {
		t.Errorf("last-result.json: step %q message %q", r.Step, r.Message)
	}
}

// On a cgroup v1 host whose kubelet configuration opts in (failCgroupV1: false),
// kubeadm's SystemVerification check is skipped, as kubeadm 1.35+ requires; nowhere else.
func TestKubeadmSkipsSystemVerificationOnlyForOptedInCgroupV1(t *testing.T) {
	t.Parallel()
	const skip = "--ignore-preflight-errors=SystemVerification"
	for _, tc := range []struct {
		name         string
		cgroupV1     bool
		failCgroupV1 string
		extra        []string
		want         bool
	}{
		{"cgroup v1, failCgroupV1 false", true, "false", nil, true},
		{"cgroup v1, failCgroupV1 false, other skips", true, "false", []string{"--ignore-preflight-errors=CoreDNSUnsupportedPlugins"}, true},
		{"cgroup v1, failCgroupV1 true", true, "true", nil, false},
		{"cgroup v1, failCgroupV1 not set", true, "", nil, false},
		{"cgroup v2, failCgroupV1 false", false, "false", nil, false},
		{"cgroup v1, already skipped", true, "false", []string{"--ignore-preflight-errors=ImagePull,systemverification"}, false},
		{"cgroup v1, all skipped", true, "false", []string{"--ignore-preflight-errors", "all"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			n := newNode(t, nodeOpts{systemd: true, cgroupV1: tc.cgroupV1, failCgroupV1: tc.failCgroupV1})
			flag, why := n.agent.cgroupV1PreflightSkip(tc.extra)
			if got := flag == skip; got != tc.want || (flag != "" && flag != skip) {
				t.Errorf("flag %q, want skip %v", flag, tc.want)
			}
			if flag != "" && !strings.Contains(why, "cgroup v1") || flag != "" && !strings.Contains(why, "failCgroupV1: false") {
				t.Errorf("reason %q", why)
			}
		})
	}
	// The whole upgrade on an opted-in cgroup v1 host, both kubeadm commands: the fake
	// kubeadm refuses cgroup v1 without the skip, as kubeadm 1.36 does.
	for role, want := range map[string]string{
		job.RoleMasterFirst: "kubeadm v1.36.3 upgrade apply v1.36.3 --yes " + skip,
		job.RoleWorker:      "kubeadm v1.36.3 upgrade node " + skip,
	} {
		t.Run("upgrade "+role, func(t *testing.T) {
			t.Parallel()
			n := newNode(t, nodeOpts{systemd: true, role: role, cgroupV1: true, failCgroupV1: "false"})
			n.preprocess()
			out := n.upgrade()
			if out.Code != ExitOK {
				t.Fatalf("exit %d: %s", out.Code, out.Message)
			}
			if got := filterCalls(n.calls(), "kubeadm "+newV+" upgrade"); !slices.Equal(got, []string{want}) {
				t.Errorf("kubeadm calls %q, want %q", got, want)
			}
			if !strings.Contains(n.log.String(), "the host uses cgroup v1 and /var/lib/kubelet/config.yaml sets failCgroupV1: false") {
				t.Errorf("the agent did not log why it skips SystemVerification:\n%s", n.log)
			}
		})
	}
	// Without the skip, kubeadm's own error is what the operator sees.
	t.Run("operator skips nothing on cgroup v2", func(t *testing.T) {
		t.Parallel()
		n := newNode(t, nodeOpts{systemd: true, failCgroupV1: "false"})
		n.preprocess()
		if out := n.upgrade(); out.Code != ExitOK {
			t.Fatalf("exit %d: %s", out.Code, out.Message)
		}
		if got := filterCalls(n.calls(), "kubeadm "+newV+" upgrade"); !slices.Equal(got, []string{"kubeadm v1.36.3 upgrade node"}) {
			t.Errorf("kubeadm calls %q", got)
		}
	})
}
