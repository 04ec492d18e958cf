package runner

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/store"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// The reads below are what commands show without driving a run; they live here so
// that pkg/cmd wires flags and prints, and never calls the API itself.

// Load returns the current run and its ConfigMap (store.ErrNoRun when there is none).
func Load(ctx context.Context, cs kubernetes.Interface) (upgrade.State, *corev1.ConfigMap, error) {
	return store.Store{Client: cs}.Get(ctx)
}

// RecentEvents returns the last n Events of the run, oldest first. Events are best
// effort (they expire after an hour by default): a failed read returns none.
func RecentEvents(ctx context.Context, cs kubernetes.Interface, runID string, n int) []corev1.Event {
	list, err := cs.CoreV1().Events(job.Namespace).List(ctx, metav1.ListOptions{LabelSelector: job.LabelRun + "=" + runID})
	if err != nil {
		return nil
	}
	items := list.Items
	sort.SliceStable(items, func(i, j int) bool { return EventTime(items[i]).Before(EventTime(items[j])) })
	if len(items) > n {
		items = items[len(items)-n:]
	}
	return items
}

// EventTime is when an Event last happened, whichever field its writer set.
func EventTime(e corev1.Event) time.Time {
	if !e.LastTimestamp.IsZero() {
		return e.LastTimestamp.Time
	}
	if !e.EventTime.IsZero() {
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}

// NodePods returns the upgrade pods of node in the current run, oldest first, and the
// run's ID.
func NodePods(ctx context.Context, cs kubernetes.Interface, node string) (string, []corev1.Pod, error) {
	st, _, err := Load(ctx, cs)
	if err != nil {
		return "", nil, err
	}
	sel := job.NodeUpgradeSelector(st.RunID) + "," + job.LabelNodeHash + "=" + job.NodeHash(node)
	pods, err := cs.CoreV1().Pods(job.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return st.RunID, nil, fmt.Errorf("list the upgrade pods of node %q: %w", node, err)
	}
	items := pods.Items
	sort.Slice(items, func(i, j int) bool { return items[i].CreationTimestamp.Before(&items[j].CreationTimestamp) })
	return st.RunID, items, nil
}

// PodLogs streams one container's log of an upgrade pod; tail < 0 means all of it.
func PodLogs(ctx context.Context, cs kubernetes.Interface, pod, container string, tail int64) (io.ReadCloser, error) {
	opts := &corev1.PodLogOptions{Container: container}
	if tail >= 0 {
		opts.TailLines = ptr.To(tail)
	}
	return cs.CoreV1().Pods(job.Namespace).GetLogs(pod, opts).Stream(ctx)
}

// NodeNames lists the names of the cluster's nodes that start with prefix, sorted.
func NodeNames(ctx context.Context, cs kubernetes.Interface, prefix string) ([]string, error) {
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range nodes.Items {
		if strings.HasPrefix(n.Name, prefix) {
			out = append(out, n.Name)
		}
	}
	slices.Sort(out)
	return out, nil
}
