package upgrade

import (
	"fmt"
	"slices"
)

// PlannedBatch is one batch of a dry-run plan.
type PlannedBatch struct {
	Index int      `json:"index"`
	Role  Role     `json:"role"`
	Pool  string   `json:"pool"`
	Nodes []string `json:"nodes"`
}

// Plan is what a run would do if every node upgraded at once and nothing changed.
type Plan struct {
	Batches  []PlannedBatch `json:"batches"`
	Deferred []string       `json:"deferred,omitempty"`
	// Blocked is set when the run would pause (e.g. a NotReady control-plane node).
	Blocked string `json:"blocked,omitempty"`
	// Gate is the health gate each batch and master passes before the next starts,
	// with the soak (docs/design.md §2.13).
	Gate string `json:"gate"`
	// MaxDeferred is how many offline workers the run defers before it pauses.
	MaxDeferred int `json:"maxDeferred"`
}

// GateText describes the health gate and soak of a run, for plan and status.
func GateText(sp Spec) string {
	g := fmt.Sprintf("after each master and batch: its nodes Ready at the target, their DaemonSet pods Ready with no container restarted (waits up to --offline-grace %s)",
		OfflineGraceOf(sp))
	if sp.Soak.Duration > 0 {
		g += fmt.Sprintf(", holding for --soak %s", sp.Soak.Duration)
	}
	return g
}

// PlanRun simulates a whole run with Step itself, every Job succeeding at once,
// so the plan is exactly what the real run does on an unchanging cluster.
func PlanRun(first State, nodes []Node) Plan {
	s := first
	// Staging only delays batches (every pull succeeds at once here): the plan is the
	// same without it.
	s.Spec.Stage = false
	obs := Observation{Nodes: slices.Clone(nodes), Jobs: map[string]Job{}}
	pos := make(map[string]int, len(nodes))
	for i, n := range nodes {
		pos[n.Name] = i
	}
	var p Plan
	now := s.StartedAt
	for range 4 * (len(nodes) + 4) {
		var acts []Action
		s, acts, _ = Step(s, obs, Tick{}, now) // a Tick is never refused
		for _, a := range acts {
			if a.Kind != CreateJobs {
				continue
			}
			b := a.Batch
			p.Batches = append(p.Batches, PlannedBatch{Index: b.Index, Role: b.Role, Pool: b.Pool, Nodes: slices.Clone(b.Nodes)})
			for _, n := range b.Nodes {
				obs.Jobs[n] = Job{Name: n, Node: n, Phase: JobSucceeded, Finished: now}
				obs.Nodes[pos[n]].Version = s.Spec.TargetVersion
			}
		}
		if s.Phase.Terminal() || s.Pause != nil {
			break
		}
		if s.Current.Gating() {
			now = now.Add(s.Spec.Soak.Duration) // the soak passes; the gate holds on a healthy cluster
		}
	}
	if s.Pause != nil {
		p.Blocked = s.Pause.Reason
	}
	p.Deferred = Deferred(s, obs)
	p.Gate = GateText(s.Spec)
	p.MaxDeferred = MaxDeferredOf(s.Spec, s.Workers)
	return p
}
