package e2e

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/status"
	"github.com/edgeupgrade/kubectl-edgeupgrade/test/lab"
)

// The in-cluster driver of detached runs (docs/design.md §1). The lab runs the driver
// and watchdog pods as local processes of the edgeupgrade-driver binary, with a token of the
// edgeupgrade-driver ServiceAccount, so its RBAC (manifests/rbac-driver.yaml) is
// enforced by the real API server. The tests run in parallel: they mostly wait.

// driverImage is the (never pulled) edgeupgrade image: the lab runs the driver binary itself.
var driverImage = []string{"--driver-image", "lab/edgeupgrade:1"}

func startDriverLab(t *testing.T, cfg lab.Config) *env {
	t.Helper()
	t.Parallel()
	cfg.DriverBinary = driver
	e := startLab(t, cfg)
	e.bindRBAC()
	t.Cleanup(func() {
		if t.Failed() {
			e.dumpDrivers()
		}
	})
	return e
}

// dumpDrivers logs the plugin's Jobs and pods and what each driver pod printed.
func (e *env) dumpDrivers() {
	ctx := context.Background()
	jobs, _ := e.lab.Client.BatchV1().Jobs(job.Namespace).List(ctx, metav1.ListOptions{})
	for _, j := range jobs.Items {
		e.t.Logf("job %s: active %d succeeded %d failed %d conditions %v", j.Name, j.Status.Active, j.Status.Succeeded, j.Status.Failed, j.Status.Conditions)
	}
	pods, _ := e.lab.Client.CoreV1().Pods(job.Namespace).List(ctx, metav1.ListOptions{})
	for _, p := range pods.Items {
		e.t.Logf("pod %s on %q: %s %v", p.Name, p.Spec.NodeName, p.Status.Phase, p.Status.Conditions)
	}
	for _, p := range e.lab.DriverPods() {
		e.t.Logf("log of %s:\n%s", p, e.lab.PodLog(p))
	}
}

// detach starts a detached run as the operator and returns its id.
func (e *env) detach(extra ...string) string {
	e.t.Helper()
	r := e.runAs(e.lab.OperatorKubeconfig, startArgs(append(append([]string{"--detach"}, driverImage...), extra...)...)...)
	if r.code != 0 || !contains(r.out, "detached: driver Job kube-upgrade/eu-") || !contains(r.out, "status --watch --read-only") {
		e.t.Fatalf("start --detach: %s", r)
	}
	return e.status().RunID
}

// follow runs `status --watch --read-only` as the viewer until the run ends.
func (e *env) follow() result {
	e.t.Helper()
	return e.runAs(e.lab.ViewerKubeconfig, "status", "--watch", "--read-only")
}

// kubectl runs the lab's kubectl as the admin.
func (e *env) kubectl(args ...string) string {
	e.t.Helper()
	out, err := lab.Kubectl(context.Background(), e.kc, args...)
	if err != nil {
		e.t.Fatal(err)
	}
	return string(out)
}

func (e *env) waitUntil(what string, timeout time.Duration, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// driverPods are the run's driver pods by name, with their phase and node.
func (e *env) driverPods(run string) map[string]corev1.Pod {
	e.t.Helper()
	l, err := e.lab.Client.CoreV1().Pods(job.Namespace).List(context.Background(), metav1.ListOptions{
		LabelSelector: job.RunSelector(run) + "," + job.LabelComponent + "=" + job.ComponentDriver})
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]corev1.Pod{}
	for _, p := range l.Items {
		out[p.Name] = p
	}
	return out
}

// runningDriver waits for a driver process and returns its pod and PID.
func (e *env) runningDriver(not string) (string, int) {
	e.t.Helper()
	var pod string
	var pid int
	e.waitUntil("a running driver process", 90*time.Second, func() bool {
		for p, id := range e.lab.DriverPIDs() {
			if strings.Contains(p, "-driver-") && p != not {
				pod, pid = p, id
				return true
			}
		}
		return false
	})
	return pod, pid
}

// checkTidy: once a run has ended, no watchdog CronJob and no Lease remain.
func (e *env) checkTidy(run string) {
	e.t.Helper()
	ctx := context.Background()
	e.waitUntil("the driver objects to go", 30*time.Second, func() bool {
		_, cerr := e.lab.Client.BatchV1().CronJobs(job.Namespace).Get(ctx, job.WatchdogName(run), metav1.GetOptions{})
		_, lerr := e.lab.Client.CoordinationV1().Leases(job.Namespace).Get(ctx, job.LeaseName, metav1.GetOptions{})
		return apierrors.IsNotFound(cerr) && apierrors.IsNotFound(lerr)
	})
	for name, p := range e.driverPods(run) {
		if p.Status.Phase == corev1.PodFailed {
			e.t.Errorf("failed driver pod %s left after the run", name)
		}
	}
}

// A detached run, drain included, completes with no plugin process attached: the
// operator's start exits at once, only the viewer's read-only status follows, and
// the driver runs with nothing but the edgeupgrade-driver ServiceAccount's rights.
func TestDetachedRun(t *testing.T) {
	e := startDriverLab(t, lab.Config{Masters: 1, Workers: 8, Pools: 2, CloudWorkers: 1})
	e.deployment("web", 3)
	w := e.watchJobs()
	run := e.detach("--drain")
	s := e.waitFor("the in-cluster driver in status", time.Minute, func(s *status.Status) bool {
		return s.Driver != nil && s.Driver.Kind == "in-cluster"
	})
	if d := s.Driver; d.Pod == "" || d.Node == "" || !d.Detached || d.Since == nil {
		t.Fatalf("status driver %+v", d)
	}
	if node := s.Driver.Node; strings.HasPrefix(node, "edge-") {
		t.Errorf("the driver runs on edge worker %s; it prefers cloud and control-plane nodes", node)
	}
	r := e.follow()
	if r.code != 0 || !contains(r.out, "Completed") {
		t.Fatalf("status --watch --read-only: %s", r)
	}
	s = e.status()
	if s.Phase != "Completed" || s.Nodes.Upgraded != 10 || s.Driver != nil {
		t.Fatalf("after the detached run: %s %+v driver %+v", s.Phase, s.Nodes, s.Driver)
	}
	w.check(t, s.Cap)
	e.checkTidy(run)
	pods := e.driverPods(run)
	var last string
	for name, p := range pods {
		if p.Status.Phase == corev1.PodSucceeded {
			last = e.lab.PodLog(name)
		}
	}
	if !contains(last, "upgrade "+run+" completed; driver exits") {
		t.Fatalf("no driver pod ended with the completion line; pods %v, log:\n%s", keys(pods), last)
	}
	nodes, _ := e.lab.Client.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	for _, n := range nodes.Items {
		if n.Spec.Unschedulable {
			t.Errorf("node %s left cordoned", n.Name)
		}
	}
	e.checkDriverCannot()
}

// checkDriverCannot: the driver's ServiceAccount, enough for the run above, may do
// nothing beyond a run: no new run, no other ConfigMap, Lease or namespace, no
// Secrets, no pods of its own making, no RBAC.
func (e *env) checkDriverCannot() {
	e.t.Helper()
	sa := "system:serviceaccount:" + job.Namespace + ":" + job.ServiceAccountDriver
	for _, a := range []authorizationv1.ResourceAttributes{
		{Verb: "create", Resource: "configmaps", Namespace: job.Namespace},
		{Verb: "update", Resource: "configmaps", Namespace: job.Namespace, Name: "other"},
		{Verb: "delete", Resource: "configmaps", Namespace: job.Namespace, Name: "edgeupgrade"},
		{Verb: "get", Resource: "secrets", Namespace: job.Namespace},
		{Verb: "list", Resource: "secrets"},
		{Verb: "create", Resource: "pods", Namespace: job.Namespace},
		{Verb: "delete", Resource: "pods", Namespace: "default"},
		{Verb: "delete", Resource: "nodes"},
		{Verb: "update", Resource: "nodes"},
		{Verb: "create", Group: "batch", Resource: "jobs", Namespace: "default"},
		{Verb: "create", Group: "batch", Resource: "cronjobs", Namespace: job.Namespace},
		{Verb: "update", Group: "coordination.k8s.io", Resource: "leases", Namespace: job.Namespace, Name: "other"},
		{Verb: "update", Group: "coordination.k8s.io", Resource: "leases", Namespace: "kube-system", Name: job.LeaseName},
		{Verb: "create", Group: "rbac.authorization.k8s.io", Resource: "rolebindings", Namespace: job.Namespace},
		{Verb: "delete", Resource: "namespaces", Name: job.Namespace},
		{Verb: "create", Resource: "serviceaccounts/token", Namespace: job.Namespace, Name: job.ServiceAccountDriver},
	} {
		r, err := e.lab.Client.AuthorizationV1().SubjectAccessReviews().Create(context.Background(), &authorizationv1.SubjectAccessReview{
			Spec: authorizationv1.SubjectAccessReviewSpec{User: sa, ResourceAttributes: &a}}, metav1.CreateOptions{})
		if err != nil {
			e.t.Fatal(err)
		}
		if r.Status.Allowed {
			e.t.Errorf("the driver may %s %s/%s %q in %q", a.Verb, a.Group, a.Resource, a.Name, a.Namespace)
		}
	}
}

// The driver SIGKILLed several times mid-run: the job controller replaces its pod,
// the new driver takes the Lease from the dead one at once and continues from the
// ConfigMap; every node is upgraded exactly once and no batch exceeds the cap.
func TestDriverKilledIsReplaced(t *testing.T) {
	e := startDriverLab(t, lab.Config{Masters: 1, Workers: 20, Pools: 1, JobDuration: time.Second})
	w := e.watchJobs()
	run := e.detach("--max-batch-size", "2")
	killed := ""
	for i := range 3 {
		pod, pid := e.runningDriver(killed)
		before := e.status().Nodes.Upgraded
		e.waitFor("progress under driver "+pod, time.Minute, func(s *status.Status) bool { return s.Nodes.Upgraded > before })
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		t.Logf("kill %d: driver pod %s (pid %d) after %d nodes", i+1, pod, pid, before)
		killed = pod
	}
	if r := e.follow(); r.code != 0 {
		t.Fatalf("follow: %s", r)
	}
	s := e.status()
	if s.Phase != "Completed" || s.Nodes.Upgraded != 21 {
		t.Fatalf("after 3 kills: %s %+v", s.Phase, s.Nodes)
	}
	w.check(t, 2)
	if n := len(e.lab.DriverPods()); n < 4 {
		t.Errorf("%d driver pods ran, want at least 4 (3 killed, 1 to finish)", n)
	}
	e.checkTidy(run)
}

// The driver Job deleted by hand: the watchdog's pass (triggered as the CronJob
// would) brings it back and the run completes.
func TestWatchdogRecreatesTheDriver(t *testing.T) {
	e := startDriverLab(t, lab.Config{Workers: 12, Pools: 1, JobDuration: time.Second})
	run := e.detach("--mode", "nodes")
	pod, _ := e.runningDriver("")
	e.kubectl("-n", job.Namespace, "delete", "job", job.DriverName(run), "--wait=true")
	e.waitUntil("the deleted driver's process to stop", 30*time.Second, func() bool { _, ok := e.lab.DriverPIDs()[pod]; return !ok })
	stalled := e.status()
	e.kubectl("-n", job.Namespace, "create", "job", "--from=cronjob/"+job.WatchdogName(run), "watchdog-by-hand")
	e.waitUntil("the watchdog to recreate the driver", time.Minute, func() bool {
		_, err := e.lab.Client.BatchV1().Jobs(job.Namespace).Get(context.Background(), job.DriverName(run), metav1.GetOptions{})
		return err == nil
	})
	if r := e.follow(); r.code != 0 {
		t.Fatalf("follow: %s", r)
	}
	if s := e.status(); s.Phase != "Completed" || s.Nodes.Upgraded != 12 || stalled.Nodes.Upgraded == 12 {
		t.Fatalf("before the watchdog %+v, after %s %+v", stalled.Nodes, s.Phase, s.Nodes)
	}
	var wd string
	for _, p := range e.lab.DriverPods() {
		if strings.HasPrefix(p, "watchdog-by-hand") {
			wd = e.lab.PodLog(p)
		}
	}
	if !contains(wd, "its driver was gone: driver Job "+job.DriverName(run)+" created") {
		t.Fatalf("watchdog log:\n%s", wd)
	}
	e.checkTidy(run)
}

// A laptop's start --wait and the in-cluster driver at once: one holds the Lease and
// acts, the other observes; the holder never changes, and the run is correct.
func TestLaptopAndDriverAtOnce(t *testing.T) {
	e := startDriverLab(t, lab.Config{Masters: 1, Workers: 16, Pools: 2, JobDuration: time.Second})
	w := e.watchJobs()
	holders := e.watchLeaseHolders()
	run := e.detach()
	laptop, out := e.background("status", "--watch")
	r := e.follow()
	if err := laptop.Wait(); err != nil || r.code != 0 {
		t.Fatalf("laptop status --watch: %v\n%s\nfollower: %s", err, out, r)
	}
	s := e.status()
	if s.Phase != "Completed" || s.Nodes.Upgraded != 17 {
		t.Fatalf("%s %+v", s.Phase, s.Nodes)
	}
	w.check(t, s.Cap)
	if got := holders.distinct(); len(got) != 1 {
		t.Fatalf("the Lease changed hands during the run: %v", got)
	}
	e.checkTidy(run)
}

// A detached run paused with a short --pause-expiry: the driver exits at the pause,
// and the watchdog alone cancels the run at expiry and removes its Jobs, pods, Events
// and driver objects.
func TestDetachedPauseExpiredByTheWatchdog(t *testing.T) {
	e := startDriverLab(t, lab.Config{Workers: 10, Pools: 1, JobDuration: 2 * time.Second})
	run := e.detach("--mode", "nodes", "--pause-expiry", "5s")
	e.runningDriver("")
	if r := e.runAs(e.lab.OperatorKubeconfig, "pause", "--reason", "e2e"); r.code != 0 {
		t.Fatalf("pause: %s", r)
	}
	ctx := context.Background()
	e.waitUntil("the driver to exit at the pause", time.Minute, func() bool {
		j, err := e.lab.Client.BatchV1().Jobs(job.Namespace).Get(ctx, job.DriverName(run), metav1.GetOptions{})
		return err == nil && j.Status.Succeeded == 1
	})
	if s := e.status(); s.Phase != "Paused" || s.Driver == nil || s.Driver.Restart != "kubectl edgeupgrade resume --detach" {
		t.Fatalf("paused: %s driver %+v", s.Phase, s.Driver)
	}
	time.Sleep(6 * time.Second)
	e.kubectl("-n", job.Namespace, "create", "job", "--from=cronjob/"+job.WatchdogName(run), "watchdog-by-hand")
	e.waitFor("the watchdog to cancel the run", time.Minute, func(s *status.Status) bool { return s.Phase == "Cancelled" })
	if s := e.status(); !contains(s.EndReason, "expired") {
		t.Fatalf("end reason %q", s.EndReason)
	}
	e.checkTidy(run)
	sel := metav1.ListOptions{LabelSelector: job.LabelRun + "=" + run}
	e.waitUntil("the run's Jobs, pods and Events to go", 30*time.Second, func() bool {
		jobs, _ := e.lab.Client.BatchV1().Jobs(job.Namespace).List(ctx, sel)
		pods, _ := e.lab.Client.CoreV1().Pods(job.Namespace).List(ctx, sel)
		evs, _ := e.lab.Client.CoreV1().Events(job.Namespace).List(ctx, sel)
		nodeEvs, _ := e.lab.Client.CoreV1().Events("default").List(ctx, sel)
		return len(jobs.Items)+len(pods.Items)+len(evs.Items)+len(nodeEvs.Items) == 0
	})
}

// leaseHolders records every holder the driver Lease ever had.
type leaseHolders struct {
	mu   sync.Mutex
	seen []string
}

func (h *leaseHolders) distinct() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.seen...)
}

func (e *env) watchLeaseHolders() *leaseHolders {
	h := &leaseHolders{}
	ctx, cancel := context.WithCancel(context.Background())
	e.t.Cleanup(cancel)
	f := informers.NewSharedInformerFactoryWithOptions(e.lab.Client, 0, informers.WithNamespace(job.Namespace))
	inf := f.Coordination().V1().Leases().Informer()
	record := func(o any) {
		l, ok := o.(*coordinationv1.Lease)
		if !ok || l.Name != job.LeaseName {
			return
		}
		holder := ptr.Deref(l.Spec.HolderIdentity, "")
		h.mu.Lock()
		defer h.mu.Unlock()
		if holder != "" && (len(h.seen) == 0 || h.seen[len(h.seen)-1] != holder) {
			h.seen = append(h.seen, holder)
		}
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: record, UpdateFunc: func(_, o any) { record(o) }})
	f.Start(ctx.Done())
	cache.WaitForCacheSync(ctx.Done(), inf.HasSynced)
	return h
}

func keys[V any](m map[string]V) string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return fmt.Sprint(out)
}

// The in-cluster driver reacts to a batch's end as fast as start --wait: the same
// watch-driven loop, in another process. Measured on one lab, one run each: the time
// from the last pod of a batch Succeeded to the first Job of the next batch, both as
// this test's watch sees them (object timestamps have one-second resolution).
func TestDriverReactionLatency(t *testing.T) {
	e := startDriverLab(t, lab.Config{Masters: 1, Workers: 30, Pools: 1, JobDuration: 500 * time.Millisecond})
	measure := func(name string, drive func()) []time.Duration {
		rec := e.recordBatches()
		drive()
		d := rec.reactions()
		t.Logf("%s: %d reactions, median %s, max %s", name, len(d), median(d), maxOf(d))
		if len(d) < 5 || median(d) > 2*time.Second {
			t.Errorf("%s reacts in %v", name, d)
		}
		return d
	}
	wait := measure("start --wait", func() {
		if r := e.run(startArgs("--wait")...); r.code != 0 {
			t.Fatalf("start --wait: %s", r)
		}
	})
	if err := e.lab.Reset(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.kubectl("apply", "-f", "../../manifests/")
	detached := measure("in-cluster driver", func() {
		r := e.run(startArgs(append([]string{"--detach"}, driverImage...)...)...)
		if r.code != 0 {
			t.Fatalf("start --detach: %s", r)
		}
		// Reset removed the viewer's binding in kube-upgrade: the admin follows.
		if r := e.run("status", "--watch", "--read-only"); r.code != 0 {
			t.Fatalf("follow: %s", r)
		}
	})
	t.Logf("reaction latency, start --wait vs in-cluster driver: median %s vs %s, max %s vs %s",
		median(wait), median(detached), maxOf(wait), maxOf(detached))
}

// batchRecorder stamps, with this process's clock, when each batch's first Job was
// seen and when each of its pods was seen Succeeded.
type batchRecorder struct {
	mu       sync.Mutex
	first    map[string]time.Time   // batch -> first Job seen
	podsDone map[string][]time.Time // batch -> pods Succeeded
	order    []string
}

func (e *env) recordBatches() *batchRecorder {
	r := &batchRecorder{first: map[string]time.Time{}, podsDone: map[string][]time.Time{}}
	ctx, cancel := context.WithCancel(context.Background())
	e.t.Cleanup(cancel)
	f := informers.NewSharedInformerFactoryWithOptions(e.lab.Client, 0, informers.WithNamespace(job.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.LabelSelector = job.LabelComponent + "=" + job.ComponentNodeUpgrade
		}))
	jobs, pods := f.Batch().V1().Jobs().Informer(), f.Core().V1().Pods().Informer()
	_, _ = jobs.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: func(o any) {
		b := o.(metav1.Object).GetLabels()[job.LabelBatch]
		r.mu.Lock()
		defer r.mu.Unlock()
		if _, ok := r.first[b]; !ok {
			r.first[b] = time.Now()
			r.order = append(r.order, b)
		}
	}})
	_, _ = pods.AddEventHandler(cache.ResourceEventHandlerFuncs{UpdateFunc: func(old, cur any) {
		o, p := old.(*corev1.Pod), cur.(*corev1.Pod)
		if o.Status.Phase != corev1.PodSucceeded && p.Status.Phase == corev1.PodSucceeded {
			r.mu.Lock()
			r.podsDone[p.Labels[job.LabelBatch]] = append(r.podsDone[p.Labels[job.LabelBatch]], time.Now())
			r.mu.Unlock()
		}
	}})
	f.Start(ctx.Done())
	cache.WaitForCacheSync(ctx.Done(), jobs.HasSynced, pods.HasSynced)
	return r
}

// reactions: for each batch after the first, its first Job minus the previous
// batch's last pod done.
func (r *batchRecorder) reactions() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []time.Duration
	for i := 1; i < len(r.order); i++ {
		done := r.podsDone[r.order[i-1]]
		if len(done) == 0 {
			continue
		}
		last := done[0]
		for _, d := range done {
			if d.After(last) {
				last = d
			}
		}
		out = append(out, r.first[r.order[i]].Sub(last))
	}
	return out
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2].Round(time.Millisecond)
}

func maxOf(d []time.Duration) time.Duration {
	var m time.Duration
	for _, x := range d {
		m = max(m, x)
	}
	return m.Round(time.Millisecond)
}
