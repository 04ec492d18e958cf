package runner

import (
	"context"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stesting "k8s.io/client-go/testing"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// A run that upgrades containerd: each node's staging Job pulls the upgrade image its
// containerd needs, each variant's digest is read from one staging pod of it (one pod
// read per variant, not per reconcile), and each node Job runs its variant by digest.
func TestStagingAndNodeJobsPickEachNodesVariant(t *testing.T) {
	f := setup(t, 2, func(sp *upgrade.Spec) {
		sp.Stage, sp.MaxConcurrentPulls = true, 3
		sp.RuntimeVersion, sp.UpgradeImage, sp.RuntimeImage = "v2.2.9", "r.local/up:v1.36.3", "r.local/up:v1.36.3-containerd-v2.2.9"
	})
	ctx := context.Background()
	runtimes := map[string]string{"master-1": "containerd://1.6.20~ds1", "edge-01": "containerd://2.2.9", "edge-02": ""}
	for name, rt := range runtimes {
		n, err := f.cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		n.Status.NodeInfo.ContainerRuntimeVersion = rt
		if _, err := f.cs.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, func() bool { // every node's runtime cached, whichever was written last
		info := f.runner.cache.nodeInfo(f.st, []string{"master-1", "edge-01", "edge-02"})
		for name, rt := range runtimes {
			if n, ok := info[name]; !ok || n.Runtime != rt {
				return false
			}
		}
		return true
	})

	f.reconcile(t)
	want := map[string]string{"master-1": f.st.Spec.RuntimeImage, "edge-01": f.st.Spec.UpgradeImage, "edge-02": f.st.Spec.RuntimeImage}
	ids := map[string]string{f.st.Spec.UpgradeImage: "r.local/up@sha256:" + strings.Repeat("b", 64),
		f.st.Spec.RuntimeImage: "r.local/up@sha256:" + strings.Repeat("c", 64)}
	staged := 0
	for _, j := range f.jobs(t) {
		if j.Labels[job.LabelComponent] != job.ComponentStage {
			continue
		}
		staged++
		node := j.Annotations[job.AnnotationNode]
		if got := j.Spec.Template.Spec.Containers[1].Image; got != want[node] || j.Annotations[job.AnnotationUpgradeImage] != got {
			t.Errorf("staging Job of %s pulls %s (annotation %s), want %s", node, got, j.Annotations[job.AnnotationUpgradeImage], want[node])
		}
		// The pull succeeds: the pod reports the images' IDs, the Job completes.
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: j.Name + "-x", Namespace: job.Namespace, Labels: map[string]string{batchv1.JobNameLabel: j.Name}},
			Status: corev1.PodStatus{Phase: corev1.PodSucceeded, ContainerStatuses: []corev1.ContainerStatus{
				{Name: job.ContainerPreprocess, ImageID: "pre@sha256:" + strings.Repeat("a", 64)},
				{Name: job.ContainerUpgrade, ImageID: ids[want[node]]}}}}
		if _, err := f.cs.CoreV1().Pods(job.Namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		j.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}
		if _, err := f.cs.BatchV1().Jobs(job.Namespace).UpdateStatus(ctx, &j, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if staged != 3 {
		t.Fatalf("%d staging Jobs, want 3", staged)
	}
	eventually(t, func() bool {
		obs, err := f.runner.cache.stage.observe(ctx, f.cs, f.st)
		return err == nil && len(obs) == 3 && obs["edge-02"].Phase == upgrade.JobSucceeded
	})

	f.cs.ClearActions()
	st := f.reconcile(t)
	if d := st.Digests; d == nil || d.Upgrade != ids[st.Spec.UpgradeImage] || d.Runtime != ids[st.Spec.RuntimeImage] || len(d.Recorded) != 2 {
		t.Fatalf("digests %+v, want both variants recorded", st.Digests)
	}
	if n := podLists(f); n != 2 {
		t.Errorf("%d staging pod reads to record two variants, want 2", n)
	}
	for _, j := range f.jobs(t) {
		if j.Labels[job.LabelComponent] == job.ComponentNodeUpgrade {
			if got := j.Spec.Template.Spec.Containers[0].Image; got != ids[st.Spec.RuntimeImage] {
				t.Errorf("the master's node Job runs %s, want the runtime variant by digest %s", got, ids[st.Spec.RuntimeImage])
			}
		}
	}
	// Once the cache holds the state with both digests (its watch may lag the write by a
	// reconcile), no staging pod is read again.
	eventually(t, func() bool {
		f.cs.ClearActions()
		f.reconcile(t)
		return podLists(f) == 0
	})
}

func podLists(f *fixture) int {
	n := 0
	for _, a := range f.cs.Actions() {
		if l, ok := a.(k8stesting.ListAction); ok && l.GetResource().Resource == "pods" && strings.Contains(l.GetListRestrictions().Labels.String(), batchv1.JobNameLabel) {
			n++
		}
	}
	return n
}
