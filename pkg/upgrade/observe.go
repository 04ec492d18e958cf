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
	Ready   bool
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
}

// Observation is what an adapter saw of the cluster for one reconcile.
type Observation struct {
	// Nodes are the nodes in scope (the run's selector applied).
	Nodes []Node
	// Jobs are this run's node-upgrade Jobs, by node name.
	Jobs map[string]Job
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
