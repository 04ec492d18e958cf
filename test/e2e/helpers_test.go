// Package e2e runs the real kubectl-edgeupgrade binary against the lab: a real
// control plane with kwok nodes and a simulated kubelet upgrade (test/lab).
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/status"
	"github.com/edgeupgrade/kubectl-edgeupgrade/test/lab"
)

const (
	from   = "v1.35.4"
	target = "v1.36.3"
)

var (
	plugin string // path of the built plugin
	driver string // path of the built in-cluster driver (the edgeupgrade image's binary)
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "edgeupgrade-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	plugin = filepath.Join(dir, "kubectl-edgeupgrade")
	driver = filepath.Join(dir, "edgeupgrade-driver")
	build := exec.Command("go", "build", "-o", dir+"/", "./cmd/kubectl-edgeupgrade", "./cmd/edgeupgrade-driver")
	build.Dir = "../.."
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build the plugin and the driver:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// env is one lab plus the plugin, as one test sees it.
type env struct {
	t   *testing.T
	lab *lab.Lab
	kc  string // kubeconfig the plugin uses
}

func startLab(t *testing.T, cfg lab.Config) *env {
	t.Helper()
	if cfg.From == "" {
		cfg.From = from
	}
	if cfg.JobDuration == 0 {
		cfg.JobDuration = 300 * time.Millisecond
	}
	cfg.WatchEgress = true
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	l, err := lab.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("start the lab: %v", err)
	}
	t.Cleanup(l.Stop)
	t.Cleanup(func() { checkEgress(t, l) }) // runs before Stop: cleanups run last first
	return &env{t: t, lab: l, kc: l.Kubeconfig}
}

// checkEgress fails the test if any process of its lab had a peer outside loopback:
// tests send traffic only to 127.0.0.0/8. The watch must also have seen the lab's own
// loopback traffic, or it was not looking at all.
func checkEgress(t *testing.T, l *lab.Lab) {
	t.Helper()
	rep := l.Egress()
	for _, c := range rep.Outside {
		t.Errorf("a lab process connected outside loopback: %s", c)
	}
	if rep.Loopback == 0 || rep.Samples < 2 {
		t.Errorf("the egress watch saw no loopback traffic in %d samples: it is not watching the lab", rep.Samples)
	}
}

type result struct {
	out, err string
	code     int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.out, r.err)
}

// run runs the plugin to completion.
func (e *env) run(args ...string) result {
	e.t.Helper()
	return e.runAs(e.kc, args...)
}

func (e *env) runAs(kubeconfig string, args ...string) result {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, plugin, append(args, "--kubeconfig", kubeconfig)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("run plugin: %v", err)
	}
	return result{out: out.String(), err: errb.String(), code: code}
}

// background starts the plugin and returns the command (not yet waited for).
func (e *env) background(args ...string) (*exec.Cmd, *bytes.Buffer) {
	e.t.Helper()
	cmd := exec.Command(plugin, append(args, "--kubeconfig", e.kc)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
	return cmd, &out
}

// images are the (never pulled) image names given to start: the lab simulates the node step.
var images = []string{"--preprocess-image", "lab/pre:1", "--upgrade-image", "lab/up:1"}

func startArgs(extra ...string) []string {
	return append(append([]string{"start", "--to", target}, images...), extra...)
}

func (e *env) status() *status.Status {
	e.t.Helper()
	s, r := e.tryStatus()
	if s == nil {
		e.t.Fatalf("status: %s", r)
	}
	return s
}

// tryStatus is `status --read-only -o json`, nil when it fails (no run yet).
func (e *env) tryStatus() (*status.Status, result) {
	e.t.Helper()
	r := e.run("status", "--read-only", "-o", "json")
	if r.code != 0 {
		return nil, r
	}
	var s status.Status
	if err := json.Unmarshal([]byte(r.out), &s); err != nil {
		e.t.Fatalf("decode status: %v\n%s", err, r.out)
	}
	return &s, r
}

func (e *env) waitFor(what string, timeout time.Duration, cond func(*status.Status) bool) *status.Status {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s, r := e.tryStatus()
		if s != nil && cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			if s == nil {
				e.t.Fatalf("timed out waiting for %s: %s", what, r)
			}
			e.t.Fatalf("timed out waiting for %s; phase %s, batch %+v, pause %+v", what, s.Phase, s.CurrentBatch, s.Pause)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitJobsFinished waits until no Job in kube-upgrade is still running.
func (e *env) waitJobsFinished(timeout time.Duration) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		l, err := e.lab.Client.BatchV1().Jobs(job.Namespace).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			e.t.Fatal(err)
		}
		active := 0
		for _, j := range l.Items {
			if j.Status.CompletionTime == nil && !jobFailed(&j) {
				active++
			}
		}
		if active == 0 {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%d Jobs still running", active)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func jobFailed(j *batchv1.Job) bool {
	for _, c := range j.Status.Conditions {
		if c.Type == batchv1.JobFailed && c.Status == "True" {
			return true
		}
	}
	return false
}

func (e *env) versions() map[string]string {
	e.t.Helper()
	v, err := e.lab.KubeletVersions(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

func (e *env) jobCount(selector string) int {
	e.t.Helper()
	l, err := e.lab.Client.BatchV1().Jobs(job.Namespace).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		e.t.Fatal(err)
	}
	return len(l.Items)
}

// jobWatch records every node-upgrade Job ever created, so a test can prove no node
// got two Jobs and no batch exceeded the cap, whatever happened in between.
type jobWatch struct {
	mu     sync.Mutex
	byNode map[string]map[types.UID]bool
	batch  map[string]map[string]bool // batch label -> nodes
}

func (e *env) watchJobs() *jobWatch {
	w := &jobWatch{byNode: map[string]map[types.UID]bool{}, batch: map[string]map[string]bool{}}
	ctx, cancel := context.WithCancel(context.Background())
	e.t.Cleanup(cancel)
	f := informers.NewSharedInformerFactoryWithOptions(e.lab.Client, 0, informers.WithNamespace(job.Namespace))
	inf := f.Batch().V1().Jobs().Informer()
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: func(o any) {
		j := o.(*batchv1.Job)
		if j.Labels[job.LabelComponent] != job.ComponentNodeUpgrade {
			return // a driver or watchdog Job of a detached run
		}
		n := j.Annotations[job.AnnotationNode]
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.byNode[n] == nil {
			w.byNode[n] = map[types.UID]bool{}
		}
		w.byNode[n][j.UID] = true
		b := j.Labels[job.LabelRun] + "/" + j.Labels[job.LabelBatch]
		if w.batch[b] == nil {
			w.batch[b] = map[string]bool{}
		}
		w.batch[b][n] = true
	}})
	f.Start(ctx.Done())
	cache.WaitForCacheSync(ctx.Done(), inf.HasSynced)
	return w
}

func (w *jobWatch) check(t *testing.T, limit int) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	for n, uids := range w.byNode {
		if len(uids) != 1 {
			t.Errorf("node %s got %d Jobs", n, len(uids))
		}
	}
	for b, nodes := range w.batch {
		if len(nodes) > limit {
			t.Errorf("batch %s has %d nodes, cap %d", b, len(nodes), limit)
		}
	}
}

// bindRBAC applies manifests/ and binds the lab's operator and viewer users.
func (e *env) bindRBAC() {
	e.t.Helper()
	e.kubectl("apply", "-f", "../../manifests/")
	ctx := context.Background()
	rb := e.lab.Client.RbacV1()
	for _, u := range []struct{ user, role string }{{lab.OperatorUser, "edgeupgrade-operator"}, {lab.ViewerUser, "edgeupgrade-viewer"}} {
		subj := []rbacv1.Subject{{Kind: rbacv1.UserKind, Name: u.user, APIGroup: rbacv1.GroupName}}
		meta := metav1.ObjectMeta{Name: u.role}
		if _, err := rb.ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: meta, Subjects: subj,
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: u.role}}, metav1.CreateOptions{}); err != nil {
			e.t.Fatal(err)
		}
		if _, err := rb.RoleBindings(job.Namespace).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: meta, Subjects: subj,
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: u.role}}, metav1.CreateOptions{}); err != nil {
			e.t.Fatal(err)
		}
	}
	subj := []rbacv1.Subject{{Kind: rbacv1.UserKind, Name: lab.OperatorUser, APIGroup: rbacv1.GroupName}}
	if _, err := rb.RoleBindings("default").Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "edgeupgrade-operator-node-events"}, Subjects: subj,
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "edgeupgrade-operator-node-events"}}, metav1.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

// sizesByPool returns the worker batch sizes per pool, in history order.
func sizesByPool(s *status.Status) map[string][]int {
	out := map[string][]int{}
	for _, b := range s.Batches {
		if b.Role == "worker" {
			out[b.Pool] = append(out[b.Pool], b.Size)
		}
	}
	return out
}

// ramp is docs/design.md §2.3 for a pool of n nodes.
func ramp(n, limit int) []int {
	var out []int
	for r := 1; n > 0; r = min(2*r, limit) {
		s := min(r, limit, n)
		out = append(out, s)
		n -= s
	}
	return out
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
