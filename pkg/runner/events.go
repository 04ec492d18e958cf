package runner

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// NodeEventNamespace holds Events about Nodes: the API server requires Events of
// cluster-scoped objects to live in "default", as the kubelet's do.
const NodeEventNamespace = metav1.NamespaceDefault

// Component is the Event source.
const Component = "kubectl-edgeupgrade"

// Emit records an Event on the state ConfigMap (in kube-upgrade), or on the Node when
// the event names one (in default). Every Event carries the run label, so expiry
// can delete them.
// A failed Event write is not worth failing the upgrade for: it is reported only.
// While Drive runs, Events are written in the background: closing a batch emits one
// NodeUpgraded Event per node, and written inline they delayed the next batch.
func (r *Runner) Emit(ctx context.Context, st upgrade.State, cm *corev1.ConfigMap, e upgrade.Event) {
	if r.onEvent != nil {
		r.onEvent(e)
	}
	ev := NewEvent(st.RunID, cm, e, r.cache.NodeUID(e.Node), r.now())
	if r.events != nil {
		r.events.ch <- ev
		return
	}
	if err := r.writeEvent(ctx, ev); err != nil && r.onEvent != nil {
		r.onEvent(eventFailed(ev, err))
	}
}

func (r *Runner) writeEvent(ctx context.Context, ev *corev1.Event) error {
	_, err := r.client.CoreV1().Events(ev.Namespace).Create(ctx, ev, metav1.CreateOptions{})
	return err
}

func eventFailed(ev *corev1.Event, err error) upgrade.Event {
	return upgrade.Event{Type: upgrade.Warning, Reason: "EventFailed", Message: fmt.Sprintf("could not record Event %s: %v", ev.Reason, err)}
}

// eventWriters bounds concurrent Event writes in the background.
const eventWriters = 4

// eventDrainers join the writers when Drive ends: nothing competes with the Events
// then, and the last batch's NodeUpgraded Events (one per node) are the run's tail.
const eventDrainers = 12

// eventWriter writes Events handed to it by Emit; failures are reported by the
// driving goroutine (report), never from the writers.
type eventWriter struct {
	ch     chan *corev1.Event
	wg     sync.WaitGroup
	mu     sync.Mutex
	failed []upgrade.Event
}

// startEvents makes Emit asynchronous until the returned stop, which waits for every
// pending Event to be written.
func (r *Runner) startEvents(ctx context.Context) (stop func()) {
	w := &eventWriter{ch: make(chan *corev1.Event, 1024)}
	write := func() {
		for ev := range w.ch {
			if err := r.writeEvent(ctx, ev); err != nil {
				w.mu.Lock()
				w.failed = append(w.failed, eventFailed(ev, err))
				w.mu.Unlock()
			}
		}
	}
	for range eventWriters {
		w.wg.Go(write)
	}
	r.events = w
	return func() {
		r.events = nil
		close(w.ch)
		for range min(eventDrainers, len(w.ch)) {
			w.wg.Go(write)
		}
		w.wg.Wait()
		r.reportEventFailures(w)
	}
}

// reportEventFailures passes background write failures to OnEvent.
func (r *Runner) reportEventFailures(w *eventWriter) {
	w.mu.Lock()
	failed := w.failed
	w.failed = nil
	w.mu.Unlock()
	if r.onEvent != nil {
		for _, e := range failed {
			r.onEvent(e)
		}
	}
}

// NewEvent builds the Event object for e.
// nodeUID is needed for `kubectl describe node`, which matches Events by UID.
func NewEvent(runID string, cm *corev1.ConfigMap, e upgrade.Event, nodeUID types.UID, now time.Time) *corev1.Event {
	ref := corev1.ObjectReference{Kind: "ConfigMap", APIVersion: "v1", Namespace: job.Namespace, Name: cm.Name, UID: cm.UID}
	ns := job.Namespace
	if e.Node != "" {
		ns = NodeEventNamespace
		ref = corev1.ObjectReference{Kind: "Node", APIVersion: "v1", Name: e.Node, UID: nodeUID}
	}
	t := metav1.NewTime(now)
	return &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{
			Name:      fmt.Sprintf("%s.%x", ref.Name, now.UnixNano()),
			Namespace: ns,
			Labels:    map[string]string{job.LabelManagedBy: job.ManagedBy, job.LabelRun: runID},
		},
		InvolvedObject:      ref,
		Type:                string(e.Type),
		Reason:              e.Reason,
		Message:             e.Message,
		Source:              corev1.EventSource{Component: Component},
		FirstTimestamp:      t,
		LastTimestamp:       t,
		Count:               1,
		ReportingController: "edgeupgrade.io/kubectl-edgeupgrade",
		ReportingInstance:   runID,
	}
}
