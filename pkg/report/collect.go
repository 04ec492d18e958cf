// Package report tells what a run did, from what the run keeps in the cluster (the
// state ConfigMap, its Jobs and their pods, its Events) and nothing else: a report
// for change records (HTML with an SVG timeline, or Markdown with a PNG) and the
// history of each node. It only reads, so it works with the viewer role.
package report

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/runner"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/status"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/store"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// Run is everything known about one run.
type Run struct {
	State  upgrade.State
	Status *status.Status
	// Nodes are the nodes that had a Job in this run, in batch order.
	Nodes []NodeHistory
	// Events are the run's Events, oldest first.
	Events []status.Event
	// PreCheck is the pre-check result the run recorded at its start.
	PreCheck string
	// At is when the report was made.
	At time.Time
	// obs is what the report saw of the nodes and Jobs.
	obs upgrade.Observation
}

// NodeHistory is what happened to one node in the run.
type NodeHistory struct {
	Node   string `json:"node"`
	Batch  string `json:"batch"`
	Pool   string `json:"pool"`
	Role   string `json:"role"`
	Result string `json:"result"` // Running, Succeeded, Failed
	// Start is when the node's Job was created; End when it finished (nil: running).
	Start time.Time  `json:"start"`
	End   *time.Time `json:"end,omitempty"`
	// Containers are the Job pod's preprocess and upgrade containers, with their times.
	Containers []Container `json:"containers,omitempty"`
	// Steps are the agent's steps, from its log (history NODE only).
	Steps         []Step `json:"steps,omitempty"`
	VersionBefore string `json:"versionBefore"`
	VersionAfter  string `json:"versionAfter"`
	// Message is the agent's result line (the termination message), or the failure.
	Message string `json:"message,omitempty"`
}

// Duration of the node's Job, to the second; 0 while it runs.
func (h NodeHistory) Duration() time.Duration {
	if h.End == nil {
		return 0
	}
	return h.End.Sub(h.Start).Round(time.Second)
}

// Container is one container of a node's Job pod.
type Container struct {
	Name     string     `json:"name"`
	Start    *time.Time `json:"start,omitempty"`
	End      *time.Time `json:"end,omitempty"`
	ExitCode *int32     `json:"exitCode,omitempty"`
	Reason   string     `json:"reason,omitempty"`
	Message  string     `json:"message,omitempty"`
}

// Step is one step of the agent, as its log tells it.
type Step struct {
	Container string        `json:"container"`
	Name      string        `json:"name"`
	Start     time.Time     `json:"start"`
	Duration  time.Duration `json:"duration"`
	Error     string        `json:"error,omitempty"`
}

// Collect reads the current run. It lists the run's Jobs, pods and Events once, and
// the nodes in scope; it writes nothing.
func Collect(ctx context.Context, cs kubernetes.Interface, now time.Time) (*Run, error) {
	st, _, err := store.Store{Client: cs}.Get(ctx)
	if err != nil {
		return nil, err
	}
	sel := metav1.ListOptions{LabelSelector: job.NodeUpgradeSelector(st.RunID)}
	jobs, err := cs.BatchV1().Jobs(job.Namespace).List(ctx, sel)
	if err != nil {
		return nil, fmt.Errorf("list the Jobs of run %s: %w", st.RunID, err)
	}
	pods, err := cs.CoreV1().Pods(job.Namespace).List(ctx, sel)
	if err != nil {
		return nil, fmt.Errorf("list the pods of run %s: %w", st.RunID, err)
	}
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: st.Spec.Selector})
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	events, err := runEvents(ctx, cs, st.RunID)
	if err != nil {
		return nil, err
	}
	r := Assemble(st, jobs.Items, pods.Items, nodes.Items, events, now)
	return r, nil
}

// Assemble builds the run from what Collect read. It is pure (tests call it).
func Assemble(st upgrade.State, jobs []batchv1.Job, pods []corev1.Pod, nodes []corev1.Node, events []status.Event, now time.Time) *Run {
	podsOf := map[string][]*corev1.Pod{}
	for i := range pods {
		h := pods[i].Labels[job.LabelNodeHash]
		podsOf[h] = append(podsOf[h], &pods[i])
	}
	obs := upgrade.Observation{Jobs: map[string]upgrade.Job{}}
	version := map[string]string{}
	for i := range nodes {
		n := runner.ToNode(&nodes[i], st.Spec.PoolLabel)
		obs.Nodes = append(obs.Nodes, n)
		version[n.Name] = n.Version
	}
	events = slices.Clone(events)
	sort.SliceStable(events, func(i, j int) bool { return events[i].Time.Before(events[j].Time) })
	r := &Run{State: st, Events: events, At: now, obs: obs}
	for i := range jobs {
		j := &jobs[i]
		p := podsOf[j.Labels[job.LabelNodeHash]]
		uj := runner.ToJob(j, p)
		obs.Jobs[uj.Node] = uj
		r.Nodes = append(r.Nodes, nodeHistory(st, uj, p, version[uj.Node]))
	}
	sort.SliceStable(r.Nodes, func(i, k int) bool {
		a, b := r.Nodes[i], r.Nodes[k]
		if a.Batch != b.Batch {
			return status.BatchLess(a.Batch, b.Batch)
		}
		return a.Node < b.Node
	})
	// Keep every Event in the view: the report is the record.
	r.obs = obs
	r.Status = status.Build(st, obs, events, now)
	keepRetriedFailures(r.Status, st.Failures, events)
	for _, e := range events {
		if e.Reason == upgrade.ReasonPreCheck {
			r.PreCheck = e.Message
		}
	}
	return r
}

// keepRetriedFailures puts back into the batch history the nodes that failed in a
// batch and were retried later: the retry deleted their failed Job, from which status
// rebuilds its history, but a report is a record and that batch had a failure. A
// batch left with no Job at all is rebuilt from its BatchStarted Event.
func keepRetriedFailures(s *status.Status, failures []upgrade.Failure, events []status.Event) {
	for _, f := range failures {
		i := slices.IndexFunc(s.Batches, func(b status.Batch) bool { return b.Index == f.Batch })
		if i < 0 {
			s.Batches = append(s.Batches, lostBatch(f, events))
			continue
		}
		b := &s.Batches[i]
		if slices.Contains(b.Nodes, f.Node) {
			continue
		}
		b.Nodes = append(b.Nodes, f.Node)
		sort.Strings(b.Nodes)
		b.Size++
		if b.Result != "Running" {
			b.Result = "Failed"
		}
	}
	sort.SliceStable(s.Batches, func(i, j int) bool { return status.BatchLess(s.Batches[i].Index, s.Batches[j].Index) })
}

// batchStarted is the core's BatchStarted message: "batch 3 (pool pool-a, 4 nodes)
// started: ..." or "master 2 started: ...".
var batchStarted = regexp.MustCompile(`^(?:batch (\d+) \(pool ([^,]*),|master (\d+) )`)

// lostBatch is a batch whose Jobs are all gone, from its failure and its Event.
func lostBatch(f upgrade.Failure, events []status.Event) status.Batch {
	at := f.At
	b := status.Batch{Index: f.Batch, Role: string(upgrade.RoleWorker), Size: 1, Nodes: []string{f.Node}, StartedAt: &at, FinishedAt: &at, Result: "Failed"}
	if strings.HasPrefix(f.Batch, "m") {
		b.Role = string(upgrade.RoleMaster)
	}
	for _, e := range events {
		m := batchStarted.FindStringSubmatch(e.Message)
		if e.Reason != upgrade.ReasonBatchStarted || m == nil || (m[1] != f.Batch && "m"+m[3] != f.Batch) {
			continue
		}
		t := e.Time
		b.StartedAt = &t
		if m[2] != "(no pool)" {
			b.Pool = m[2]
		}
	}
	return b
}

func nodeHistory(st upgrade.State, j upgrade.Job, pods []*corev1.Pod, now string) NodeHistory {
	h := NodeHistory{Node: j.Node, Batch: j.Batch, Pool: j.Pool, Role: string(j.Role), Start: j.Created,
		VersionBefore: st.Spec.FromVersion, VersionAfter: now, Message: j.Message}
	switch j.Phase {
	case upgrade.JobSucceeded:
		h.Result = "Succeeded"
	case upgrade.JobFailed:
		h.Result = "Failed"
	default:
		h.Result = "Running"
	}
	if !j.Finished.IsZero() {
		f := j.Finished
		h.End = &f
	}
	if len(pods) > 0 {
		p := latest(pods)
		h.Containers = containers(p)
		for _, c := range h.Containers {
			if c.Name == job.ContainerUpgrade && c.Message != "" && h.Message == "" {
				h.Message = c.Message
			}
			// The node's upgrade ended when its last container did; the Job's
			// condition follows a second or so later, at the job controller's pace.
			if c.End != nil && h.End != nil && c.End.Before(*h.End) && !c.End.Before(h.Start) && c.Name == job.ContainerUpgrade {
				h.End = c.End
			}
		}
	}
	if from := fromVersion(h.Message); from != "" {
		h.VersionBefore = from
	}
	return h
}

// upgradedFrom is the agent's success line: "upgrade: node N upgraded from A to B (...)".
var upgradedFrom = regexp.MustCompile(`upgraded from (v\d+\.\d+\.\d+\S*) to `)

// fromVersion is the version the agent says the node had, "" if it does not say.
func fromVersion(msg string) string {
	if m := upgradedFrom.FindStringSubmatch(msg); m != nil {
		return m[1]
	}
	return ""
}

func latest(pods []*corev1.Pod) *corev1.Pod {
	p := pods[0]
	for _, q := range pods[1:] {
		if q.CreationTimestamp.After(p.CreationTimestamp.Time) {
			p = q
		}
	}
	return p
}

func containers(p *corev1.Pod) []Container {
	var out []Container
	for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		c := Container{Name: cs.Name}
		switch {
		case cs.State.Terminated != nil:
			t := cs.State.Terminated
			s, e, code := t.StartedAt.Time, t.FinishedAt.Time, t.ExitCode
			c.Start, c.End, c.ExitCode, c.Reason, c.Message = &s, &e, &code, t.Reason, strings.TrimSpace(t.Message)
		case cs.State.Running != nil:
			s := cs.State.Running.StartedAt.Time
			c.Start, c.Reason = &s, "Running"
		case cs.State.Waiting != nil:
			c.Reason = cs.State.Waiting.Reason
		}
		out = append(out, c)
	}
	return out
}

// runEvents lists the run's Events on the state ConfigMap (kube-upgrade) and on Nodes
// (default), oldest first. The viewer role reads only kube-upgrade: the Events on
// Nodes repeat what the state and the pods say (which node failed, and why), so
// without them the report loses nothing and the role needs no more rights.
func runEvents(ctx context.Context, cs kubernetes.Interface, runID string) ([]status.Event, error) {
	var out []status.Event
	for _, ns := range []string{job.Namespace, runner.NodeEventNamespace} {
		list, err := cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{LabelSelector: job.LabelRun + "=" + runID})
		if apierrors.IsForbidden(err) && ns != job.Namespace {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("list the Events of run %s in %s: %w", runID, ns, err)
		}
		for _, e := range list.Items {
			out = append(out, status.Event{Time: eventTime(e), Type: e.Type, Reason: e.Reason,
				Object: e.InvolvedObject.Kind + "/" + e.InvolvedObject.Name, Message: e.Message})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, nil
}

func eventTime(e corev1.Event) time.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}
