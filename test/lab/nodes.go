package lab

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/edgeupgrade/kubectl-edgeupgrade/test/lab/sim"
)

// Labels the lab puts on nodes (docs/design.md §6: the plugin recognises them).
const (
	LabelControlPlane = "node-role.kubernetes.io/control-plane"
	LabelNodePool     = "apps.openyurt.io/nodepool"
	LabelEdgeWorker   = "openyurt.io/is-edge-worker"
	// CloudPool is the node-pool label value of the cloud workers.
	CloudPool = "cloud"

	annotationKwokNode = sim.AnnotationKwokNode
	kwokNodeValue      = sim.KwokNodeValue

	// ContainerRuntimeVersion is what every simulated node reports.
	ContainerRuntimeVersion = "containerd://2.0.5"
)

// Pool is one edge node pool.
type Pool struct {
	Name  string
	Nodes []string
}

// Topology is the lab's node names: stable for a given Config.
type Topology struct {
	Masters []string // master-1, master-2, ...
	Pools   []Pool   // pool-a: edge-a-001, edge-a-002, ...; pool-b: edge-b-001, ...
	Cloud   []string // cloud-01, cloud-02, ... (pool "cloud")
}

// poolLetters names pool i: a..z, then aa, ab, ...
func poolLetters(i int) string {
	s := ""
	for i++; i > 0; i = (i - 1) / 26 {
		s = string(rune('a'+(i-1)%26)) + s
	}
	return s
}

// Topology spreads the edge workers evenly over the pools (the first pools get one
// more when they do not divide evenly).
func (c Config) Topology() Topology {
	var t Topology
	for i := 1; i <= c.Masters; i++ {
		t.Masters = append(t.Masters, fmt.Sprintf("master-%d", i))
	}
	pools := c.Pools
	if pools < 1 && c.Workers > 0 {
		pools = 1
	}
	for p := range pools {
		n := c.Workers / pools
		if p < c.Workers%pools {
			n++
		}
		l := poolLetters(p)
		pool := Pool{Name: "pool-" + l}
		for i := 1; i <= n; i++ {
			pool.Nodes = append(pool.Nodes, fmt.Sprintf("edge-%s-%03d", l, i))
		}
		t.Pools = append(t.Pools, pool)
	}
	for i := 1; i <= c.CloudWorkers; i++ {
		t.Cloud = append(t.Cloud, fmt.Sprintf("cloud-%02d", i))
	}
	return t
}

// Nodes lists every node name: masters, edge workers pool by pool, cloud workers.
func (t Topology) Nodes() []string {
	out := append([]string(nil), t.Masters...)
	for _, p := range t.Pools {
		out = append(out, p.Nodes...)
	}
	return append(out, t.Cloud...)
}

// Workers lists the edge and cloud workers.
func (t Topology) Workers() []string {
	var out []string
	for _, p := range t.Pools {
		out = append(out, p.Nodes...)
	}
	return append(out, t.Cloud...)
}

// NodeAddress is every simulated node's InternalIP. The API server reaches a node's
// "kubelet" (logs, exec) at this address and the node's kubelet port, where kwok serves
// the kubelet API for all of them; a loopback address keeps that traffic, and anything
// else that follows node addresses, on this machine.
const NodeAddress = "127.0.0.1"

// nodeObjects builds the Node objects, whose kubelet endpoint is kwok's server on
// kubeletPort. Their status (kubelet version, addresses, capacity) is kept by kwok's
// node-initialize stage, which only fills what is unset.
func (c Config) nodeObjects(kubeletPort int) []*corev1.Node {
	t := c.Topology()
	unready := map[string]bool{}
	for _, n := range c.Unready {
		unready[n] = true
	}
	var out []*corev1.Node
	now := metav1.Now()
	add := func(name string, labels map[string]string, taints []corev1.Taint) {
		labels["kubernetes.io/hostname"] = name
		labels["kubernetes.io/os"] = "linux"
		labels["kubernetes.io/arch"] = "amd64"
		labels["type"] = "kwok"
		if unready[name] {
			labels[sim.LabelNotReady] = "true"
		}
		// Registered Ready, as a kubelet does: kwok's node-initialize stage then has
		// nothing to do, which halves the writes of a big lab's start.
		var conds []corev1.NodeCondition
		if !unready[name] {
			conds = readyConditions(now)
		}
		out = append(out, &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{
				Name:   name,
				Labels: labels,
				Annotations: map[string]string{
					annotationKwokNode:             kwokNodeValue,
					"node.alpha.kubernetes.io/ttl": "0",
				},
			},
			Spec: corev1.NodeSpec{Taints: taints},
			Status: corev1.NodeStatus{
				Phase:       corev1.NodeRunning,
				Conditions:  conds,
				Capacity:    nodeResources(),
				Allocatable: nodeResources(),
				// The API server uses only the InternalIP (--kubelet-preferred-address-types):
				// the Hostname would be looked up in the machine's DNS.
				Addresses: []corev1.NodeAddress{
					{Type: corev1.NodeInternalIP, Address: NodeAddress},
					{Type: corev1.NodeHostName, Address: name},
				},
				DaemonEndpoints: corev1.NodeDaemonEndpoints{
					KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(kubeletPort)},
				},
				NodeInfo: corev1.NodeSystemInfo{
					MachineID:               fmt.Sprintf("lab%029x", len(out)), // not all digits: kwok's template would make it a number
					SystemUUID:              fmt.Sprintf("00000000-0000-0000-0000-%012x", len(out)),
					BootID:                  fmt.Sprintf("boot-%d", len(out)),
					KernelVersion:           "6.1.0-40-amd64",
					OSImage:                 "Debian GNU/Linux 12 (bookworm)",
					ContainerRuntimeVersion: ContainerRuntimeVersion,
					KubeletVersion:          c.From,
					OperatingSystem:         "linux",
					Architecture:            "amd64",
				},
			},
		})
	}
	for _, m := range t.Masters {
		add(m, map[string]string{LabelControlPlane: "", LabelEdgeWorker: "false"},
			[]corev1.Taint{{Key: LabelControlPlane, Effect: corev1.TaintEffectNoSchedule}})
	}
	for _, p := range t.Pools {
		for _, n := range p.Nodes {
			add(n, map[string]string{LabelNodePool: p.Name, LabelEdgeWorker: "true"}, nil)
		}
	}
	for _, n := range t.Cloud {
		add(n, map[string]string{LabelNodePool: CloudPool, LabelEdgeWorker: "false"}, nil)
	}
	return out
}

func readyConditions(now metav1.Time) []corev1.NodeCondition {
	c := func(t corev1.NodeConditionType, s corev1.ConditionStatus, reason, msg string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: t, Status: s, Reason: reason, Message: msg, LastHeartbeatTime: now, LastTransitionTime: now}
	}
	return []corev1.NodeCondition{
		c(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "kubelet is posting ready status"),
		c(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
		c(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
		c(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
		c(corev1.NodeNetworkUnavailable, corev1.ConditionFalse, "RouteCreated", "RouteController created a route"),
	}
}

func nodeResources() corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU:              resource.MustParse("4"),
		corev1.ResourceMemory:           resource.MustParse("8Gi"),
		corev1.ResourcePods:             resource.MustParse("110"),
		corev1.ResourceEphemeralStorage: resource.MustParse("50Gi"),
	}
}

// createNodes creates the nodes with a few concurrent writers.
func createNodes(ctx context.Context, c kubernetes.Interface, nodes []*corev1.Node) error {
	const workers = 16
	ch := make(chan *corev1.Node)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for range workers {
		wg.Go(func() {
			for n := range ch {
				_, err := c.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{FieldManager: "edgeupgrade-lab"})
				if err != nil && !apierrors.IsAlreadyExists(err) {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("create node %s: %w", n.Name, err)
					}
					mu.Unlock()
				}
			}
		})
	}
	for _, n := range nodes {
		select {
		case ch <- n:
		case <-ctx.Done():
		}
	}
	close(ch)
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return firstErr
}
