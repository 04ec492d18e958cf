package runner

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/kubernetes"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// gateParallelism bounds concurrent pod lists for one health gate.
const gateParallelism = 16

// gateTimeout bounds the pod lists of one gate check.
const gateTimeout = 30 * time.Second

// DaemonPods reads the DaemonSet pods on the named nodes for the health gate
// (upgrade.GateNodes: only the nodes of a batch that has finished). Nothing else of
// the cluster's pods is read or watched: at thousands of nodes the cluster's pods
// would dwarf everything a run needs. Each node's pods are one list by field selector,
// served from the API server's watch cache (resourceVersion 0).
func DaemonPods(ctx context.Context, client kubernetes.Interface, nodes []string) (map[string][]upgrade.Pod, error) {
	ctx, cancel := context.WithTimeout(ctx, gateTimeout)
	defer cancel()
	out := make(map[string][]upgrade.Pod, len(nodes))
	errs := make([]error, len(nodes))
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, gateParallelism)
	for i, node := range nodes {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			list, err := client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{
				FieldSelector: fields.OneTermEqualSelector("spec.nodeName", node).String(), ResourceVersion: "0"})
			if err != nil {
				errs[i] = fmt.Errorf("list the pods on node %s for the health gate: %w", node, err)
				return
			}
			var pods []upgrade.Pod
			for j := range list.Items {
				if p := &list.Items[j]; p.Spec.NodeName == node && daemonPod(p) {
					pods = append(pods, ToPod(p))
				}
			}
			mu.Lock()
			out[node] = pods
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out, utilerrors.NewAggregate(errs)
}

// daemonPod: a live pod of a DaemonSet (kube-proxy, CNI, edge tunnel agents, …).
func daemonPod(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return false
	}
	c := metav1.GetControllerOf(p)
	return c != nil && c.Kind == "DaemonSet"
}

// ToPod is a DaemonSet pod's health for the gate: Ready, and when a container of it
// last terminated and was restarted.
func ToPod(p *corev1.Pod) upgrade.Pod {
	out := upgrade.Pod{Name: p.Namespace + "/" + p.Name}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			out.Ready = c.Status == corev1.ConditionTrue
		}
	}
	for _, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
		for _, cs := range list {
			if t := cs.LastTerminationState.Terminated; cs.RestartCount > 0 && t != nil && t.FinishedAt.After(out.RestartedAt) {
				out.RestartedAt = t.FinishedAt.Time
			}
		}
	}
	return out
}
