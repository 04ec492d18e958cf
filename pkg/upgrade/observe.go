package upgrade

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Node is what the core needs to know of one in-scope node.
type Node struct {
	Name    string
	Role    Role
	Pool    string
	Version string // status.nodeInfo.kubeletVersion
	// Runtime is status.nodeInfo.containerRuntimeVersion ("containerd://1.6.20"): which
	// upgrade image the node needs (NodeVariant).
	Runtime string
	Ready   bool
	// NotReadySince is when a NotReady node's Ready condition last changed (zero when
	// Ready or unknown).
	NotReadySince time.Time
}

// JobPhase is the coarse state of a node-upgrade Job.
type JobPhase string

const (
	JobActive    JobPhase = "Active"
	JobSucceeded JobPhase = "Succeeded"
	JobFailed    JobPhase = "Failed"
)

// Job is this run's node-upgrade Job for one node.
type Job struct {
	Name  string
	Node  string
	Batch string
	Pool  string
	Role  Role
	Phase JobPhase
	// Reason is the Job's failure reason (DeadlineExceeded, BackoffLimitExceeded).
	Reason string
	// Container and Message describe the failure, from the failed pod.
	Container string
	Message   string
	// FailedPods counts failed pods of this Job still present in the cluster.
	FailedPods int
	Created    time.Time
	Finished   time.Time
	// Started: the pod was seen running a container (the node began its upgrade).
	// False while the pod is Pending with no container started.
	Started bool
	// Progress is how far the upgrade got as the API server last heard from the node:
	// the container running and since when ("upgrade running since 10:02:03").
	Progress string
	// Skipped marks a failed Job the operator skipped (resume --skip-failed).
	Skipped bool
}

// Observation is what an adapter saw of the cluster for one reconcile.
type Observation struct {
	// Nodes are the nodes in scope (the run's selector applied).
	Nodes []Node
	// Jobs are this run's node-upgrade Jobs, by node name.
	Jobs map[string]Job
	// Pods are the DaemonSet pods on the nodes of a batch whose health gate runs
	// (GateNodes), by node name; other nodes' pods are not observed.
	Pods map[string][]Pod
	// Staging are this run's staging Jobs, by node name (stage.go).
	Staging map[string]StageJob
}

// Pod is the health of one DaemonSet pod, for the gate (docs/design.md §2.13).
type Pod struct {
	Name  string // namespace/name
	Ready bool
	// RestartedAt is when a container of the pod last terminated and was restarted
	// (zero if none ever did).
	RestartedAt time.Time
}

// VersionGrace is how long a node may keep reporting its old kubelet version after
// its Job succeeded (the kubelet re-registers after the restart) before that is a
// failure.
const VersionGrace = 2 * time.Minute

// BatchLabel is the value of the Job batch label for a batch.
func BatchLabel(role Role, index int) string {
	if role == RoleMaster {
		return "m" + strconv.Itoa(index)
	}
	return strconv.Itoa(index)
}

// MarshalJSON encodes a Duration as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON decodes a Go duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string like \"15m\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}
