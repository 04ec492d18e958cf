package job

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// Params are the run-wide inputs of the node-upgrade Job builder.
type Params struct {
	RunID           string
	TargetVersion   string
	PreprocessImage string
	UpgradeImage    string
	TimeoutSeconds  int64
	// Owner is the state ConfigMap; Jobs are garbage-collected with it.
	OwnerName string
	OwnerUID  types.UID
}

// NodeJob describes the Job of one node.
type NodeJob struct {
	Node  string
	Pool  string
	Batch string // batch label value ("3", "m1")
	Role  string // RoleMasterFirst, RoleMaster or RoleWorker
}

// NodeHash is the label-safe hash of a node name.
func NodeHash(node string) string {
	sum := sha256.Sum256([]byte(node))
	return hex.EncodeToString(sum[:])[:16]
}

var nonName = regexp.MustCompile(`[^a-z0-9-]+`)

// Name is the deterministic Job name of a node in a run: the same inputs always give
// the same name, so a retried create finds the existing Job (AlreadyExists = adopt).
// It stays within 63 characters so it can be used as a label value.
func Name(runID, node string) string {
	prefix := strings.Trim(nonName.ReplaceAllString(strings.ToLower(node), "-"), "-")
	if len(prefix) > 24 {
		prefix = strings.TrimRight(prefix[:24], "-")
	}
	return "eu-" + runID + "-" + prefix + "-" + NodeHash(node)[:8]
}

// RunSelector selects every object of one run created by the plugin.
func RunSelector(runID string) string {
	return LabelManagedBy + "=" + ManagedBy + "," + LabelRun + "=" + runID
}

// NodeUpgradeSelector selects the node-upgrade Jobs (and their pods) of one run.
func NodeUpgradeSelector(runID string) string {
	return RunSelector(runID) + "," + LabelComponent + "=" + ComponentNodeUpgrade
}

// Build returns the node-upgrade Job of docs/design.md §5. It creates nothing.
func Build(p Params, n NodeJob) *batchv1.Job {
	role := RoleWorker
	if n.Role != RoleWorker {
		role = RoleMaster
	}
	labels := map[string]string{
		LabelManagedBy: ManagedBy,
		LabelComponent: ComponentNodeUpgrade,
		LabelRun:       p.RunID,
		LabelNodeHash:  NodeHash(n.Node),
		LabelBatch:     n.Batch,
		LabelRole:      role,
	}
	annotations := map[string]string{
		AnnotationNode:          n.Node,
		AnnotationPool:          n.Pool,
		AnnotationTargetVersion: p.TargetVersion,
	}
	meta := metav1.ObjectMeta{Name: Name(p.RunID, n.Node), Namespace: Namespace, Labels: labels, Annotations: annotations}
	if p.OwnerUID != "" {
		meta.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: p.OwnerName, UID: p.OwnerUID}}
	}
	return &batchv1.Job{
		ObjectMeta: meta,
		Spec: batchv1.JobSpec{
			BackoffLimit:          ptr.To[int32](0), // a failure pauses the run; people decide
			ActiveDeadlineSeconds: ptr.To(p.TimeoutSeconds),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: annotations},
				Spec:       podSpec(p, n),
			},
		},
	}
}

func podSpec(p Params, n NodeJob) corev1.PodSpec {
	return corev1.PodSpec{
		NodeName:                      n.Node,
		RestartPolicy:                 corev1.RestartPolicyNever,
		Tolerations:                   []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
		HostPID:                       true,
		HostNetwork:                   true,
		DNSPolicy:                     corev1.DNSClusterFirstWithHostNet,
		PriorityClassName:             "system-node-critical",
		AutomountServiceAccountToken:  ptr.To(false),
		TerminationGracePeriodSeconds: ptr.To[int64](30),
		Volumes: []corev1.Volume{{Name: "host", VolumeSource: corev1.VolumeSource{
			HostPath: &corev1.HostPathVolumeSource{Path: "/", Type: ptr.To(corev1.HostPathDirectory)}}}},
		InitContainers: []corev1.Container{agentContainer(ContainerPreprocess, p.PreprocessImage, p, n)},
		Containers:     []corev1.Container{agentContainer(ContainerUpgrade, p.UpgradeImage, p, n)},
	}
}

func agentContainer(name, image string, p Params, n NodeJob) corev1.Container {
	return corev1.Container{
		Name:                     name,
		Image:                    image,
		ImagePullPolicy:          corev1.PullIfNotPresent,
		Command:                  []string{AgentBinary, name},
		Env:                      agentEnv(p, n),
		SecurityContext:          &corev1.SecurityContext{Privileged: ptr.To(true)},
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		VolumeMounts:             []corev1.VolumeMount{{Name: "host", MountPath: HostRoot}},
	}
}

func agentEnv(p Params, n NodeJob) []corev1.EnvVar {
	return []corev1.EnvVar{
		{Name: EnvTargetVersion, Value: p.TargetVersion},
		{Name: EnvRole, Value: n.Role},
		{Name: EnvRunID, Value: p.RunID},
		{Name: EnvNodeName, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
		{Name: EnvHostRoot, Value: HostRoot},
	}
}
