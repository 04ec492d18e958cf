package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/edgeupgrade/kubectl-edgeupgrade/test/lab"
	"github.com/edgeupgrade/kubectl-edgeupgrade/test/lab/sim"
)

var (
	buildOnce sync.Once
	toolDir   string
	tool      string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if toolDir != "" {
		_ = os.RemoveAll(toolDir)
	}
	os.Exit(code)
}

// buildTool builds edgeupgrade-lab once, or skips (fails, under `make lab-test`)
// without the lab binaries.
func buildTool(t *testing.T) string {
	t.Helper()
	if _, err := lab.DefaultBinaries(); err != nil {
		if os.Getenv("EDGEUPGRADE_LAB_REQUIRED") != "" {
			t.Fatalf("%v", err)
		}
		t.Skipf("SKIPPING: %v", err)
	}
	buildOnce.Do(func() {
		if toolDir, buildErr = os.MkdirTemp("", "edgeupgrade-lab-tool-"); buildErr != nil {
			return
		}
		tool = filepath.Join(toolDir, "edgeupgrade-lab")
		if out, err := exec.Command("go", "build", "-o", tool, ".").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return tool
}

// pidsOf reads the lab's pids file.
func pidsOf(t *testing.T, dir string) map[string]int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "pids"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		pid, _ := strconv.Atoi(f[1])
		out[f[0]] = pid
	}
	return out
}

// running reports whether pid is alive and not a zombie (PID 1 on these machines does
// not reap orphans, so killed detached daemons stay <defunct>; they hold nothing).
func running(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// TestUpSetDown drives the CLI as a user would: up (detached daemons), set, down.
func TestUpSetDown(t *testing.T) {
	bin := buildTool(t)
	dir := filepath.Join(t.TempDir(), "lab")
	kc := filepath.Join(t.TempDir(), "copy", "kubeconfig")
	var stdout, stderr bytes.Buffer
	up := exec.Command(bin, "up", "--dir", dir, "--masters", "1", "--workers", "3", "--pools", "1",
		"--from", "v1.35.4", "--hang", "edge-a-002", "--fail", "edge-a-003=preprocess: disk full, 95% used", "--kubeconfig", kc)
	up.Stdout, up.Stderr = &stdout, &stderr
	start := time.Now()
	if err := up.Run(); err != nil {
		t.Fatalf("up: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	t.Logf("up took %s:\n%s", time.Since(start).Round(time.Millisecond), stderr.String())
	pids := pidsOf(t, dir)
	defer func() {
		for _, pid := range pids { // only if down failed
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
	}()
	if len(pids) != 6 {
		t.Errorf("pids file lists %v, want etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok, sim", pids)
	}
	for name, pid := range pids {
		if !running(pid) {
			t.Errorf("%s (pid %d) is not running after up returned", name, pid)
		}
	}

	rc, err := clientcmd.BuildConfigFromFlags("", kc)
	if err != nil {
		t.Fatal(err)
	}
	c := kubernetes.NewForConfigOrDie(rc)
	ctx := context.Background()
	node, err := c.CoreV1().Nodes().Get(ctx, "edge-a-003", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the --kubeconfig copy does not work: %v", err)
	}
	if got := node.Annotations[sim.AnnotationFail]; got != "preprocess: disk full, 95% used" {
		t.Errorf("edge-a-003 fail knob %q", got)
	}

	set := exec.Command(bin, "set", "--dir", dir, "--clear", "edge-a-003", "--no-hang", "edge-a-002", "--not-ready", "edge-a-001", "--job-duration", "300ms")
	if out, err := set.CombinedOutput(); err != nil {
		t.Fatalf("set: %v\n%s", err, out)
	}
	n3, _ := c.CoreV1().Nodes().Get(ctx, "edge-a-003", metav1.GetOptions{})
	n1, _ := c.CoreV1().Nodes().Get(ctx, "edge-a-001", metav1.GetOptions{})
	if _, ok := n3.Annotations[sim.AnnotationFail]; ok || n1.Labels[sim.LabelNotReady] != "true" {
		t.Errorf("set did not apply: edge-a-003 annotations %v, edge-a-001 labels %v", n3.Annotations, n1.Labels)
	}

	if out, err := exec.Command(bin, "down", "--dir", dir).CombinedOutput(); err != nil {
		t.Fatalf("down: %v\n%s", err, out)
	}
	for name, pid := range pids {
		if running(pid) {
			t.Errorf("%s (pid %d) still runs after down", name, pid)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s still exists after down", dir)
	}
	// down is idempotent.
	if out, err := exec.Command(bin, "down", "--dir", dir).CombinedOutput(); err != nil {
		t.Errorf("second down: %v\n%s", err, out)
	}
}

// TestUpInterrupted sends Ctrl-C (SIGINT) to up half-way: everything must stop.
func TestUpInterrupted(t *testing.T) {
	bin := buildTool(t)
	dir := filepath.Join(t.TempDir(), "lab")
	var out bytes.Buffer
	up := exec.Command(bin, "up", "--dir", dir, "--masters", "1", "--workers", "1", "--from", "v1.35.4")
	up.Stdout, up.Stderr = &out, &out
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = up.Wait(); close(exited) }()
	// Interrupt once the API server has been started.
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(readFile(filepath.Join(dir, "pids")), "kube-apiserver") {
		select {
		case <-exited:
			t.Fatalf("up exited before the API server started:\n%s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the API server never started:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	pids := pidsOf(t, dir)
	_ = up.Process.Signal(os.Interrupt)
	<-exited
	if up.ProcessState.Success() {
		t.Fatalf("up succeeded despite Ctrl-C:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "interrupted") {
		t.Errorf("up's error does not say it was interrupted:\n%s", out.String())
	}
	for name, pid := range pids {
		if running(pid) {
			t.Errorf("%s (pid %d) still runs after Ctrl-C", name, pid)
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s still exists after Ctrl-C", dir)
	}
}

func readFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}
