package report

import (
	"bytes"
	"fmt"
	"image/png"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/internal/golden"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/status"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

const (
	from   = "v1.35.4"
	target = "v1.36.3"
)

// fixture is a run of 2 masters and 7 workers in two pools: batch 3 failed on
// edge-b-2, the run paused, was resumed with --retry-failed and completed, except
// edge-b-4, NotReady and deferred.
type fixture struct {
	st     upgrade.State
	jobs   []batchv1.Job
	pods   []corev1.Pod
	nodes  []corev1.Node
	events []status.Event
}

func newFixture() *fixture {
	f := &fixture{}
	fin := t0.Add(10 * time.Minute)
	f.st = upgrade.State{
		SchemaVersion: 1, RunID: "2611231000-abcd", Phase: upgrade.PhaseCompleted, StartedAt: t0, FinishedAt: &fin,
		Workers: 7, Masters: 2, Cap: 2, Batches: 5, MasterSerial: 2,
		Spec: upgrade.Spec{TargetVersion: target, FromVersion: from, Mode: upgrade.ModeAll, SkipUnready: true,
			JobTimeout: upgrade.Duration{Duration: 30 * time.Minute}, PauseExpiry: upgrade.Duration{Duration: 360 * time.Hour},
			DrainTimeout: upgrade.Duration{Duration: 5 * time.Minute}, PreprocessImage: "lab.local/node-preprocess:demo", UpgradeImage: "lab.local/upgrade:v1.36.3"},
		Failures:     []upgrade.Failure{{Node: "edge-b-2", Batch: "3", Container: "upgrade", Message: "upgrade: verify: kubelet healthz failed; rolled back to v1.35.4", At: t0.Add(4 * time.Minute)}},
		FailureCount: 1,
	}
	for _, n := range []struct {
		name, pool string
		master     bool
		ready      bool
		version    string
	}{
		{"master-1", "", true, true, target}, {"master-2", "", true, true, target},
		{"edge-a-1", "pool-a", false, true, target}, {"edge-a-2", "pool-a", false, true, target}, {"edge-a-3", "pool-a", false, true, target},
		{"edge-b-1", "pool-b", false, true, target}, {"edge-b-2", "pool-b", false, true, target}, {"edge-b-3", "pool-b", false, true, target},
		{"edge-b-4", "pool-b", false, false, from},
	} {
		f.node(n.name, n.pool, n.master, n.ready, n.version)
	}
	at := func(m, s int) time.Time { return t0.Add(time.Duration(m)*time.Minute + time.Duration(s)*time.Second) }
	f.job("master-1", "m1", "", "master", at(0, 5), at(1, 10), 0, "upgrade: node master-1 upgraded from v1.35.4 to v1.36.3 (kubeadm upgrade apply; kubelet restarted by systemd)")
	f.job("master-2", "m2", "", "master", at(1, 11), at(2, 0), 0, "")
	f.job("edge-a-1", "1", "pool-a", "worker", at(2, 1), at(2, 31), 0, "")
	f.job("edge-a-2", "2", "pool-a", "worker", at(2, 32), at(3, 2), 0, "")
	f.job("edge-a-3", "2", "pool-a", "worker", at(2, 32), at(3, 4), 0, "")
	f.job("edge-b-1", "3", "pool-b", "worker", at(3, 5), at(3, 40), 0, "")
	// edge-b-2 failed in batch 3, then its Job was deleted by resume --retry-failed and
	// made again in batch 4.
	f.job("edge-b-2", "4", "pool-b", "worker", at(8, 0), at(8, 30), 0, "")
	f.job("edge-b-3", "5", "pool-b", "worker", at(8, 31), at(9, 59), 0, "")
	for i, e := range []struct {
		m, s                  int
		typ, reason, obj, msg string
	}{
		{0, 0, "Normal", "UpgradeStarted", "ConfigMap/edgeupgrade", "upgrade 2611231000-abcd started: v1.35.4 to v1.36.3, mode all, cap 2"},
		{0, 0, "Normal", "PreCheckPassed", "ConfigMap/edgeupgrade", "pre-check passed: 0 errors, 1 warning (nodes-ready: 1 node NotReady, deferred: edge-b-4)"},
		{2, 1, "Normal", "NodeUpgraded", "Node/master-2", "node master-2 upgraded to v1.36.3"},
		{4, 0, "Warning", "NodeUpgradeFailed", "Node/edge-b-2", "node edge-b-2 failed (upgrade): upgrade: verify: kubelet healthz failed; rolled back to v1.35.4"},
		{4, 0, "Warning", "UpgradePaused", "ConfigMap/edgeupgrade", "upgrade paused automatically: node edge-b-2 failed"},
		{8, 0, "Normal", "UpgradeResumed", "ConfigMap/edgeupgrade", "upgrade resumed; retrying edge-b-2"},
		{10, 0, "Warning", "NodesDeferred", "ConfigMap/edgeupgrade", "1 node deferred (NotReady): edge-b-4"},
		{10, 0, "Normal", "UpgradeCompleted", "ConfigMap/edgeupgrade", "upgrade completed"},
	} {
		f.events = append(f.events, status.Event{Time: at(e.m, e.s+i%2), Type: e.typ, Reason: e.reason, Object: e.obj, Message: e.msg})
	}
	return f
}

func (f *fixture) node(name, pool string, master, ready bool, version string) {
	n := corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{}}}
	if master {
		n.Labels["node-role.kubernetes.io/control-plane"] = ""
	} else {
		n.Labels["apps.openyurt.io/nodepool"] = pool
	}
	cond := corev1.ConditionTrue
	if !ready {
		cond = corev1.ConditionFalse
	}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: cond}}
	n.Status.NodeInfo.KubeletVersion = version
	f.nodes = append(f.nodes, n)
}

func (f *fixture) job(node, batch, pool, role string, start, end time.Time, code int32, msg string) {
	labels := map[string]string{job.LabelManagedBy: job.ManagedBy, job.LabelComponent: job.ComponentNodeUpgrade, job.LabelRun: f.st.RunID,
		job.LabelNodeHash: job.NodeHash(node), job.LabelBatch: batch, job.LabelRole: role}
	meta := metav1.ObjectMeta{Name: "upgrade-" + node, Namespace: job.Namespace, Labels: labels, CreationTimestamp: metav1.NewTime(start),
		Annotations: map[string]string{job.AnnotationNode: node, job.AnnotationPool: pool, job.AnnotationTargetVersion: target}}
	j := batchv1.Job{ObjectMeta: meta}
	cond := batchv1.JobComplete
	phase := corev1.PodSucceeded
	if code != 0 {
		cond, phase = batchv1.JobFailed, corev1.PodFailed
	}
	j.Status.Conditions = []batchv1.JobCondition{{Type: cond, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(end)}}
	f.jobs = append(f.jobs, j)
	mid := start.Add(end.Sub(start) / 3)
	term := func(name string, s, e time.Time, code int32, msg string) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: name, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			StartedAt: metav1.NewTime(s), FinishedAt: metav1.NewTime(e), ExitCode: code, Message: msg}}}
	}
	pod := corev1.Pod{ObjectMeta: meta, Status: corev1.PodStatus{Phase: phase,
		InitContainerStatuses: []corev1.ContainerStatus{term(job.ContainerPreprocess, start.Add(time.Second), mid, 0, "")},
		ContainerStatuses:     []corev1.ContainerStatus{term(job.ContainerUpgrade, mid, end, code, msg)}}}
	f.pods = append(f.pods, pod)
}

func (f *fixture) run() *Run {
	return Assemble(f.st, f.jobs, f.pods, f.nodes, f.events, t0.Add(11*time.Minute))
}

func TestHTMLGolden(t *testing.T) {
	var b bytes.Buffer
	if err := HTML(&b, Summarize(newFixture().run())); err != nil {
		t.Fatal(err)
	}
	golden.Compare(t, "testdata/report.html", b.String())
}

func TestMarkdownGolden(t *testing.T) {
	var b bytes.Buffer
	if err := Markdown(&b, Summarize(newFixture().run()), "report.png"); err != nil {
		t.Fatal(err)
	}
	golden.Compare(t, "testdata/report.md", b.String())
}

// The SVG has one bar per batch, in the order of the run, coloured by result.
func TestSVGBars(t *testing.T) {
	f := newFixture()
	svg := NewTimeline(f.run()).SVG()
	re := regexp.MustCompile(`<rect class="batch (\w+)" data-batch="(\w+)" x="([\d.]+)"`)
	var got []string
	lastX := -1.0
	for _, m := range re.FindAllStringSubmatch(svg, -1) {
		got = append(got, m[2]+":"+m[1])
		var x float64
		_, _ = fmt.Sscan(m[3], &x)
		if x < lastX {
			t.Errorf("batch %s starts left of the one before it", m[2])
		}
		lastX = x
	}
	// Batch 3 had a failure, retried in batch 4: its bar says so though the Job is gone.
	want := []string{"m1:succeeded", "m2:succeeded", "1:succeeded", "2:succeeded", "3:failed", "4:succeeded", "5:succeeded"}
	if !cmp.Equal(got, want) {
		t.Fatalf("bars %s", cmp.Diff(want, got))
	}
	// The pause from the failure to the resume is shaded behind the bars.
	if n := strings.Count(svg, `<rect class="pause"`); n != 1 || !strings.Contains(svg, "<title>paused 4m1s</title>") {
		t.Errorf("%d pauses drawn, want one of 4m1s:\n%s", n, svg)
	}
	// Before the retry, the failed Job is there: batch 3 is a failed bar, and the
	// run is paused with edge-b-2 and edge-b-3 left behind.
	f = newFixture()
	f.jobs, f.pods = f.jobs[:6], f.pods[:6]
	f.job("edge-b-2", "3", "pool-b", "worker", t0.Add(185*time.Second), t0.Add(4*time.Minute), 1, "upgrade: verify: kubelet healthz failed")
	f.st.Phase, f.st.FinishedAt = upgrade.PhaseNodes, nil
	f.st.Pause = &upgrade.Pause{Reason: "node edge-b-2 failed", Since: t0.Add(4 * time.Minute), ByError: true}
	f.nodes[6].Status.NodeInfo.KubeletVersion, f.nodes[7].Status.NodeInfo.KubeletVersion = from, from
	r := f.run()
	svg = NewTimeline(r).SVG()
	if !strings.Contains(svg, `<rect class="batch failed" data-batch="3"`) || strings.Count(svg, `<rect class="batch `) != 5 {
		t.Fatalf("want 5 bars, batch 3 failed:\n%s", svg)
	}
	if n := strings.Count(svg, `<polyline class="upgraded"`); n != 1 {
		t.Fatalf("%d upgraded curves", n)
	}
	left := Summarize(r).LeftBehind
	want2 := []LeftRow{
		{Node: "edge-b-2", Why: "failed and not retried: upgrade: verify: kubelet healthz failed"},
		{Node: "edge-b-3", Why: "not started yet: the run is paused"},
		{Node: "edge-b-4", Why: "deferred: NotReady (--skip-unready), left for a later run"},
	}
	if !cmp.Equal(left, want2) {
		t.Fatalf("left behind while paused %s", cmp.Diff(want2, left))
	}
}

func TestPNGDecodes(t *testing.T) {
	b, err := NewTimeline(newFixture().run()).PNG()
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if r := img.Bounds(); r.Dx() < 500 || r.Dy() < 300 {
		t.Fatalf("picture of %v", r)
	}
}

func TestLeftBehindAndFailures(t *testing.T) {
	s := Summarize(newFixture().run())
	want := []LeftRow{{Node: "edge-b-4", Why: "deferred: NotReady (--skip-unready), left for a later run"}}
	if !cmp.Equal(s.LeftBehind, want) {
		t.Fatalf("left behind %s", cmp.Diff(want, s.LeftBehind))
	}
	if len(s.Failures) != 1 || s.Failures[0].Step != "upgrade / verify" || s.Failures[0].Node != "edge-b-2" {
		t.Fatalf("failures %+v", s.Failures)
	}
	r := newFixture().run()
	if n := r.Nodes[0]; n.Node != "master-1" || n.VersionBefore != from || n.VersionAfter != target || n.Duration() != 65*time.Second || len(n.Containers) != 2 {
		t.Fatalf("history of master-1 %+v", n)
	}
}

func TestParseSteps(t *testing.T) {
	log := `2026-11-23T10:00:00Z upgrading node edge-1 to v1.36.3
2026-11-23T10:00:01Z step 1/8 read-version
2026-11-23T10:00:02Z step 2/8 check-backup
2026-11-23T10:00:04Z step 3/8 kubeadm
2026-11-23T10:00:10Z step kubeadm failed: exit status 1
`
	end := t0.Add(12 * time.Second)
	got := ParseSteps("upgrade", log, &end)
	want := []Step{
		{Container: "upgrade", Name: "read-version", Start: t0.Add(time.Second), Duration: time.Second},
		{Container: "upgrade", Name: "check-backup", Start: t0.Add(2 * time.Second), Duration: 2 * time.Second},
		{Container: "upgrade", Name: "kubeadm", Start: t0.Add(4 * time.Second), Duration: 8 * time.Second, Error: "exit status 1"},
	}
	if !cmp.Equal(got, want) {
		t.Fatalf("steps %s", cmp.Diff(want, got))
	}
}

// A batch whose only node failed and was retried has no Job left: the report rebuilds
// it from the failure and its BatchStarted Event.
func TestLostBatchFromEvents(t *testing.T) {
	f := newFixture()
	// Batch 3 had only edge-b-2; drop the Job of edge-b-1 from it (moved to batch 6).
	f.jobs, f.pods = f.jobs[:5], f.pods[:5]
	f.job("edge-b-1", "6", "pool-b", "worker", t0.Add(9*time.Minute), t0.Add(10*time.Minute), 0, "")
	f.job("edge-b-2", "4", "pool-b", "worker", t0.Add(8*time.Minute), t0.Add(8*time.Minute+30*time.Second), 0, "")
	f.job("edge-b-3", "5", "pool-b", "worker", t0.Add(8*time.Minute+31*time.Second), t0.Add(9*time.Minute+59*time.Second), 0, "")
	f.events = append(f.events, status.Event{Time: t0.Add(3*time.Minute + 5*time.Second), Type: "Normal", Reason: upgrade.ReasonBatchStarted,
		Object: "ConfigMap/edgeupgrade", Message: "batch 3 (pool pool-b, 1 node) started: edge-b-2"})
	var got []string
	for _, b := range f.run().Status.Batches {
		got = append(got, fmt.Sprintf("%s:%s:%s:%d", b.Index, b.Pool, b.Result, b.Size))
		if b.Index == "3" && !b.StartedAt.Equal(t0.Add(3*time.Minute+5*time.Second)) {
			t.Errorf("batch 3 started at %v, want its Event's time", b.StartedAt)
		}
	}
	want := []string{"m1::Succeeded:1", "m2::Succeeded:1", "1:pool-a:Succeeded:1", "2:pool-a:Succeeded:2", "3:pool-b:Failed:1", "4:pool-b:Succeeded:1", "5:pool-b:Succeeded:1", "6:pool-b:Succeeded:1"}
	if !cmp.Equal(got, want) {
		t.Fatalf("batches %s", cmp.Diff(want, got))
	}
}
