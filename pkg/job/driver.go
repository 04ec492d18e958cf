package job

import (
	"strconv"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// DriverParams are the inputs of the driver Job and the watchdog CronJob of a run.
type DriverParams struct {
	RunID string
	// Image is the edgeupgrade image: the lean driver binary at DriverBinary.
	Image string
	// Owner is the state ConfigMap; both objects are garbage-collected with it.
	OwnerName string
	OwnerUID  types.UID
	// Nodes is how many nodes the run watches: the driver's memory grows with them
	// (DriverMemory).
	Nodes int
}

// The driver's memory, measured by make bench-driver (docs/bench.md): the lean
// binary's pages and its clients take about driverBaseMemory; every watched node adds
// its Node, Job and pod, trimmed to what the core reads (pkg/runner/trim.go), and the
// garbage collector's headroom (GOGC 50). Peaks measured: 35 MiB at 103 nodes, 52 MiB
// at 1,003, 132 MiB at 5,003; the request is a little above them. The limit leaves
// room for a relist (the informers decode a whole list while the old one is still
// referenced), and GOMEMLIMIT makes the collector work harder before the limit
// rather than the kernel killing the pod at it.
const (
	driverBaseMemory    = 48 << 20
	driverPerNodeMemory = 18 << 10
)

// driverGOGC is the driver's GOGC (the default is 100).
const driverGOGC = "50"

// DriverMemory is the memory request and limit of a driver or watchdog pod for a run
// over nodes, and the GOMEMLIMIT (bytes) the driver runs with.
func DriverMemory(nodes int) (request, limit resource.Quantity, goMemLimit int64) {
	req := int64(driverBaseMemory + max(nodes, 0)*driverPerNodeMemory)
	req = (req + 1<<20 - 1) &^ (1<<20 - 1) // whole MiB
	lim := 2 * req
	return *resource.NewQuantity(req, resource.BinarySI), *resource.NewQuantity(lim, resource.BinarySI), lim * 8 / 10
}

// WatchdogSchedule runs the watchdog every five minutes: a lost driver is replaced,
// and an expired pause cancelled, at most that late.
const WatchdogSchedule = "*/5 * * * *"

// DriverName is the deterministic name of a run's driver Job.
func DriverName(runID string) string { return "eu-" + runID + "-driver" }

// WatchdogName is the deterministic name of a run's watchdog CronJob.
func WatchdogName(runID string) string { return "eu-" + runID + "-watchdog" }

// BuildDriver returns the driver Job of a detached run: `edgeupgrade-driver drive`,
// which reconciles until the run completes, pauses or is cancelled and then exits 0.
// A crashed, OOM-killed or evicted driver pod is replaced by the job controller
// (evictions and lost nodes do not count against backoffLimit), and the new one
// continues from the state ConfigMap. It creates nothing.
func BuildDriver(p DriverParams) *batchv1.Job {
	labels := map[string]string{LabelManagedBy: ManagedBy, LabelComponent: ComponentDriver, LabelRun: p.RunID}
	meta := metav1.ObjectMeta{Name: DriverName(p.RunID), Namespace: Namespace, Labels: labels, OwnerReferences: owner(p)}
	return &batchv1.Job{
		ObjectMeta: meta,
		Spec: batchv1.JobSpec{
			BackoffLimit: ptr.To[int32](6),
			PodFailurePolicy: &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
				Action:          batchv1.PodFailurePolicyActionIgnore,
				OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}},
			}}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       driverPod(p, []string{"drive", "--run", p.RunID}),
			},
		},
	}
}

// BuildWatchdog returns the watchdog CronJob of a detached run: every few minutes
// `edgeupgrade-driver drive --once`, one reconcile pass that recreates the driver
// Job when the run is active and its driver is gone, and cancels a run whose pause
// expired even when nobody runs the plugin. It exists only while the run is
// unfinished. Its pods carry no LabelRun: the expiry they enforce deletes the
// run's pods by that label. It creates nothing.
func BuildWatchdog(p DriverParams) *batchv1.CronJob {
	labels := map[string]string{LabelManagedBy: ManagedBy, LabelComponent: ComponentWatchdog}
	runLabels := map[string]string{LabelManagedBy: ManagedBy, LabelComponent: ComponentWatchdog, LabelRun: p.RunID}
	annotations := map[string]string{AnnotationRun: p.RunID}
	pod := driverPod(p, []string{"drive", "--once", "--run", p.RunID, "--driver-image", p.Image})
	return &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: WatchdogName(p.RunID), Namespace: Namespace, Labels: runLabels, OwnerReferences: owner(p)},
		Spec: batchv1.CronJobSpec{
			Schedule:                   WatchdogSchedule,
			ConcurrencyPolicy:          batchv1.ForbidConcurrent,
			StartingDeadlineSeconds:    ptr.To[int64](240),
			SuccessfulJobsHistoryLimit: ptr.To[int32](1),
			FailedJobsHistoryLimit:     ptr.To[int32](1),
			JobTemplate: batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: annotations},
				Spec: batchv1.JobSpec{
					BackoffLimit:          ptr.To[int32](0), // the next schedule is the retry
					ActiveDeadlineSeconds: ptr.To[int64](240),
					// Deleting the CronJob orphans a running pass (it may be the one
					// deleting it); its Job then goes by itself.
					TTLSecondsAfterFinished: ptr.To[int32](600),
					Template: corev1.PodTemplateSpec{
						ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: annotations},
						Spec:       pod,
					},
				},
			},
		},
	}
}

func owner(p DriverParams) []metav1.OwnerReference {
	if p.OwnerUID == "" {
		return nil
	}
	return []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: p.OwnerName, UID: p.OwnerUID}}
}

// driverPod is the unprivileged pod of the driver and the watchdog (Pod Security
// "restricted"). It prefers nodes that are not edge workers (cloud and
// control-plane nodes, whose taints it tolerates) and nodes without an upgrade pod
// of the run, so it is rarely on a node being upgraded; on a node that goes
// NotReady it is evicted after a minute and replaced.
func driverPod(p DriverParams, args []string) corev1.PodSpec {
	notEdge := corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{
		{Key: "openyurt.io/is-edge-worker", Operator: corev1.NodeSelectorOpNotIn, Values: []string{"true"}},
		{Key: "alibabacloud.com/is-edge-worker", Operator: corev1.NodeSelectorOpNotIn, Values: []string{"true"}},
	}}
	upgrading := &metav1.LabelSelector{MatchLabels: map[string]string{
		LabelManagedBy: ManagedBy, LabelComponent: ComponentNodeUpgrade, LabelRun: p.RunID}}
	memReq, memLim, goMemLimit := DriverMemory(p.Nodes)
	return corev1.PodSpec{
		ServiceAccountName: ServiceAccountDriver,
		RestartPolicy:      corev1.RestartPolicyNever,
		PriorityClassName:  "system-cluster-critical",
		EnableServiceLinks: ptr.To(false),
		Tolerations: []corev1.Toleration{
			{Key: "node-role.kubernetes.io/control-plane", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
			{Key: "node-role.kubernetes.io/master", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
			{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](60)},
			{Key: "node.kubernetes.io/unreachable", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](60)},
		},
		Affinity: &corev1.Affinity{
			NodeAffinity: &corev1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{
				{Weight: 100, Preference: notEdge}}},
			PodAntiAffinity: &corev1.PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{
				{Weight: 50, PodAffinityTerm: corev1.PodAffinityTerm{LabelSelector: upgrading, TopologyKey: corev1.LabelHostname}}}},
		},
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](65532), RunAsGroup: ptr.To[int64](65532),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		Containers: []corev1.Container{{
			Name:            ContainerDriver,
			Image:           p.Image,
			ImagePullPolicy: corev1.PullIfNotPresent,
			Command:         []string{DriverBinary},
			Args:            args,
			Env: []corev1.EnvVar{
				{Name: EnvPodName, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
				{Name: EnvNodeName, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
				{Name: "GOMEMLIMIT", Value: strconv.FormatInt(goMemLimit, 10)},
				// The collector runs at half the default heap growth: the driver's live
				// heap is small and steady (its caches), so this trades a little CPU
				// for a peak about a quarter lower (docs/bench.md).
				{Name: "GOGC", Value: driverGOGC},
			},
			Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: memReq},
				Limits:   corev1.ResourceList{corev1.ResourceMemory: memLim},
			},
			SecurityContext: &corev1.SecurityContext{
				AllowPrivilegeEscalation: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true),
				Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			},
			TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		}},
	}
}
