// Package view shows a driven run to the operator: a live view redrawn in place on a
// terminal (start --wait, resume --wait, status --watch), one line per batch and per
// phase change elsewhere (CI logs, pipes, --no-tty), or one JSON status object per
// change (-o json). All three are fed the same Snapshot after every reconcile.
package view

import (
	"sort"
	"time"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/status"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// Snapshot is what the view shows at one moment: the status contract plus what only a
// live view needs (how long each node in flight has been running, the pools' order).
type Snapshot struct {
	Status *status.Status
	// InFlight are the nodes of the current batch whose Job runs, longest-running first.
	InFlight []Running
	Pools    Pools
	Now      time.Time
}

// Running is a node whose upgrade Job is running.
type Running struct {
	Node  string
	Since time.Time
}

// Pools are the worker pools in upgrade order: those finished, the one being upgraded
// and those left.
type Pools struct {
	Done    []string
	Current string
	Left    []string
}

// NewSnapshot builds a snapshot from one reconcile's state and observation.
func NewSnapshot(st upgrade.State, obs upgrade.Observation, events []status.Event, now time.Time) Snapshot {
	s := Snapshot{Status: status.Build(st, obs, events, now), Now: now}
	if b := st.Current; b != nil {
		for _, n := range b.Nodes {
			if j, ok := obs.Jobs[n]; ok && j.Phase == upgrade.JobActive {
				s.InFlight = append(s.InFlight, Running{Node: n, Since: j.Created})
			}
		}
		sort.SliceStable(s.InFlight, func(i, j int) bool {
			a, b := s.InFlight[i], s.InFlight[j]
			if !a.Since.Equal(b.Since) {
				return a.Since.Before(b.Since)
			}
			return a.Node < b.Node
		})
	}
	s.Pools = pools(st, obs)
	return s
}

// pools sorts the worker pools in scope into done, current and left. A pool is done
// when none of its workers waits for a batch or is in one.
func pools(st upgrade.State, obs upgrade.Observation) Pools {
	if !upgrade.InMode(st.Spec.Mode, upgrade.RoleWorker) {
		return Pools{}
	}
	open := map[string]bool{}
	var workers []upgrade.Node
	deferred := map[string]bool{}
	for _, n := range upgrade.Deferred(st, obs) {
		deferred[n] = true
	}
	upgraded := status.UpgradedMemo(st.Spec.TargetVersion)
	for _, n := range obs.Nodes {
		if n.Role != upgrade.RoleWorker {
			continue
		}
		workers = append(workers, n)
		j, hasJob := obs.Jobs[n.Name]
		done := upgraded(n.Version) || (hasJob && j.Phase == upgrade.JobFailed) || deferred[n.Name]
		if !done {
			open[n.Pool] = true
		}
	}
	var p Pools
	current := ""
	if b := st.Current; b != nil && b.Role == upgrade.RoleWorker {
		current, p.Current = b.Pool, poolName(b.Pool)
	}
	hasCurrent := p.Current != ""
	for _, name := range upgrade.PoolOrder(workers) {
		switch {
		case hasCurrent && name == current:
		case !open[name]:
			p.Done = append(p.Done, poolName(name))
		case !hasCurrent && st.Phase == upgrade.PhaseNodes && !st.Phase.Terminal():
			p.Current, hasCurrent, current = poolName(name), true, name
		default:
			p.Left = append(p.Left, poolName(name))
		}
	}
	return p
}

func poolName(p string) string {
	if p == upgrade.NoPool {
		return "(none)"
	}
	return p
}
