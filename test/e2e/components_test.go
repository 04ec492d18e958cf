package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/status"
	"github.com/edgeupgrade/kubectl-edgeupgrade/test/lab"
)

// notReadyOn is the lab's pod annotation that keeps a pod on the node it names from
// ever becoming Ready (test/lab/kwok/stages.yaml: pod-running-not-ready).
const notReadyOn = "lab.edgeupgrade.io/not-ready-on"

// A DaemonSet on every node is upgraded by `components upgrade` under the rules of a
// Kubernetes run: the master first, then pool by pool with the ramp up to the cap; a
// node whose new pod does not become Ready pauses the run naming node and pod; after
// the fix a resume goes on; an offline node is deferred and caught up once back; the
// DaemonSet's update strategy comes back at the end.
func TestComponentsUpgradeDaemonSet(t *testing.T) {
	t.Parallel()
	e := startLab(t, lab.Config{Masters: 1, Workers: 10, Pools: 2})
	ctx := context.Background()
	if err := e.lab.DaemonSet(ctx, "agent"); err != nil {
		t.Fatal(err)
	}
	if r := e.run("components", "-o", "json"); r.code != 0 || !contains(r.out, `"name": "agent"`) {
		t.Fatalf("components does not list the DaemonSet: %s", r)
	}
	if err := e.lab.SetReady(ctx, "edge-b-005", false); err != nil {
		t.Fatal(err)
	}
	// The new template: a new image, and (for the lab) edge-a-003's pod never Ready.
	file := manifest(t, "agent", "lab/agent:2", map[string]string{notReadyOn: "edge-a-003"})
	began := time.Now()
	r := e.run("components", "upgrade", "daemonset/agent", "-f", file, "--max-batch-size", "4", "--pod-timeout", "4s",
		"--soak", "2s", "--wait", "--no-tty") // the soak leaves time to bring edge-b-005 back during pool-b
	if r.code != 3 {
		t.Fatalf("components upgrade --wait exited %d, want 3 (paused):\n%s", r.code, r)
	}
	s := e.status()
	failing := podOn(t, e, "agent", "edge-a-003")
	if s.Pause == nil || !contains(s.Pause.Reason, "edge-a-003") || !contains(s.Pause.Reason, "kube-system/"+failing.Name) || !contains(s.Pause.Reason, "not Ready within 4s") {
		t.Fatalf("pause %+v, want edge-a-003 and its pod %s named", s.Pause, failing.Name)
	}
	if !slices.Contains(s.DeferredNodes, "edge-b-005") {
		t.Fatalf("deferred nodes %v, want the offline edge-b-005", s.DeferredNodes)
	}
	if ds := daemonSet(t, e, "agent"); ds.Spec.UpdateStrategy.Type != appsv1.OnDeleteDaemonSetStrategyType {
		t.Fatalf("the DaemonSet is not held on OnDelete during the run: %+v", ds.Spec.UpdateStrategy)
	}
	// The fix: the pod can become Ready (on a real node: the cause repaired).
	patch := []byte(`{"metadata":{"annotations":{"` + notReadyOn + `":null}}}`)
	if _, err := e.lab.Client.CoreV1().Pods(lab.DaemonSetNamespace).Patch(ctx, failing.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	cmd, out := e.background("resume", "--wait", "--no-tty")
	e.waitFor("pool b", time.Minute, func(s *status.Status) bool {
		return s.CurrentBatch != nil && s.CurrentBatch.Pool == "pool-b"
	})
	if err := e.lab.SetReady(ctx, "edge-b-005", true); err != nil {
		t.Fatal(err)
	}
	if code := waitExit(t, cmd, out, 2*time.Minute); code != 0 {
		t.Fatalf("resume --wait exited %d:\n%s", code, out)
	}
	t.Logf("the run took %s", time.Since(began).Round(time.Second))
	s = e.status()
	if s.Phase != "Completed" || s.RunKind != "daemonset" {
		t.Fatalf("phase %s kind %q, want a Completed daemonset run: %+v", s.Phase, s.RunKind, s)
	}
	for _, n := range e.lab.Topology.Nodes() {
		p := podOn(t, e, "agent", n)
		if p.Spec.Containers[0].Image != "lab/agent:2" || !podReady(p) {
			t.Errorf("node %s: pod %s runs %s, Ready %v", n, p.Name, p.Spec.Containers[0].Image, podReady(p))
		}
	}
	if r := e.run("status"); r.code != 0 || !contains(r.out, "revision 2") {
		t.Errorf("status of the DaemonSet run: %s", r)
	}
	if ds := daemonSet(t, e, "agent"); ds.Spec.UpdateStrategy.Type != appsv1.RollingUpdateDaemonSetStrategyType {
		t.Errorf("the update strategy was not restored: %+v", ds.Spec.UpdateStrategy)
	}
	got := batchHistory(t, e, s.RunID)
	t.Logf("batches: %v", got)
	// E.g. master:1, pool-a:1, pool-a:2 (edge-a-003 fails), pool-a:1, pool-a:1 (resumed: the
	// ramp restarts), pool-b:1, pool-b:2, then edge-b-005 back: in the next batch of its
	// pool, or a catch-up batch if the pool was done. 11 nodes, the fixed edge-a-003
	// counted by its pod, not by a batch of its own.
	if !ramped(got) || got[0] != "master:1" || got[1] != "pool-a:1" || got[2] != "pool-a:2" || !poolsInOrder(got) || total(got) != 11 {
		t.Errorf("batches %v: want the master, then pool-a, then pool-b, each ramping 1, 2, 4 up to the cap, 11 nodes", got)
	}
}

// Cancel of a paused DaemonSet run: the nodes not started keep their pods, and the
// DaemonSet gets back its update strategy and its previous template.
func TestComponentsUpgradeCancel(t *testing.T) {
	t.Parallel()
	e := startLab(t, lab.Config{Workers: 4, Pools: 1})
	ctx := context.Background()
	if err := e.lab.DaemonSet(ctx, "agent"); err != nil {
		t.Fatal(err)
	}
	before := map[string]types.UID{}
	for _, n := range e.lab.Topology.Nodes() {
		before[n] = podOn(t, e, "agent", n).UID
	}
	// edge-a-002's new pod never becomes Ready: the run pauses after its second batch.
	file := manifest(t, "agent", "lab/agent:2", map[string]string{notReadyOn: "edge-a-002"})
	if r := e.run("components", "upgrade", "daemonset/agent", "-f", file, "--pod-timeout", "3s", "--wait", "--no-tty"); r.code != 3 {
		t.Fatalf("components upgrade exited %d, want 3:\n%s", r.code, r)
	}
	if r := e.run("cancel", "--yes"); r.code != 0 {
		t.Fatalf("cancel: %s", r)
	}
	ds := daemonSet(t, e, "agent")
	if ds.Spec.UpdateStrategy.Type != appsv1.RollingUpdateDaemonSetStrategyType || ds.Spec.Template.Spec.Containers[0].Image != "lab/agent:1" ||
		ds.Spec.Template.Annotations[notReadyOn] != "" {
		t.Fatalf("after cancel the DaemonSet has strategy %+v, template image %s: want RollingUpdate and lab/agent:1",
			ds.Spec.UpdateStrategy, ds.Spec.Template.Spec.Containers[0].Image)
	}
	time.Sleep(2 * time.Second) // room for the DaemonSet controller to act, were it to
	for _, n := range []string{"edge-a-003", "edge-a-004"} {
		if p := podOn(t, e, "agent", n); p.UID != before[n] || p.Spec.Containers[0].Image != "lab/agent:1" {
			t.Errorf("node %s not started: pod %s (%s) replaced or changed, want the old one", n, p.Name, p.Spec.Containers[0].Image)
		}
	}
	if s := e.status(); s.Phase != "Cancelled" {
		t.Errorf("phase %s", s.Phase)
	}
}

// manifest writes a DaemonSet whose template is the lab's with image and annotations.
func manifest(t *testing.T, name, image string, annotations map[string]string) string {
	t.Helper()
	var ann strings.Builder
	for k, v := range annotations {
		fmt.Fprintf(&ann, "        %s: %s\n", k, v)
	}
	doc := fmt.Sprintf(`apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: %[1]s
  namespace: kube-system
spec:
  selector:
    matchLabels:
      app: %[1]s
  template:
    metadata:
      labels:
        app: %[1]s
      annotations:
%[3]s    spec:
      containers:
      - name: %[1]s
        image: %[2]s
      tolerations:
      - operator: Exists
`, name, image, ann.String())
	path := filepath.Join(t.TempDir(), name+".yaml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func daemonSet(t *testing.T, e *env, name string) *appsv1.DaemonSet {
	t.Helper()
	ds, err := e.lab.Client.AppsV1().DaemonSets(lab.DaemonSetNamespace).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// podOn is the DaemonSet's live pod on node.
func podOn(t *testing.T, e *env, ds, node string) *corev1.Pod {
	t.Helper()
	pods, err := e.lab.Client.CoreV1().Pods(lab.DaemonSetNamespace).List(context.Background(), metav1.ListOptions{
		LabelSelector: "app=" + ds, FieldSelector: "spec.nodeName=" + node})
	if err != nil {
		t.Fatal(err)
	}
	for i := range pods.Items {
		if pods.Items[i].DeletionTimestamp == nil {
			return &pods.Items[i]
		}
	}
	t.Fatalf("no pod of %s on %s", ds, node)
	return nil
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

var batchStarted = regexp.MustCompile(`^(?:master (\d+)|batch (\d+) \(pool (\S+), (\d+) nodes?\)) started`)

// batchHistory is the run's batches in order, "pool:size" ("master:1"), from its
// BatchStarted Events: the run's own record.
func batchHistory(t *testing.T, e *env, runID string) []string {
	t.Helper()
	evs, err := e.lab.Client.CoreV1().Events(job.Namespace).List(context.Background(), metav1.ListOptions{
		LabelSelector: job.LabelRun + "=" + runID, FieldSelector: "reason=BatchStarted"})
	if err != nil {
		t.Fatal(err)
	}
	type entry struct {
		order int
		what  string
	}
	var out []entry
	for _, ev := range evs.Items {
		m := batchStarted.FindStringSubmatch(ev.Message)
		switch {
		case m == nil:
			t.Fatalf("unexpected BatchStarted message %q", ev.Message)
		case m[1] != "":
			out = append(out, entry{-1, "master:1"})
		default:
			i, _ := strconv.Atoi(m[2])
			out = append(out, entry{i, m[3] + ":" + m[4]})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].order < out[j].order })
	var s []string
	for _, x := range out {
		s = append(s, x.what)
	}
	return s
}

// ramped: within each stretch of one pool the sizes go 1, 2, 4, … (capped, the last
// one maybe smaller), restarting at 1 (after a resume or a catch-up).
func ramped(h []string) bool {
	prevPool, prev := "", 0
	for _, b := range h {
		pool, n := split(b)
		switch {
		case pool != prevPool || n == 1:
		case n != 2*prev && n > prev:
			return false
		}
		prevPool, prev = pool, n
	}
	return true
}

// poolsInOrder: the master first, then pool-a, then pool-b.
func poolsInOrder(h []string) bool {
	var seen []string
	for _, b := range h {
		pool, _ := split(b)
		if len(seen) == 0 || seen[len(seen)-1] != pool {
			seen = append(seen, pool)
		}
	}
	return slices.Equal(seen, []string{"master", "pool-a", "pool-b"})
}

func total(h []string) int {
	n := 0
	for _, b := range h {
		_, k := split(b)
		n += k
	}
	return n
}

func split(b string) (string, int) {
	pool, n, _ := strings.Cut(b, ":")
	k, _ := strconv.Atoi(n)
	return pool, k
}
