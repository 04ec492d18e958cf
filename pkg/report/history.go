package report

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/api"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
)

// History is the document of `kubectl edgeupgrade history -o json|yaml`.
type History struct {
	metav1.TypeMeta `json:",inline"`
	RunID           string        `json:"runID"`
	TargetVersion   string        `json:"targetVersion"`
	Nodes           []NodeHistory `json:"nodes"`
}

// DeepCopyObject makes History printable by cli-runtime printers.
func (h *History) DeepCopyObject() runtime.Object {
	c := *h
	return &c
}

// NewHistory is the history of the run's nodes (node "": all of them). A node without
// a Job in the run is an error saying so.
func NewHistory(r *Run, node string) (*History, error) {
	h := &History{TypeMeta: metav1.TypeMeta{APIVersion: api.Group + "/" + api.Version, Kind: "UpgradeHistory"},
		RunID: r.State.RunID, TargetVersion: r.State.Spec.TargetVersion, Nodes: []NodeHistory{}}
	for _, n := range r.Nodes {
		if node == "" || n.Node == node {
			h.Nodes = append(h.Nodes, n)
		}
	}
	if node != "" && len(h.Nodes) == 0 {
		return nil, fmt.Errorf("node %q has no upgrade Job in run %s: this run did not start it (already at the target, out of scope, or not reached yet); see kubectl edgeupgrade status", node, r.State.RunID)
	}
	return h, nil
}

// LoadSteps reads the agent's steps of each node from its containers' logs (through
// the API server and the node's kubelet: one request per container, so for one node
// or a few, not for a whole fleet). A log that cannot be read leaves its steps out and
// is reported in the returned notes.
func (h *History) LoadSteps(ctx context.Context, cs kubernetes.Interface) []string {
	var notes []string
	for i := range h.Nodes {
		n := &h.Nodes[i]
		pods, err := cs.CoreV1().Pods(job.Namespace).List(ctx, metav1.ListOptions{
			LabelSelector: job.NodeUpgradeSelector(h.RunID) + "," + job.LabelNodeHash + "=" + job.NodeHash(n.Node)})
		if err != nil || len(pods.Items) == 0 {
			notes = append(notes, fmt.Sprintf("%s: no pod to read the agent's steps from (%v)", n.Node, err))
			continue
		}
		p := latest(ptrs(pods.Items))
		for _, c := range n.Containers {
			b, err := cs.CoreV1().Pods(job.Namespace).GetLogs(p.Name, &corev1.PodLogOptions{Container: c.Name}).DoRaw(ctx)
			if err != nil {
				notes = append(notes, fmt.Sprintf("%s: the %s log is not readable: %v", n.Node, c.Name, err))
				continue
			}
			n.Steps = append(n.Steps, ParseSteps(c.Name, string(b), c.End)...)
		}
	}
	return notes
}

func ptrs(pods []corev1.Pod) []*corev1.Pod {
	out := make([]*corev1.Pod, len(pods))
	for i := range pods {
		out[i] = &pods[i]
	}
	return out
}

// printer keeps the first write error, so that a table is written without checking
// every line.
type printer struct {
	w   io.Writer
	err error
}

func (p *printer) f(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, args...)
	}
}

// PrintTable prints one row per node: batch, times, result, container durations and
// versions. Times are UTC.
func (h *History) PrintTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	p := &printer{w: tw}
	p.f("BATCH\tNODE\tPOOL\tSTART (UTC)\tEND\tDURATION\tRESULT\tPREPROCESS\tUPGRADE\tBEFORE\tAFTER\n")
	for _, n := range h.Nodes {
		p.f("%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n.Batch, n.Node, poolName(n.Pool), clockOf(&n.Start), clockOf(n.End),
			durationOf(n), n.Result, containerTime(n, job.ContainerPreprocess), containerTime(n, job.ContainerUpgrade), n.VersionBefore, n.VersionAfter)
	}
	if p.err != nil {
		return p.err
	}
	return tw.Flush()
}

// PrintNode prints one node in full: the row's facts, each container, each step.
func (h *History) PrintNode(w io.Writer, n NodeHistory) error {
	end := "-"
	if n.Result == "Running" {
		end = "(running)"
	}
	if n.End != nil {
		end = n.End.UTC().Format(time.RFC3339)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	p := &printer{w: tw}
	p.f("Node:\t%s\nRun:\t%s\nBatch:\t%s (pool %s, %s)\nStarted:\t%s\nEnded:\t%s\nDuration:\t%s\nResult:\t%s\nVersions:\t%s → %s (now)\n",
		n.Node, h.RunID, n.Batch, poolName(n.Pool), n.Role, n.Start.UTC().Format(time.RFC3339), end, durationOf(n), n.Result, n.VersionBefore, n.VersionAfter)
	if n.Message != "" {
		p.f("Message:\t%s\n", n.Message)
	}
	p.f("\nContainers:\n  CONTAINER\tSTART (UTC)\tEND\tDURATION\tEXIT\tREASON\n")
	for _, c := range n.Containers {
		exit := "-"
		if c.ExitCode != nil {
			exit = fmt.Sprint(*c.ExitCode)
		}
		p.f("  %s\t%s\t%s\t%s\t%s\t%s\n", c.Name, clockOf(c.Start), clockOf(c.End), span(c.Start, c.End), exit, dashed(c.Reason))
	}
	if len(n.Steps) == 0 {
		p.f("\nSteps: none in the agent's logs\n")
	} else {
		p.f("\nSteps (from the agent's log):\n  CONTAINER\tSTEP\tSTART (UTC)\tDURATION\tERROR\n")
		for _, s := range n.Steps {
			p.f("  %s\t%s\t%s\t%s\t%s\n", s.Container, s.Name, s.Start.UTC().Format("15:04:05"), s.Duration.Round(time.Millisecond), dashed(s.Error))
		}
	}
	if p.err != nil {
		return p.err
	}
	return tw.Flush()
}

func clockOf(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.UTC().Format("15:04:05")
}

func span(a, b *time.Time) string {
	if a == nil || b == nil {
		return "-"
	}
	return b.Sub(*a).Round(time.Second).String()
}

func durationOf(n NodeHistory) string {
	if n.End == nil {
		return "-"
	}
	return n.Duration().String()
}

func containerTime(n NodeHistory, name string) string {
	for _, c := range n.Containers {
		if c.Name == name {
			d := span(c.Start, c.End)
			if c.ExitCode != nil && *c.ExitCode != 0 {
				d += fmt.Sprintf(" (exit %d)", *c.ExitCode)
			}
			return d
		}
	}
	return "-"
}

func dashed(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}
