// Package job builds the Jobs the plugin runs on a node: the node-upgrade Job (Build)
// and the deep-check Job of `check --deep` (BuildCheck), from one pod spec and one node
// hash. This file is the contract the Jobs share with the node agent, the lab
// simulator and the pre-check: names, labels, annotations, container names and
// environment variables. Change it with care: a running upgrade started by an older
// plugin relies on it, and testdata/*.yaml pins both Jobs.
package job

const (
	// Namespace holds the state ConfigMap and every Job the plugin creates.
	Namespace = "kube-upgrade"

	// ManagedBy is the value of LabelManagedBy on everything the plugin creates.
	ManagedBy = "kubectl-edgeupgrade"

	LabelManagedBy = "app.kubernetes.io/managed-by"
	// LabelComponent tells node-upgrade Jobs from deep-check Jobs.
	LabelComponent = "app.kubernetes.io/component"
	// LabelRun carries the run id; every Job, Pod and Event of a run has it.
	LabelRun = "edgeupgrade.io/run"
	// LabelNodeHash is a label-safe hash of the node name (names can exceed 63 chars).
	LabelNodeHash = "edgeupgrade.io/node-hash"
	// LabelBatch is the batch index (masters use their serial: "m1", "m2", ...).
	LabelBatch = "edgeupgrade.io/batch"
	// LabelRole is "master" or "worker".
	LabelRole = "edgeupgrade.io/role"

	// AnnotationNode is the full node name.
	AnnotationNode = "edgeupgrade.io/node"
	// AnnotationPool is the node pool the node was upgraded with.
	AnnotationPool = "edgeupgrade.io/pool"
	// AnnotationTargetVersion is the kubelet version the Job upgrades to (e.g. v1.36.3).
	AnnotationTargetVersion = "edgeupgrade.io/target-version"
	// AnnotationSkipped ("true") marks a failed node's Job that the operator skipped
	// (resume --skip-failed): the node is left behind by the run, not retried.
	AnnotationSkipped = "edgeupgrade.io/skipped"
	// AnnotationUpgradeImage is the upgrade image a staging Job pulls, as the run
	// named it: which variant (base, or with containerd) its pod reports the ID of.
	AnnotationUpgradeImage = "edgeupgrade.io/upgrade-image"

	ComponentNodeUpgrade = "node-upgrade"
	ComponentDeepCheck   = "deep-check"

	// ContainerPreprocess is the init container (node-preprocess image).
	ContainerPreprocess = "preprocess"
	// ContainerUpgrade is the main container (upgrade image).
	ContainerUpgrade = "upgrade"
	// ContainerCheck is the only container of a deep-check Job.
	ContainerCheck = "check"

	// HostRoot is where the host's / is mounted in the containers.
	HostRoot = "/host"

	// Environment of the agent containers.
	EnvTargetVersion = "EDGEUPGRADE_TARGET_VERSION"
	EnvRole          = "EDGEUPGRADE_ROLE" // master-first | master | worker
	EnvRunID         = "EDGEUPGRADE_RUN_ID"
	EnvNodeName      = "EDGEUPGRADE_NODE_NAME"
	EnvHostRoot      = "EDGEUPGRADE_HOST_ROOT"
	EnvStepTimeout   = "EDGEUPGRADE_STEP_TIMEOUT" // Go duration, per agent step
	// EnvRuntimeVersion: the containerd version the node is upgraded to before the
	// kubelet (unset: the runtime is left alone).
	EnvRuntimeVersion = "EDGEUPGRADE_RUNTIME_VERSION"

	RoleMasterFirst = "master-first"
	RoleMaster      = "master"
	RoleWorker      = "worker"

	// AgentBinary is the agent's path inside both images.
	AgentBinary = "/edgeupgrade-node"
)

// The in-cluster driver of a detached run (docs/design.md §1): a Job running the lean
// driver binary (the plugin's `drive`) under its own ServiceAccount, a watchdog CronJob that replaces
// a lost driver and enforces pause expiry, and the Lease of the driver that acts.
const (
	ComponentDriver   = "driver"
	ComponentWatchdog = "watchdog"

	// ServiceAccountDriver runs the driver and the watchdog (manifests/rbac-driver.yaml).
	ServiceAccountDriver = "edgeupgrade-driver"
	// LeaseName is the coordination Lease held by the driver that acts on the run.
	LeaseName = "edgeupgrade-driver"
	// ContainerDriver is the only container of the driver and watchdog pods.
	ContainerDriver = "driver"
	// DriverBinary is the lean driver's path inside the edgeupgrade image
	// (cmd/edgeupgrade-driver: the plugin's `drive`, and nothing else).
	DriverBinary = "/edgeupgrade-driver"

	// AnnotationRun names the run of a watchdog pod, which carries no LabelRun: the
	// expiry it enforces deletes every pod of the run by that label.
	AnnotationRun = "edgeupgrade.io/run"

	// Environment of the driver container (downward API).
	EnvPodName = "EDGEUPGRADE_POD_NAME"
	// The driver's node is in EnvNodeName, as the agent's is.
)
