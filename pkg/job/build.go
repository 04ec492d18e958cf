package job

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"
	"time"

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
	// RuntimeVersion is the containerd version the agent upgrades the node to before
	// the kubelet ("" for none).
	RuntimeVersion string
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
	env := agentEnv(p.TargetVersion, n.Role, p.RunID)
	if p.RuntimeVersion != "" {
		// Both containers: preprocess backs containerd up, upgrade replaces it.
		env = append(env, corev1.EnvVar{Name: EnvRuntimeVersion, Value: p.RuntimeVersion})
	}
	return newJob(meta, p.TimeoutSeconds, podSpec(n.Node,
		[]corev1.Container{agentContainer(ContainerPreprocess, p.PreprocessImage, env)},
		[]corev1.Container{agentContainer(ContainerUpgrade, p.UpgradeImage, env)}))
}

// CheckParams are the run-wide inputs of the deep-check Job builder.
type CheckParams struct {
	// RunID identifies one `check --deep` (LabelRun of its Jobs and pods).
	RunID string
	// TargetVersion is check's --to; "" when none was given.
	TargetVersion string
	// Image is the node-preprocess image: the agent's check step.
	Image          string
	TimeoutSeconds int64
}

// BuildCheck returns the deep-check Job of one node (`kubectl edgeupgrade check
// --deep`): the pod of the node-upgrade Job, pinned and privileged alike, with one
// container that runs `edgeupgrade-node check` and writes a hostcheck.Result as its
// termination message. role is RoleMaster or RoleWorker. It creates nothing.
func BuildCheck(p CheckParams, node, role string) *batchv1.Job {
	labels := map[string]string{
		LabelManagedBy: ManagedBy,
		LabelComponent: ComponentDeepCheck,
		LabelRun:       p.RunID,
		LabelNodeHash:  NodeHash(node),
		LabelRole:      role,
	}
	annotations := map[string]string{AnnotationNode: node}
	if p.TargetVersion != "" {
		annotations[AnnotationTargetVersion] = p.TargetVersion
	}
	meta := metav1.ObjectMeta{Name: Name(p.RunID, node), Namespace: Namespace, Labels: labels, Annotations: annotations}
	// Each agent step gets half the Job's deadline, so the agent reports a step that
	// hangs before the deadline kills the pod.
	env := append(agentEnv(p.TargetVersion, role, p.RunID),
		corev1.EnvVar{Name: EnvStepTimeout, Value: (time.Duration(p.TimeoutSeconds) * time.Second / 2).String()})
	return newJob(meta, p.TimeoutSeconds, podSpec(node, nil, []corev1.Container{agentContainer(ContainerCheck, p.Image, env)}))
}

// newJob wraps a node's pod in a Job that runs it once: a failure is a result for a
// person to read, never retried (backoffLimit 0), within timeoutSeconds.
func newJob(meta metav1.ObjectMeta, timeoutSeconds int64, spec corev1.PodSpec) *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: meta,
		Spec: batchv1.JobSpec{
			BackoffLimit:          ptr.To[int32](0),
			ActiveDeadlineSeconds: ptr.To(timeoutSeconds),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: meta.Labels, Annotations: meta.Annotations},
				Spec:       spec,
			},
		},
	}
}

// podSpec is the pod of every Job the plugin runs on a node: pinned to it, tolerating
// every taint, in the host's PID and network namespaces, with the host's / at HostRoot
// (docs/design.md §5).
func podSpec(node string, initContainers, containers []corev1.Container) corev1.PodSpec {
	return corev1.PodSpec{
		NodeName:                      node,
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
		InitContainers: initContainers,
		Containers:     containers,
	}
}

// agentContainer runs the agent's step of the same name (`edgeupgrade-node NAME`),
// privileged, with the host mounted.
func agentContainer(name, image string, env []corev1.EnvVar) corev1.Container {
	return corev1.Container{
		Name:                     name,
		Image:                    image,
		ImagePullPolicy:          corev1.PullIfNotPresent,
		Command:                  []string{AgentBinary, name},
		Env:                      env,
		SecurityContext:          &corev1.SecurityContext{Privileged: ptr.To(true)},
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		VolumeMounts:             []corev1.VolumeMount{{Name: "host", MountPath: HostRoot}},
	}
}

func agentEnv(target, role, runID string) []corev1.EnvVar {
	return []corev1.EnvVar{
		{Name: EnvTargetVersion, Value: target},
		{Name: EnvRole, Value: role},
		{Name: EnvRunID, Value: runID},
		{Name: EnvNodeName, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
		{Name: EnvHostRoot, Value: HostRoot},
	}
}
