package lab

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/test/lab/sim"
)

// Reset puts the lab back as Start left it, so several end-to-end tests can share one
// lab: it deletes the namespace kube-upgrade (the plugin's state, Jobs, pods and
// Events) and waits until it is gone, then gives every node its original kubelet
// version, knobs and readiness, and restores the default job duration.
func (l *Lab) Reset(ctx context.Context) error {
	err := l.Client.CoreV1().Namespaces().Delete(ctx, job.Namespace, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete namespace %s: %w", job.Namespace, err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := l.Client.CoreV1().Namespaces().Get(ctx, job.Namespace, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	}); err != nil {
		return fmt.Errorf("wait for namespace %s to be deleted: %w", job.Namespace, err)
	}
	if err := l.SetDefaultJobDuration(ctx, l.cfg.JobDuration); err != nil {
		return err
	}

	unready := map[string]bool{}
	for _, n := range l.cfg.Unready {
		unready[n] = true
	}
	nodes := l.Topology.Nodes()
	ch := make(chan string)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for range 16 {
		wg.Go(func() {
			for n := range ch {
				if err := l.resetNode(ctx, n, unready[n]); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	for _, n := range nodes {
		ch <- n
	}
	close(ch)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for _, n := range nodes {
		if err := l.WaitReady(ctx, n, !unready[n]); err != nil {
			return fmt.Errorf("node %s: %w", n, err)
		}
	}
	return nil
}

func (l *Lab) resetNode(ctx context.Context, node string, unready bool) error {
	var notReady any
	if unready {
		notReady = "true"
	}
	meta := map[string]any{"metadata": map[string]any{
		"annotations": l.cfg.knobAnnotations(node),
		"labels":      map[string]any{sim.LabelNotReady: notReady},
	}}
	if err := sim.PatchNode(ctx, l.Client, node, meta, ""); err != nil {
		return err
	}
	return sim.PatchNode(ctx, l.Client, node, map[string]any{"status": map[string]any{"nodeInfo": map[string]any{
		"kubeletVersion": l.cfg.From, "kubeProxyVersion": l.cfg.From,
	}}}, "status")
}

// knobAnnotations is the merge patch that gives node its configured knobs (and
// removes any other).
func (c Config) knobAnnotations(node string) map[string]*string {
	ann := (sim.Knobs{}).Annotations()
	ann[sim.AnnotationDeepResult] = nil
	if msg, ok := c.Fail[node]; ok {
		ann[sim.AnnotationFail] = &msg
	}
	if slices.Contains(c.Hang, node) {
		ann[sim.AnnotationHang] = strPtr("true")
	}
	if d, ok := c.NotReadyDuring[node]; ok {
		v := "true"
		if d > 0 {
			v = d.String()
		}
		ann[sim.AnnotationNotReadyDuring] = &v
	}
	return ann
}
