package runner

import (
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The informers keep only what the core and the wake-up filters read (ToNode, ToJob,
// progress, ToPod). At 5,000 nodes the driver holds 5,000 Nodes, Jobs and pods: in
// full they are most of its memory (managed fields, node images and capacity, the
// Jobs' pod template). Objects of a cache are never written back (cordon reads the
// node afresh and patches), so dropping fields here cannot clobber anything.

// trimObject drops managed fields from any object: no reader of the caches uses them.
// It is the transform of the caches whose kind needs nothing more specific.
func trimObject(obj any) (any, error) {
	if a, err := meta.Accessor(obj); err == nil {
		a.SetManagedFields(nil)
	}
	return obj, nil
}

// trimNode keeps a Node's labels, annotations, cordon, taints, kubelet and runtime
// versions and conditions (ToNode: role, pool, versions, Ready and since when).
func trimNode(obj any) (any, error) {
	n, ok := obj.(*corev1.Node)
	if !ok {
		return trimObject(obj)
	}
	n.ManagedFields = nil
	n.Spec = corev1.NodeSpec{Unschedulable: n.Spec.Unschedulable, Taints: n.Spec.Taints, ProviderID: n.Spec.ProviderID}
	n.Status = corev1.NodeStatus{
		Conditions: n.Status.Conditions,
		NodeInfo: corev1.NodeSystemInfo{KubeletVersion: n.Status.NodeInfo.KubeletVersion,
			ContainerRuntimeVersion: n.Status.NodeInfo.ContainerRuntimeVersion},
	}
	for i := range n.Status.Conditions {
		n.Status.Conditions[i].Message = "" // kubelet prose, rewritten on changes only
	}
	return n, nil
}

// trimJob keeps a Job's metadata and status: ToJob reads nothing of the spec, and the
// pod template is most of a node-upgrade Job.
func trimJob(obj any) (any, error) {
	j, ok := obj.(*batchv1.Job)
	if !ok {
		return trimObject(obj)
	}
	j.ManagedFields = nil
	j.Spec = batchv1.JobSpec{}
	j.Status.UncountedTerminatedPods = nil
	return j, nil
}

// trimPod keeps a pod's metadata, node and status (ToJob's progress and failure
// message, ToPod's readiness and restarts), without the spec.
func trimPod(obj any) (any, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return trimObject(obj)
	}
	p.ManagedFields = nil
	p.Spec = corev1.PodSpec{NodeName: p.Spec.NodeName}
	p.Status.PodIPs, p.Status.HostIPs, p.Status.ResourceClaimStatuses = nil, nil, nil
	for _, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
		for i := range list {
			list[i].Image, list[i].ImageID, list[i].ContainerID = "", "", ""
			list[i].VolumeMounts, list[i].AllocatedResources, list[i].Resources = nil, nil, nil
		}
	}
	return p, nil
}

// trimMeta drops managed fields from metadata-only objects except the status
// subresource's last write time, which jobFromMeta reads as a Job's finish time.
func trimMeta(obj any) (any, error) {
	m, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok {
		return trimObject(obj)
	}
	var keep []metav1.ManagedFieldsEntry
	for _, f := range m.ManagedFields {
		if f.Subresource == "status" && f.Time != nil {
			keep = append(keep, metav1.ManagedFieldsEntry{Subresource: f.Subresource, Time: f.Time})
		}
	}
	m.ManagedFields = keep
	return m, nil
}
