package hostcheck

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/version"
)

func v(s string) *version.Version { return version.MustParseSemantic(s) }

func boolp(b bool) *bool { return &b }

func ids(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, string(f.Severity)+" "+f.Check)
	}
	return out
}

func TestCheckUpgradePath(t *testing.T) {
	for _, tc := range []struct{ from, to, want string }{
		{"v1.35.4", "v1.36.3", ""},
		{"v1.35.4", "v1.35.9", ""},
		{"v1.36.3", "v1.36.3", ""},
		{"v1.36.3", "v1.35.4", "kubelet v1.36.3 is newer than the target v1.35.4: downgrades are not supported"},
		{"v1.34.2", "v1.36.3", "kubelet v1.34.2 to v1.36.3 skips a minor version: upgrade to v1.35 first"},
		{"v1.35.4", "v2.0.0", "kubelet v1.35.4 and target v2.0.0 differ in major version: not supported"},
	} {
		err := CheckUpgradePath(v(tc.from), v(tc.to))
		got := ""
		if err != nil {
			got = err.Error()
			var pe *PolicyError
			if !errors.As(err, &pe) {
				t.Errorf("%s→%s: not a PolicyError", tc.from, tc.to)
			}
		}
		if got != tc.want {
			t.Errorf("%s→%s: got %q, want %q", tc.from, tc.to, got, tc.want)
		}
	}
}

func TestParseKubeletVersion(t *testing.T) {
	for in, want := range map[string]string{"Kubernetes v1.35.4\n": "1.35.4", "v1.36.0-rc.1": "1.36.0-rc.1", "Kubernetes v1.30.2+k3s1": "1.30.2+k3s1"} {
		got, err := ParseKubeletVersion(in)
		if err != nil || got.String() != want {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
	if _, err := ParseKubeletVersion("kubelet: not found"); err == nil {
		t.Error("parsed garbage")
	}
}

func TestCgroup(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cgroup  int
		target  string
		failCg1 *bool
		want    []string
	}{
		{"v2 any target", 2, "v1.36.3", nil, nil},
		{"v1 to 1.35 refused by default", 1, "v1.35.0", nil, []string{"error host-cgroup"}},
		{"v1 to 1.36 with failCgroupV1 true", 1, "v1.36.3", boolp(true), []string{"error host-cgroup"}},
		{"v1 to 1.36 with failCgroupV1 false", 1, "v1.36.3", boolp(false), []string{"warning host-cgroup"}},
		{"v1 to 1.34 maintenance mode", 1, "v1.34.1", nil, []string{"warning host-cgroup"}},
		{"v1 to 1.30", 1, "v1.30.1", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := Facts{CgroupVersion: tc.cgroup, Target: v(tc.target), Config: KubeletConfig{FailCgroupV1: tc.failCg1}}
			if diff := cmp.Diff(tc.want, ids(Cgroup(f))); diff != "" {
				t.Error(diff)
			}
		})
	}
}

func TestSwapAndDisk(t *testing.T) {
	if got := ids(Swap(Facts{Swaps: []string{"/dev/sda2"}})); !cmp.Equal(got, []string{"error host-swap"}) {
		t.Errorf("swap on: %v", got)
	}
	if got := ids(Swap(Facts{Swaps: []string{"/dev/sda2"}, Config: KubeletConfig{FailSwapOn: boolp(false)}})); !cmp.Equal(got, []string{"warning host-swap"}) {
		t.Errorf("swap allowed: %v", got)
	}
	if got := Swap(Facts{}); len(got) != 0 {
		t.Errorf("swap off: %v", got)
	}
	f := Facts{Disks: []DiskUsage{
		{Path: "/", Free: 500 << 20, Total: 10 << 30},
		{Path: "/var/lib/kubelet", Free: 3 << 30, Total: 100 << 30},
		{Path: "/var/lib/edgeupgrade", Free: 50 << 30, Total: 100 << 30},
	}}
	got := Disk(f)
	if diff := cmp.Diff([]string{"error host-disk", "warning host-disk"}, ids(got)); diff != "" {
		t.Fatal(diff)
	}
	if want := "only 500.0 MiB free on the file system of / (the upgrade needs 1.0 GiB for binaries and the backup)"; got[0].Message != want {
		t.Errorf("message %q", got[0].Message)
	}
}

func TestRemovedFlags(t *testing.T) {
	f := Facts{
		Kubelet: v("v1.34.3"), Target: v("v1.35.1"),
		Args:   []string{"--node-ip=10.0.0.1", "--pod-infra-container-image=registry.k8s.io/pause:3.9", "--cloud-config", "/etc/cc", "--feature-gates=SizeMemoryBackedVolumes=true,Foo=false"},
		Config: KubeletConfig{FeatureGates: map[string]bool{"UserNamespacesHostNetworkSupport": true, "CSIMigrationPortworx": true}},
	}
	got := RemovedFlags(f)
	var msgs []string
	for _, x := range got {
		msgs = append(msgs, x.Message)
	}
	want := []string{
		// --cloud-config went in 1.34, before the installed kubelet: not this upgrade's business.
		"kubelet v1.35.1 no longer accepts flags set on this node: --pod-infra-container-image (removed in 1.35)",
		// CSIMigrationPortworx goes in 1.36, after the target.
		"kubelet v1.35.1 no longer knows feature gates set on this node: SizeMemoryBackedVolumes (removed in 1.35), UserNamespacesHostNetworkSupport (removed in 1.35)",
	}
	if diff := cmp.Diff(want, msgs); diff != "" {
		t.Error(diff)
	}
	f.Target = v("v1.34.5")
	if got := RemovedFlags(f); len(got) != 0 {
		t.Errorf("patch upgrade: %v", got)
	}
}

func TestSplitArgsAndFlags(t *testing.T) {
	got := parseEnvArgs([]byte("# comment\nKUBELET_KUBEADM_ARGS=\"--a=1 --b 'two words' --c\"\nKUBELET_EXTRA_ARGS=--d=4\n"))
	if diff := cmp.Diff([]string{"--a=1", "--b", "two words", "--c", "--d=4"}, got); diff != "" {
		t.Error(diff)
	}
	for _, tc := range []struct {
		name, val string
		ok        bool
	}{{"a", "1", true}, {"b", "two words", true}, {"c", "", true}, {"e", "", false}} {
		val, ok := FlagValue(got, tc.name)
		if val != tc.val || ok != tc.ok {
			t.Errorf("--%s: %q %v", tc.name, val, ok)
		}
	}
}

func TestHealthzURL(t *testing.T) {
	p := func(i int32) *int32 { return &i }
	for _, tc := range []struct {
		c    KubeletConfig
		want string
	}{
		{KubeletConfig{}, "http://127.0.0.1:10248/healthz"},
		{KubeletConfig{HealthzBindAddress: "0.0.0.0", HealthzPort: p(10256)}, "http://127.0.0.1:10256/healthz"},
		{KubeletConfig{HealthzBindAddress: "::1"}, "http://[::1]:10248/healthz"},
		{KubeletConfig{HealthzPort: p(0)}, ""},
	} {
		if got := tc.c.HealthzURL(); got != tc.want {
			t.Errorf("%+v: %q", tc.c, got)
		}
	}
}

// dirHost is a host rooted in a temp dir that runs commands with a fixed answer.
type dirHost struct {
	root string
	run  func(name string, args ...string) ([]byte, error)
}

func (h dirHost) Path(p string) string { return filepath.Join(h.root, p) }
func (h dirHost) Run(_ context.Context, name string, args ...string) ([]byte, error) {
	return h.run(name, args...)
}

func TestRunGathersTheHost(t *testing.T) {
	root, err := os.MkdirTemp("", "hc-")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = os.RemoveAll(root) }()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "[-]syncloop failed", 500) }))
	defer srv.Close()
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	write := func(p, s string) {
		must(t, os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755))
		must(t, os.WriteFile(filepath.Join(root, p), []byte(s), 0o644))
	}
	write("proc/swaps", "Filename Type Size Used Priority\n/swap.img file 2097148 0 -2\n")
	write("sys/fs/cgroup/memory/tasks", "")
	write("var/lib/kubelet/config.yaml", "healthzBindAddress: 127.0.0.1\nhealthzPort: "+port+"\ncontainerRuntimeEndpoint: unix:///run/crio/crio.sock\n")
	write("var/lib/kubelet/kubeadm-flags.env", `KUBELET_KUBEADM_ARGS="--pod-infra-container-image=registry.k8s.io/pause:3.10"`+"\n")
	l, err := net.Listen("unix", filepath.Join(root, "sock"))
	must(t, err)
	must(t, l.Close()) // a socket file nobody listens on

	h := dirHost{root: root, run: func(name string, args ...string) ([]byte, error) {
		if name == "/usr/bin/kubelet" && args[0] == "--version" {
			return []byte("Kubernetes v1.34.2\n"), nil
		}
		return nil, fmt.Errorf("unexpected %s", name)
	}}
	res, err := Run(context.Background(), h, Options{Node: "edge-7", TargetVersion: "v1.35.4", MinFreeBytes: 1})
	must(t, err)
	if res.Node != "edge-7" || res.KubeletVersion != "v1.34.2" || res.TargetVersion != "v1.35.4" || res.CgroupVersion != 1 {
		t.Errorf("result header: %+v", res)
	}
	want := []string{"error host-kubelet", "error host-runtime", "error host-swap", "error host-cgroup", "error host-kubelet-removed-flags"}
	if diff := cmp.Diff(want, ids(res.Findings)); diff != "" {
		t.Errorf("findings (-want +got):\n%s\n%+v", diff, res.Findings)
	}
	if _, err := Run(context.Background(), dirHost{root: filepath.Join(root, "nope")}, Options{}); err == nil {
		t.Error("no error for a missing host root")
	}
}

func TestEncodeFitsAndKeepsErrors(t *testing.T) {
	r := Result{Node: "n", Findings: []Finding{}}
	for i := 0; i < 60; i++ {
		sev := SeverityWarning
		if i%10 == 9 {
			sev = SeverityError
		}
		r.Findings = append(r.Findings, Finding{Check: fmt.Sprintf("c%d", i), Severity: sev, Message: strings.Repeat("x", 300)})
	}
	b, err := Encode(r)
	must(t, err)
	if len(b) > MaxResultBytes {
		t.Fatalf("%d bytes", len(b))
	}
	got, err := Decode(b)
	must(t, err)
	last := got.Findings[len(got.Findings)-1]
	if last.Check != CheckTruncated || !strings.HasPrefix(last.Message, "... ") {
		t.Errorf("last finding %+v", last)
	}
	for i := 0; i < 6; i++ {
		if got.Findings[i].Severity != SeverityError {
			t.Errorf("finding %d is %s: errors must come first", i, got.Findings[i].Severity)
		}
	}
	small, _ := Encode(Result{Node: "n"})
	if string(small) != `{"node":"n","findings":[]}` {
		t.Errorf("%s", small)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
