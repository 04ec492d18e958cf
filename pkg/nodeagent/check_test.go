package nodeagent

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/hostcheck"
)

// Findings are data: check exits 0 and prints the Result, errors included.
func TestCheckPrintsFindingsAndExitsZero(t *testing.T) {
	t.Parallel()
	n := newNode(t, nodeOpts{systemd: true, swap: true, cgroupV1: true, flags: "--feature-gates=CSIMigrationPortworx=false"})
	out, b := n.agent.Check(context.Background())
	if out.Code != ExitOK || len(b) > hostcheck.MaxResultBytes || string(b) != out.Message {
		t.Fatalf("exit %d, %d bytes: %s", out.Code, len(b), out.Message)
	}
	res, err := hostcheck.Decode(b)
	must(t, err)
	got := map[string]hostcheck.Severity{}
	for _, f := range res.Findings {
		got[f.Check] = f.Severity
	}
	for _, c := range []string{hostcheck.CheckSwap, hostcheck.CheckCgroup, hostcheck.CheckRemovedFlags} {
		if got[c] != hostcheck.SeverityError {
			t.Errorf("%s: %q in %s", c, got[c], b)
		}
	}
	if res.Node != "node-1" || res.CgroupVersion != 1 || res.KubeletVersion != oldV {
		t.Errorf("result %+v", res)
	}
}

func TestCheckCannotRun(t *testing.T) {
	t.Parallel()
	a := &Agent{Config: Config{HostRoot: "/nonexistent-host"}, Host: &Host{Root: "/nonexistent-host", Proc: "/proc", Runner: &recordingRunner{root: "/nonexistent-host"}}}
	out, b := a.Check(context.Background())
	if out.Code != ExitFailed || b != nil || !strings.HasPrefix(out.Message, "check: read the host root: ") {
		t.Errorf("exit %d: %s", out.Code, out.Message)
	}
}

func TestCommandFlagsDefaultToEnv(t *testing.T) {
	t.Setenv("EDGEUPGRADE_TARGET_VERSION", "v1.36.3")
	t.Setenv("EDGEUPGRADE_ROLE", "master-first")
	t.Setenv("EDGEUPGRADE_STEP_TIMEOUT", "soon")
	t.Setenv("EDGEUPGRADE_KUBEADM_ARGS", "--ignore-preflight-errors=SystemVerification  --v=5")
	var out, errOut bytes.Buffer
	cmd := NewCommand(Streams{Out: &out, ErrOut: &errOut}, "v0.0.1")
	f := cmd.PersistentFlags()
	if v, _ := f.GetString("target-version"); v != "v1.36.3" {
		t.Errorf("--target-version default %q", v)
	}
	if v, _ := f.GetString("role"); v != "master-first" {
		t.Errorf("--role default %q", v)
	}
	if v, _ := f.GetStringArray("kubeadm-arg"); strings.Join(v, "|") != "--ignore-preflight-errors=SystemVerification|--v=5" {
		t.Errorf("--kubeadm-arg default %q", v)
	}
	if v, _ := f.GetString("host-root"); v != "/host" {
		t.Errorf("--host-root default %q", v)
	}
	code := Main([]string{"upgrade", "--termination-log", ""}, Streams{Out: &out, ErrOut: &errOut}, "v0.0.1")
	if code != ExitFailed || !strings.Contains(errOut.String(), `error: upgrade: step timeout "soon" is not a positive Go duration`) {
		t.Errorf("exit %d: %s", code, errOut.String())
	}
}

func TestResolveInRoot(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(root, "run/containerd"), 0o755))
	must(t, os.MkdirAll(filepath.Join(root, "opt/kube"), 0o755))
	must(t, os.MkdirAll(filepath.Join(root, "usr/bin"), 0o755))
	must(t, os.Symlink("/run", filepath.Join(root, "var-run")))
	must(t, os.Symlink("../../opt/kube/kubelet-1.35", filepath.Join(root, "usr/bin/kubelet")))
	for in, want := range map[string]string{
		"/var-run/containerd/containerd.sock": "/run/containerd/containerd.sock",
		"/usr/bin/kubelet":                    "/opt/kube/kubelet-1.35",
		"/usr/bin/../../etc/x":                "/etc/x",
		"/new/file":                           "/new/file",
	} {
		if got := resolveInRoot(root, in); got != filepath.Join(root, want) {
			t.Errorf("%s: %s, want %s", in, got, filepath.Join(root, want))
		}
	}
	if got := resolveInRoot("/", "/a/../b"); got != "/b" {
		t.Errorf("root /: %s", got)
	}
}

func TestReadProcessSelf(t *testing.T) {
	t.Parallel()
	p, err := readProcess("/proc", os.Getpid())
	must(t, err)
	exe, _ := os.Executable()
	if p.Exe != exe || p.StartTime == 0 || len(p.Args) == 0 || p.Deleted {
		t.Errorf("%+v (exe %s)", p, exe)
	}
}

func TestOneLine(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 3000) // 6000 bytes
	got := oneLine("a\nb  c\n" + long)
	if len(got) > MaxMessageBytes || !strings.HasPrefix(got, "a; b c; ") || !strings.HasSuffix(got, "…") || strings.Contains(got, "\n") {
		t.Errorf("%d bytes: %.40q…", len(got), got)
	}
}
