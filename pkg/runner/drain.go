package runner

import (
	"context"
	"fmt"
	"io"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/kubectl/pkg/drain"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// AnnotationCordonedBy marks a node this run cordoned, so that only those are
// uncordoned afterwards (a node the operator cordoned stays cordoned).
const AnnotationCordonedBy = "edgeupgrade.io/cordoned-by"

// DrainError is a drain that did not finish; the run pauses with it.
type DrainError struct{ Msg string }

func (e *DrainError) Error() string { return e.Msg }

// drain cordons every node of the batch first, then evicts their pods respecting
// PodDisruptionBudgets, within the run's drain timeout. On failure the run pauses.
func (r *Runner) drain(ctx context.Context, st upgrade.State, nodes []string) error {
	for _, n := range nodes {
		if err := r.cordon(ctx, st.RunID, n); err != nil {
			return err
		}
	}
	h := &drain.Helper{
		Ctx: ctx, Client: r.client, Force: true, IgnoreAllDaemonSets: true, DeleteEmptyDirData: true,
		GracePeriodSeconds: -1, Timeout: st.Spec.DrainTimeout.Duration, Out: io.Discard, ErrOut: io.Discard,
	}
	var failed []string
	for _, n := range nodes {
		if err := drain.RunNodeDrain(h, n); err != nil {
			failed = append(failed, fmt.Sprintf("%s: %s", n, oneLine(err.Error())))
		}
	}
	if len(failed) == 0 {
		return nil
	}
	msg := fmt.Sprintf("drain did not finish within %s (blocked by PodDisruptionBudgets or pods that cannot be evicted): %s; "+
		"fix the blocking pods or budgets, then resume", st.Spec.DrainTimeout.Duration, strings.Join(failed, "; "))
	return &DrainError{Msg: msg}
}

func (r *Runner) cordon(ctx context.Context, runID, name string) error {
	n, err := r.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("cordon node %q: %w", name, err)
	}
	if n.Spec.Unschedulable {
		return nil // cordoned already: by us on an earlier attempt, or by the operator
	}
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}},"spec":{"unschedulable":true}}`, AnnotationCordonedBy, runID)
	_, err = r.client.CoreV1().Nodes().Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	if err != nil {
		return fmt.Errorf("cordon node %q: %w", name, err)
	}
	return nil
}

// uncordon uncordons the nodes that this run cordoned.
func (r *Runner) uncordon(ctx context.Context, runID string, nodes []string) error {
	for _, name := range nodes {
		n, err := r.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("uncordon node %q: %w", name, err)
		}
		if n.Annotations[AnnotationCordonedBy] != runID {
			continue
		}
		patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:null}},"spec":{"unschedulable":false}}`, AnnotationCordonedBy)
		if _, err := r.client.CoreV1().Nodes().Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			return fmt.Errorf("uncordon node %q: %w", name, err)
		}
	}
	return nil
}
