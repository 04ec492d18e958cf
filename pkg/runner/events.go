package runner

import (
	"context"
	"fmt"
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
func (r *Runner) Emit(ctx context.Context, st upgrade.State, cm *corev1.ConfigMap, e upgrade.Event) {
	if r.OnEvent != nil {
		r.OnEvent(e)
	}
	ev := NewEvent(st.RunID, cm, e, r.Cache.NodeUID(e.Node), r.Now())
	if _, err := r.Client.CoreV1().Events(ev.Namespace).Create(ctx, ev, metav1.CreateOptions{}); err != nil && r.OnEvent != nil {
		r.OnEvent(upgrade.Event{Type: upgrade.Warning, Reason: "EventFailed", Message: fmt.Sprintf("could not record Event %s: %v", e.Reason, err)})
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
