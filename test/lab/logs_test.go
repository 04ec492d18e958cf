package lab_test

import (
	"context"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/test/lab"
)

// A node's container logs reach the API server from the node's kubelet endpoint (kwok on
// loopback, over TLS with the lab's CA): the simulated agent's lines of that pod. And no
// process of the lab had a peer outside loopback meanwhile, while the watch did see the
// lab's own loopback traffic.
func TestContainerLogsOverLoopback(t *testing.T) {
	l := startLab(t, lab.Config{Masters: 1, Workers: 2, From: from, JobDuration: 300 * time.Millisecond, WatchEgress: true})
	defer l.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := l.Client
	for _, n := range l.Topology.Nodes() {
		node, err := c.CoreV1().Nodes().Get(ctx, n, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range node.Status.Addresses {
			if a.Type == corev1.NodeInternalIP && a.Address != lab.NodeAddress {
				t.Errorf("node %s: InternalIP %s, want %s (loopback)", n, a.Address, lab.NodeAddress)
			}
		}
		if node.Status.DaemonEndpoints.KubeletEndpoint.Port == 0 {
			t.Errorf("node %s: no kubelet port", n)
		}
	}
	createNamespace(ctx, t, c)
	node := l.Topology.Workers()[0]
	j := createJob(ctx, t, c, node, 60)
	waitJob(ctx, t, c, j, batchv1.JobComplete, "")
	pod := onlyPod(ctx, t, c, j)
	for container, want := range map[string][]string{
		job.ContainerPreprocess: {"preprocess: node " + node + " (simulated by the lab): host checks", "backup of the kubelet"},
		job.ContainerUpgrade:    {"upgrade: node " + node + ": kubelet " + from + " -> " + target, "kubelet " + target + " restarted, healthy"},
	} {
		rc, err := c.CoreV1().Pods(job.Namespace).GetLogs(pod.Name, &corev1.PodLogOptions{Container: container}).Stream(ctx)
		if err != nil {
			t.Fatalf("logs of %s/%s: %v", pod.Name, container, err)
		}
		b, err := io.ReadAll(rc)
		_ = rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range want {
			if !strings.Contains(string(b), w) {
				t.Errorf("logs of %s: no %q in %q", container, w, b)
			}
		}
	}
	if err := c.BatchV1().Jobs(job.Namespace).Delete(ctx, j.Name, metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationForeground)}); err != nil {
		t.Fatal(err)
	}
	waitNoPods(ctx, t, c, j)
	poll(ctx, t, "the pod's log files removed", func(context.Context) (bool, error) {
		files, _ := os.ReadDir(l.Dir + "/containers")
		return len(files) == 0, nil
	})
	rep := l.Egress()
	if rep.Samples < 2 || rep.Loopback == 0 {
		t.Errorf("the egress watch saw no loopback traffic: %+v", rep)
	}
	for _, conn := range rep.Outside {
		t.Errorf("a lab process connected outside loopback: %s", conn)
	}
}
