package runner

import (
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/nodes"
)

// What the informers drop changes nothing the core reads: ToNode, ToJob and ToPod
// give the same before and after trimming, and the bulk (managed fields, images,
// the pod template, the spec of pods) is gone.
func TestTrimKeepsWhatTheCoreReads(t *testing.T) {
	at := metav1.NewTime(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))
	mf := []metav1.ManagedFieldsEntry{{Manager: "kubelet"}, {Manager: "kube-controller-manager", Subresource: "status", Time: &at}}
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "edge-1", ManagedFields: mf, Labels: map[string]string{nodes.LabelOpenYurtPool: "p"}},
		Spec: corev1.NodeSpec{Unschedulable: true, PodCIDR: "10.0.0.0/24"},
		Status: corev1.NodeStatus{NodeInfo: corev1.NodeSystemInfo{KubeletVersion: "v1.35.4", OSImage: "Ubuntu"},
			Images:     []corev1.ContainerImage{{Names: []string{"registry/big:1"}, SizeBytes: 1 << 30}},
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionFalse, LastTransitionTime: at, Message: "kubelet stopped posting"}}}}
	before := nodes.ToNode(n.DeepCopy(), "")
	out, _ := trimNode(n)
	tn := out.(*corev1.Node)
	if got := nodes.ToNode(tn, ""); got != before || !tn.Spec.Unschedulable {
		t.Errorf("node: %+v after trimming, %+v before", got, before)
	}
	if tn.ManagedFields != nil || tn.Status.Images != nil || tn.Spec.PodCIDR != "" || tn.Status.NodeInfo.OSImage != "" {
		t.Errorf("node kept %+v", tn)
	}

	j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "j", ManagedFields: mf},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "upgrade", Image: "u"}}}}},
		Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue,
			Reason: batchv1.JobReasonDeadlineExceeded, Message: "too long", LastTransitionTime: at}}}}
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", ManagedFields: mf, OwnerReferences: []metav1.OwnerReference{{Kind: "DaemonSet", Name: "ds", Controller: new(true)}}},
		Spec: corev1.PodSpec{NodeName: "edge-1", Containers: []corev1.Container{{Name: "agent", Image: "a"}}},
		Status: corev1.PodStatus{Phase: corev1.PodFailed, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "upgrade", Image: "u", ImageID: "sha", RestartCount: 1,
				State:                corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 3, Message: "boom", FinishedAt: at}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{FinishedAt: at}}}}}}
	jobBefore, podBefore := ToJob(j.DeepCopy(), []*corev1.Pod{p.DeepCopy()}), ToPod(p.DeepCopy())
	outJ, _ := trimJob(j)
	outP, _ := trimPod(p)
	tj, tp := outJ.(*batchv1.Job), outP.(*corev1.Pod)
	if got := ToJob(tj, []*corev1.Pod{tp}); got != jobBefore {
		t.Errorf("job: %+v after trimming, %+v before", got, jobBefore)
	}
	if got := ToPod(tp); got != podBefore || !daemonPod(tp) && daemonPod(p) || tp.Spec.NodeName != "edge-1" {
		t.Errorf("pod: %+v after trimming, %+v before", got, podBefore)
	}
	if tj.ManagedFields != nil || len(tj.Spec.Template.Spec.Containers) != 0 || tp.ManagedFields != nil || len(tp.Spec.Containers) != 0 {
		t.Errorf("job or pod kept the bulk: %+v %+v", tj, tp)
	}

	m := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: "j", CreationTimestamp: metav1.NewTime(at.Add(-time.Hour)), ManagedFields: mf}}
	finished := jobFromMeta(m.DeepCopy()).Finished
	outM, _ := trimMeta(m)
	if tm := outM.(*metav1.PartialObjectMetadata); len(tm.ManagedFields) != 1 || jobFromMeta(tm).Finished != finished {
		t.Errorf("metadata: %+v, finish %v", tm.ManagedFields, finished)
	}
	if o, err := trimObject(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{ManagedFields: mf}}); err != nil || o.(*corev1.ConfigMap).ManagedFields != nil {
		t.Errorf("trimObject: %v", err)
	}
}
