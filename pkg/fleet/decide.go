package fleet

import (
	"fmt"
	"strings"
	"time"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// Phase is where one cluster of the fleet is, derived from its state ConfigMap.
type Phase string

const (
	// Pending: no run to the target yet, and nodes below it.
	Pending Phase = "Pending"
	// Running: a run to the target is active.
	Running Phase = "Running"
	// Paused: the run to the target is pausing or paused; the fleet starts nothing new.
	Paused Phase = "Paused"
	// Failed: the run to the target ended without completing (Incomplete, Cancelled),
	// or another version's run is active, or the cluster cannot start; the fleet starts
	// nothing new.
	Failed Phase = "Failed"
	// Done: the run to the target completed, or every node is already at the target.
	Done Phase = "Done"
	// Unreachable: the cluster did not answer in time; it counts as not done.
	Unreachable Phase = "Unreachable"
)

// Observed is what one read of a cluster found.
type Observed struct {
	// Err is set when the cluster could not be read (Unreachable).
	Err string
	// Run is the cluster's latest run (nil: none).
	Run *upgrade.State
	// Oldest is the oldest kubelet version of the cluster's nodes ("" when not read),
	// and AtTarget whether every node is at or above the target.
	Oldest   string
	AtTarget bool
	// StartErr is set when this process could not start the cluster (its pre-check
	// failed, say): a cause to stop, reported until the next invocation.
	StartErr string
}

// ClusterStatus is one cluster's place in the fleet.
type ClusterStatus struct {
	Name   string `json:"name"`
	Wave   int    `json:"wave"`
	Phase  Phase  `json:"phase"`
	Detail string `json:"detail,omitempty"`
	// Version is the oldest kubelet version, RunID and RunPhase the latest run's.
	Version  string     `json:"version,omitempty"`
	RunID    string     `json:"runID,omitempty"`
	RunPhase string     `json:"runPhase,omitempty"`
	Started  *time.Time `json:"startedAt,omitempty"`
	Finished *time.Time `json:"finishedAt,omitempty"`
}

// Decision is the fleet's state and what to do next.
type Decision struct {
	Clusters []ClusterStatus `json:"clusters"`
	// Wave is the index of the first wave not done (len(waves) when all are).
	Wave int `json:"wave"`
	// Start lists the clusters to start now, in file order.
	Start []string `json:"start,omitempty"`
	// Stopped lists the clusters that stop the fleet (paused or failed).
	Stopped []string `json:"stopped,omitempty"`
	// SoakUntil is set while the previous wave's soak holds the current one.
	SoakUntil *time.Time `json:"soakUntil,omitempty"`
	Complete  bool       `json:"complete"`
}

// PhaseOf derives a cluster's phase from what was observed.
func PhaseOf(o Observed, target string) (Phase, string) {
	if o.Err != "" {
		return Unreachable, o.Err
	}
	if o.StartErr != "" {
		return Failed, o.StartErr
	}
	r := o.Run
	if r != nil && r.Spec.TargetVersion == target {
		return runPhase(r)
	}
	if r != nil && !r.Phase.Terminal() {
		return Failed, fmt.Sprintf("run %s to %s is %s: finish or cancel it first", r.RunID, r.Spec.TargetVersion, r.Phase)
	}
	if o.AtTarget {
		return Done, "every node at " + target
	}
	if o.Oldest != "" {
		return Pending, "oldest node at " + o.Oldest
	}
	return Pending, ""
}

func runPhase(r *upgrade.State) (Phase, string) {
	switch {
	case r.Phase == upgrade.PhaseCompleted:
		return Done, "run " + r.RunID + " completed"
	case r.Phase.Terminal():
		return Failed, fmt.Sprintf("run %s ended %s%s", r.RunID, r.Phase, suffix(r.EndReason))
	case r.Pause != nil:
		return Paused, r.Pause.Reason + lastFailure(r)
	}
	return Running, fmt.Sprintf("run %s: %s", r.RunID, r.Phase)
}

func suffix(s string) string {
	if s == "" {
		return ""
	}
	return ": " + s
}

// lastFailure adds the latest node failure to a pause reason that does not name it.
func lastFailure(r *upgrade.State) string {
	if len(r.Failures) == 0 {
		return ""
	}
	f := r.Failures[len(r.Failures)-1]
	if strings.Contains(r.Pause.Reason, f.Message) {
		return "" // the reason says it already
	}
	return fmt.Sprintf(" (last failure: node %s: %s)", f.Node, f.Message)
}

// Decide says where the fleet is and which clusters to start now. obs is indexed like
// targets. Rules: waves go in order, a wave starts once every cluster of the previous
// ones is Done and the previous wave's soak (from its last run's end) has passed; at
// most Limit() clusters of a wave run at once, an unreachable one holding a slot (it
// may be running); any Paused or Failed cluster stops the fleet from starting
// anything.
func Decide(f *File, targets []Target, obs []Observed, now time.Time) Decision {
	d := Decision{Wave: len(f.Spec.Waves)}
	byWave := make([][]int, len(f.Spec.Waves))
	for i, t := range targets {
		c := ClusterStatus{Name: t.Name, Wave: t.Wave}
		c.Phase, c.Detail = PhaseOf(obs[i], f.Spec.TargetVersion)
		c.Version = obs[i].Oldest
		if r := obs[i].Run; r != nil {
			c.RunID, c.RunPhase = r.RunID, string(r.Phase)
			if r.Pause != nil && !r.Phase.Terminal() {
				c.RunPhase = "Paused"
			}
			c.Started, c.Finished = &r.StartedAt, r.FinishedAt
			if c.Version == "" && r.Spec.TargetVersion == f.Spec.TargetVersion {
				c.Version = r.Spec.FromVersion // the version the run started from
			}
		}
		if c.Phase == Paused || c.Phase == Failed {
			d.Stopped = append(d.Stopped, c.Name)
		}
		d.Clusters = append(d.Clusters, c)
		byWave[t.Wave] = append(byWave[t.Wave], i)
	}
	var prevEnd time.Time
	for w, idx := range byWave {
		if allDone(d.Clusters, idx) {
			prevEnd = lastEnd(d.Clusters, idx)
			continue
		}
		d.Wave = w
		if w > 0 && f.Spec.Waves[w-1].Soak.Duration > 0 {
			until := prevEnd.Add(f.Spec.Waves[w-1].Soak.Duration)
			if now.Before(until) {
				d.SoakUntil = &until
				return d
			}
		}
		if len(d.Stopped) == 0 {
			d.Start = startable(d.Clusters, idx, f.Spec.Waves[w].Limit())
		}
		return d
	}
	d.Complete = true
	return d
}

func allDone(cs []ClusterStatus, idx []int) bool {
	for _, i := range idx {
		if cs[i].Phase != Done {
			return false
		}
	}
	return true
}

// lastEnd is when the wave's last run finished (zero when none ran: already at target).
func lastEnd(cs []ClusterStatus, idx []int) time.Time {
	var t time.Time
	for _, i := range idx {
		if f := cs[i].Finished; f != nil && f.After(t) {
			t = *f
		}
	}
	return t
}

// startable picks the wave's pending clusters that fit in its free slots.
func startable(cs []ClusterStatus, idx []int, limit int) []string {
	busy := 0
	for _, i := range idx {
		if cs[i].Phase == Running || cs[i].Phase == Unreachable {
			busy++
		}
	}
	var out []string
	for _, i := range idx {
		if busy >= limit {
			break
		}
		if cs[i].Phase == Pending {
			out = append(out, cs[i].Name)
			busy++
		}
	}
	return out
}
