package nodeagent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/version"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
)

// Versions of the fake node.
const (
	oldV = "v1.35.4"
	newV = "v1.36.3"
)

// fakes maps a version to the fake kube binary built for it (by TestMain); fakeVersion
// maps a binary's SHA-256 back to its version.
var (
	fakes       = map[string]string{}
	fakeVersion = map[string]string{}
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "fakekube-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer func() { _ = os.RemoveAll(dir) }()
		for _, v := range []string{oldV, newV, "v1.36.2", oldCtd, newCtd} {
			out := filepath.Join(dir, "fakekube-"+v)
			cmd := exec.Command("go", "build", "-o", out, "-ldflags", "-X main.version="+v, "./testdata/fakekube")
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if b, err := cmd.CombinedOutput(); err != nil {
				fmt.Fprintf(os.Stderr, "build the fake kube binary: %v\n%s", err, b)
				return 1
			}
			fakes[v] = out
			sum, _ := fileSHA256(out)
			fakeVersion[sum] = v
		}
		return m.Run()
	}()
	os.Exit(code)
}

// nodeOpts describe a fake kubeadm node.
type nodeOpts struct {
	installed      string // kubelet and kubeadm version on the node
	image          string // version of the binaries in the upgrade image (default newV)
	target         string // default newV
	role           string // default worker
	systemd        bool
	cgroupV1       bool
	swap           bool
	kubeletProcess bool   // run a real fake kubelet under a supervisor (no systemd)
	noSupervisor   bool   // ... but never restart it
	flags          string // extra KUBELET_KUBEADM_ARGS
	failCgroupV1   string // failCgroupV1 in the kubelet config ("": not set)
}

// node is a temp directory laid out like a kubeadm node, plus the agent for it.
type node struct {
	t      *testing.T
	root   string
	image  string
	record string
	tlog   string
	port   int
	runner *recordingRunner
	agent  *Agent
	log    *bytes.Buffer
	sup    *supervisor
}

func newNode(t *testing.T, o nodeOpts) *node {
	t.Helper()
	if o.installed == "" {
		o.installed = oldV
	}
	if o.image == "" {
		o.image = newV
	}
	if o.target == "" {
		o.target = newV
	}
	if o.role == "" {
		o.role = job.RoleWorker
	}
	// Short paths: the runtime socket lives in the tree (unix socket paths ≤ 108 bytes).
	base, err := os.MkdirTemp("", "eu-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(base) })
	n := &node{t: t, root: filepath.Join(base, "host"), image: filepath.Join(base, "image"),
		record: filepath.Join(base, "calls.log"), tlog: filepath.Join(base, "termination-log"), log: &bytes.Buffer{}}

	n.port = n.healthz(o)
	cgroup := "sys/fs/cgroup/cgroup.controllers"
	if o.cgroupV1 {
		cgroup = "sys/fs/cgroup/memory/tasks"
	}
	swaps := "Filename\tType\tSize\tUsed\tPriority\n"
	if o.swap {
		swaps += "/swapfile file 1048572 0 -2\n"
	}
	files := map[string]string{
		"proc/swaps": swaps,
		cgroup:       "",
		"var/lib/kubelet/config.yaml": fmt.Sprintf("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"+
			"healthzBindAddress: 127.0.0.1\nhealthzPort: %d\ncontainerRuntimeEndpoint: unix:///var/run/containerd/containerd.sock\ncgroupDriver: cgroupfs\n", n.port) + failCgroupV1Line(o.failCgroupV1),
		"var/lib/kubelet/kubeadm-flags.env": `KUBELET_KUBEADM_ARGS="--node-ip=10.0.0.5 ` + o.flags + `"` + "\n",
		"etc/hostname":                      "node-1\n",
	}
	if o.role != job.RoleWorker {
		for _, c := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd"} {
			files["etc/kubernetes/manifests/"+c+".yaml"] = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: " + c + "\n# image: registry.k8s.io/" + c + ":" + o.installed + "\n"
		}
	}
	for p, content := range files {
		n.write(p, content, 0o644)
	}
	n.copyFake(o.installed, filepath.Join(n.root, "usr/bin/kubelet"))
	n.copyFake(o.installed, filepath.Join(n.root, "usr/bin/kubeadm"))
	for _, b := range []string{"kubeadm", "kubelet", "kubectl"} {
		n.copyFake(o.image, filepath.Join(n.image, b))
	}
	must(t, os.Symlink("/run", filepath.Join(n.root, "var/run")))
	if o.systemd {
		must(t, os.MkdirAll(filepath.Join(n.root, "run/systemd/system"), 0o755))
	}
	must(t, os.MkdirAll(filepath.Join(n.root, "run/containerd"), 0o755))
	l, err := net.Listen("unix", filepath.Join(n.root, "run/containerd/containerd.sock"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })

	n.runner = &recordingRunner{root: n.root, env: n.env()}
	n.agent = &Agent{
		Config: Config{
			TargetVersion: o.target, Role: o.role, RunID: "run-1", NodeName: "node-1",
			HostRoot: n.root, StepTimeout: 10 * time.Second, VerifyTimeout: 10 * time.Second, BinDir: n.image,
			StateDir: DefaultStateDir, TerminationLog: n.tlog,
		},
		Host:      &Host{Root: n.root, Proc: "/proc", ExePrefix: n.root, Runner: n.runner},
		Out:       n.log,
		Now:       time.Now,
		HTTP:      &http.Client{Timeout: 2 * time.Second},
		Poll:      20 * time.Millisecond,
		KillAfter: 2 * time.Second,
	}
	if o.kubeletProcess {
		n.sup = startSupervisor(t, filepath.Join(n.root, "usr/bin/kubelet"), n.env(), !o.noSupervisor)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := n.agent.verifyKubelet(ctx, "/usr/bin/kubelet", mustVersion(t, o.installed), true); err != nil {
			t.Fatalf("the fake kubelet did not start: %v", err)
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("agent log:\n%s\nhost commands:\n%s", n.log, strings.Join(n.runner.calls(), "\n"))
		}
	})
	return n
}

func failCgroupV1Line(v string) string {
	if v == "" {
		return ""
	}
	return "failCgroupV1: " + v + "\n"
}

func (n *node) env() []string {
	return []string{"FAKE_ROOT=" + n.root, "FAKE_RECORD=" + n.record, fmt.Sprintf("FAKE_HEALTHZ_PORT=%d", n.port), "PATH=/usr/bin:/bin"}
}

// healthz starts the kubelet's healthz endpoint for nodes without a kubelet process:
// it answers like the installed kubelet would (500 while fail/healthz-<version> exists).
// Nodes with a kubelet process get a free port for the fake kubelet to listen on.
func (n *node) healthz(o nodeOpts) int {
	if o.kubeletProcess {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			n.t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		if err := l.Close(); err != nil { // free the port for the fake kubelet
			n.t.Fatal(err)
		}
		return port
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		v := n.installedVersion()
		if n.exists("fail/healthz-" + v) {
			http.Error(w, "kubelet "+v+" is broken", http.StatusInternalServerError)
			return
		}
		_, _ = fmt.Fprint(w, "ok") // the agent's check reads the status code
	}))
	n.t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	var p int
	if _, err := fmt.Sscan(port, &p); err != nil {
		n.t.Fatal(err)
	}
	return p
}

func (n *node) installedVersion() string {
	sum, _ := fileSHA256(filepath.Join(n.root, "usr/bin/kubelet"))
	return fakeVersion[sum]
}

func (n *node) write(p, content string, mode os.FileMode) {
	n.t.Helper()
	full := filepath.Join(n.root, p)
	must(n.t, os.MkdirAll(filepath.Dir(full), 0o755))
	must(n.t, os.WriteFile(full, []byte(content), mode))
}

func (n *node) exists(p string) bool {
	_, err := os.Stat(filepath.Join(n.root, p))
	return err == nil
}

func (n *node) copyFake(v, dst string) {
	n.t.Helper()
	b, err := os.ReadFile(fakes[v])
	must(n.t, err)
	must(n.t, os.MkdirAll(filepath.Dir(dst), 0o755))
	must(n.t, os.WriteFile(dst, b, 0o755))
}

// fail makes the named fake fail (see testdata/fakekube).
func (n *node) fail(what, msg string) { n.write("fail/"+what, msg, 0o644) }

// tree returns the SHA-256 and mode of every file the backup covers, for comparing a
// restored node with the node before the upgrade independently of the manifest.
func (n *node) tree() map[string]string {
	n.t.Helper()
	out := map[string]string{}
	for _, dir := range []string{"usr/bin", "var/lib/kubelet", "etc/kubernetes"} {
		_ = filepath.WalkDir(filepath.Join(n.root, dir), func(p string, e fs.DirEntry, err error) error {
			if err != nil || !e.Type().IsRegular() {
				return nil
			}
			b, _ := os.ReadFile(p)
			st, _ := os.Stat(p)
			sum := sha256.Sum256(b)
			rel, _ := filepath.Rel(n.root, p)
			out[rel] = fmt.Sprintf("%s %v", hex.EncodeToString(sum[:8]), st.Mode().Perm())
			return nil
		})
	}
	return out
}

func (n *node) calls() []string {
	b, _ := os.ReadFile(n.record)
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

func (n *node) preprocess() Outcome {
	n.t.Helper()
	out := n.agent.Preprocess(context.Background())
	if out.Code != ExitOK {
		n.t.Fatalf("preprocess: exit %d: %s", out.Code, out.Message)
	}
	return out
}

func mustVersion(t *testing.T, s string) *version.Version {
	t.Helper()
	v, err := version.ParseSemantic(s)
	must(t, err)
	return v
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// recordingRunner runs host commands as the fake node would: a command's absolute path
// is taken inside the node's root, and systemctl is simulated. It records every call.
type recordingRunner struct {
	root string
	env  []string
	mu   sync.Mutex
	log  []string
}

func (r *recordingRunner) Run(ctx context.Context, c Command) ([]byte, error) {
	r.mu.Lock()
	r.log = append(r.log, c.String())
	r.mu.Unlock()
	if c.Name == "systemctl" {
		if strings.Join(c.Args, " ") == "restart containerd" {
			restartFakeContainerd(r.root)
		}
		fail := filepath.Join(r.root, "fail/systemctl-"+c.Args[0])
		if b, err := os.ReadFile(fail); err == nil {
			if err := os.Remove(fail); err != nil { // fail once
				return nil, err
			}
			return nil, fmt.Errorf("systemctl: exit status 1: %s", strings.TrimSpace(string(b)))
		}
		return nil, nil
	}
	for try := 0; ; try++ {
		cmd := exec.CommandContext(ctx, filepath.Join(r.root, c.Name), c.Args...)
		cmd.Args[0] = c.Name
		cmd.Env = r.env
		out, err := runCmd(cmd, c)
		// ETXTBSY: a parallel test forked while this binary's file was open for writing
		// (the child holds the descriptor until it execs; golang/go#22315). Transient.
		if err != nil && errors.Is(err, syscall.ETXTBSY) && try < 50 {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		return out, err
	}
}

func (r *recordingRunner) calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.log...)
}

func (r *recordingRunner) called(prefix string) bool {
	for _, c := range r.calls() {
		if strings.HasPrefix(c, prefix) {
			return true
		}
	}
	return false
}

// supervisor is what OpenRC's supervise-daemon or runit do for a kubelet: run it, and
// start it again whenever it exits.
type supervisor struct {
	mu      sync.Mutex
	pids    []int
	stop    chan struct{}
	done    chan struct{}
	current *exec.Cmd
}

func startSupervisor(t *testing.T, bin string, env []string, restart bool) *supervisor {
	s := &supervisor{stop: make(chan struct{}), done: make(chan struct{})}
	started := make(chan struct{})
	go func() {
		defer close(s.done)
		first := true
		for {
			cmd := exec.Command(bin, "--config=/var/lib/kubelet/config.yaml", "--v=2")
			cmd.Env = env
			err := cmd.Start()
			for try := 0; err != nil && errors.Is(err, syscall.ETXTBSY) && try < 50; try++ {
				time.Sleep(10 * time.Millisecond) // see recordingRunner.Run
				cmd = exec.Command(bin, "--config=/var/lib/kubelet/config.yaml", "--v=2")
				cmd.Env = env
				err = cmd.Start()
			}
			if err != nil {
				t.Errorf("supervisor: start kubelet: %v", err)
				return
			}
			s.mu.Lock()
			s.pids = append(s.pids, cmd.Process.Pid)
			s.current = cmd
			s.mu.Unlock()
			if first {
				close(started)
				first = false
			}
			exited := make(chan struct{})
			go func() { _ = cmd.Wait(); close(exited) }()
			select {
			case <-s.stop:
				_ = cmd.Process.Kill()
				<-exited
				return
			case <-exited:
			}
			if !restart {
				<-s.stop
				return
			}
			select {
			case <-s.stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	<-started
	t.Cleanup(func() { close(s.stop); <-s.done })
	return s
}

func (s *supervisor) started() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.pids...)
}
