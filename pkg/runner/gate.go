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

// gatePerNodeMax: a gate over at most this many nodes lists each node's pods (field
// selector, served from the API server's index by node); a larger one lists every
// DaemonSet pod once (daemonPodSelector) and picks the batch's nodes itself: a
// 500-node batch is then one request instead of 500.
const gatePerNodeMax = 8

// daemonPodSelector picks the pods of DaemonSets (and StatefulSets, left out by
// daemonPod): their controllers label every pod with its controller revision.
const daemonPodSelector = "controller-revision-hash"

// DaemonPods reads the DaemonSet pods on the named nodes for the health gate
// (upgrade.GateNodes: only the nodes of a batch that has finished). Nothing else of
// the cluster's pods is read: at thousands of nodes the cluster's pods would dwarf
// everything a run needs. Reads are served from the API server's watch cache
// (resourceVersion 0). A driver watches the DaemonSet pods instead (Cache.daemonPods).
func DaemonPods(ctx context.Context, client kubernetes.Interface, nodes []string) (map[string][]upgrade.Pod, error) {
	ctx, cancel := context.WithTimeout(ctx, gateTimeout)
	defer cancel()
	if len(nodes) > gatePerNodeMax {
		list, err := client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{
			LabelSelector: daemonPodSelector, ResourceVersion: "0"})
		if err != nil {
			return nil, fmt.Errorf("list the DaemonSet pods for the health gate: %w", err)
		}
		pods := make([]*corev1.Pod, 0, len(list.Items))
		for i := range list.Items {
			pods = append(pods, &list.Items[i])
		}
		return gatePods(pods, nodes), nil
	}
	out := make(map[string][]upgrade.Pod, len(nodes))
	var mu sync.Mutex
	errs := forEachLimit(len(nodes), gateParallelism, func(i int) error {
		node := nodes[i]
		list, err := client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{
			FieldSelector: fields.OneTermEqualSelector("spec.nodeName", node).String(), ResourceVersion: "0"})
		if err != nil {
			return fmt.Errorf("list the pods on node %s for the health gate: %w", node, err)
		}
		pods := make([]*corev1.Pod, 0, len(list.Items))
		for j := range list.Items {
			pods = append(pods, &list.Items[j])
		}
		mu.Lock()
		out[node] = gatePods(pods, []string{node})[node]
		mu.Unlock()
		return nil
	})
	return out, utilerrors.NewAggregate(errs)
}

// gatePods picks the live DaemonSet pods on the named nodes, by node; every named
// node has an entry (nil: no DaemonSet pod there).
func gatePods(pods []*corev1.Pod, nodes []string) map[string][]upgrade.Pod {
	out := make(map[string][]upgrade.Pod, len(nodes))
	for _, n := range nodes {
		out[n] = nil
	}
	for _, p := range pods {
		if _, ok := out[p.Spec.NodeName]; ok && daemonPod(p) {
			out[p.Spec.NodeName] = append(out[p.Spec.NodeName], ToPod(p))
		}
	}
	return out
}

// daemonPod: a live pod of a DaemonSet (kube-proxy, CNI, edge tunnel agents, …).
func daemonPod(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return false
	}
	c := metav1.GetControllerOf(p)
	return c != nil && c.Kind == "DaemonSet"
}

// startError is the runtime's reason for a container that failed to start and so
// never ran (containerd's CRI sets it, with exit code 128).
const startError = "StartError"

// ToPod is a DaemonSet pod's health for the gate: Ready, and when a container of it
// last terminated and was restarted. A container that never ran is no crash: a
// kubelet restarted while it started a container (kubeadm rolls kube-proxy out on a
// control-plane node just before the agent restarts the kubelet) leaves exactly that,
// and a start that keeps failing keeps the pod not Ready, which the gate catches.
func ToPod(p *corev1.Pod) upgrade.Pod {
	out := upgrade.Pod{Name: p.Namespace + "/" + p.Name}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			out.Ready = c.Status == corev1.ConditionTrue
		}
	}
	for _, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
		for _, cs := range list {
			t := cs.LastTerminationState.Terminated
			if cs.RestartCount > 0 && t != nil && t.Reason != startError && t.FinishedAt.After(out.RestartedAt) {
				out.RestartedAt = t.FinishedAt.Time
			}
		}
	}
	return out
}
