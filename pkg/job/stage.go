package job

import (
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// ComponentStage labels the staging Jobs: one per node, pulling the run's images
// before the node's batch (docs/design.md §8).
const ComponentStage = "stage"

// StageName is the staging Job's name of a node in a run, beside the node Job's.
func StageName(runID, node string) string { return "eus" + Name(runID, node)[2:] }

// StageSelector selects the staging Jobs (and their pods) of one run.
func StageSelector(runID string) string {
	return RunSelector(runID) + "," + LabelComponent + "=" + ComponentStage
}

// BuildStage returns the staging Job of one node: a pod pinned to the node that pulls
// the preprocess and upgrade images (IfNotPresent, as the node Job pulls them) and
// runs only `edgeupgrade-node --version` in each, without any privilege, host
// namespace or host mount: nothing on the node changes but its image store. It
// tolerates every taint, as the node Job does, so it lands wherever that one will.
// p.TimeoutSeconds bounds the pull (ImagePullBackOff ends there). It creates nothing.
func BuildStage(p Params, node, pool string) *batchv1.Job {
	labels := map[string]string{
		LabelManagedBy: ManagedBy,
		LabelComponent: ComponentStage,
		LabelRun:       p.RunID,
		LabelNodeHash:  NodeHash(node),
	}
	annotations := map[string]string{AnnotationNode: node, AnnotationPool: pool, AnnotationUpgradeImage: p.UpgradeImage}
	meta := metav1.ObjectMeta{Name: StageName(p.RunID, node), Namespace: Namespace, Labels: labels, Annotations: annotations}
	if p.OwnerUID != "" {
		meta.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: p.OwnerName, UID: p.OwnerUID}}
	}
	spec := corev1.PodSpec{
		NodeName:                      node,
		RestartPolicy:                 corev1.RestartPolicyNever,
		Tolerations:                   []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
		AutomountServiceAccountToken:  ptr.To(false),
		TerminationGracePeriodSeconds: ptr.To[int64](0),
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](65534),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		Containers: []corev1.Container{
			stageContainer(ContainerPreprocess, p.PreprocessImage),
			stageContainer(ContainerUpgrade, p.UpgradeImage),
		},
	}
	return newJob(meta, p.TimeoutSeconds, spec)
}

func stageContainer(name, image string) corev1.Container {
	return corev1.Container{
		Name:            name,
		Image:           image,
		ImagePullPolicy: corev1.PullIfNotPresent,
		Command:         []string{AgentBinary, "--version"},
		SecurityContext: &corev1.SecurityContext{
			Privileged: ptr.To(false), AllowPrivilegeEscalation: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true),
			Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
	}
}
