package upgrade

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/internal/words"
)

// Defaults of the edge flags (docs/design.md §6).
const (
	// DefaultOfflineGrace covers a kubelet restart and its re-registration, with room
	// for a slow edge link.
	DefaultOfflineGrace = 5 * time.Minute
	// DefaultMaxDeferred: more offline workers than this is systemic, not an edge node
	// having a bad day.
	DefaultMaxDeferred = "20%"
)

// OfflineGraceOf is the run's offline grace (the default for states written before it).
func OfflineGraceOf(sp Spec) time.Duration {
	if sp.OfflineGrace.Duration > 0 {
		return sp.OfflineGrace.Duration
	}
	return DefaultOfflineGrace
}

// MaxDeferredOf is the number of offline workers the run defers before it pauses: a
// count, or a percentage of the workers in scope at start rounded up (at least 1).
func MaxDeferredOf(sp Spec, workers int) int {
	v := sp.MaxDeferred
	if v == "" {
		v = DefaultMaxDeferred
	}
	n, pct, _ := ParseMaxDeferred(v)
	if !pct {
		return n
	}
	return max(1, int(math.Ceil(float64(workers)*float64(n)/100)))
}

// ParseMaxDeferred reads --max-deferred: a count ("5") or a percentage ("20%").
func ParseMaxDeferred(v string) (n int, pct bool, err error) {
	s, pct := strings.CutSuffix(strings.TrimSpace(v), "%")
	n, err = strconv.Atoi(s)
	if err != nil || n < 0 || (pct && n > 100) {
		return 0, false, fmt.Errorf("--max-deferred %q: want a count such as 5 or a percentage such as 20%%", v)
	}
	return n, pct, nil
}

// watchOffline handles a node of the batch in flight whose Job is running while the
// node is NotReady. Before its upgrade started the node is deferred, not blamed: its
// Job is deleted and it joins a later batch once it is back. After, it is reported
// once, and after the offline grace it is a failure that pauses the run, naming the
// node, since when it is NotReady and how far its upgrade got.
func watchOffline(s *State, t *batchTally, node Node, job Job, now time.Time) []Action {
	b := s.Current
	if !job.Started {
		t.deferred = append(t.deferred, node.Name)
		return nil
	}
	t.inFlight = append(t.inFlight, node.Name)
	var acts []Action
	since := offlineSince(b, node, job)
	if i := markOf(b, node.Name); i >= 0 {
		b.Offline[i].Since = since
	} else {
		b.Offline = append(b.Offline, OfflineMark{Node: node.Name, Since: since})
		acts = append(acts, emit(Warning, ReasonNodeNotReady, node.Name, fmt.Sprintf(
			"node %s NotReady since %s while its upgrade runs (for %s); the run pauses if it is not back within --offline-grace %s",
			node.Name, stamp(since), round(now.Sub(job.Created)), OfflineGraceOf(s.Spec))))
	}
	if now.Sub(since) <= OfflineGraceOf(s.Spec) {
		return acts
	}
	job.Reason = "NodeNotReady"
	// The failure now holds the node (Batch.Failed): its mark goes, so that a batch
	// keeps one list of names or the other, never both (the state's size bound).
	b.Offline = slices.DeleteFunc(b.Offline, func(m OfflineMark) bool { return m.Node == node.Name })
	return append(acts, recordFailure(s, job, "", OfflineMessage(node, job, since, s.Spec, now), now)...)
}

// offlineSince is since when a node of the batch is NotReady: the earlier of what the
// node says and what this run saw before.
func offlineSince(b *Batch, node Node, job Job) time.Time {
	since := node.NotReadySince
	if since.IsZero() {
		since = job.Created // unknown: at the latest since the Job, as far as this run knows
	}
	if i := markOf(b, node.Name); i >= 0 && b.Offline[i].Since.Before(since) {
		since = b.Offline[i].Since
	}
	return since
}

func markOf(b *Batch, node string) int {
	return slices.IndexFunc(b.Offline, func(m OfflineMark) bool { return m.Node == node })
}

// backOnline forgets the offline marks of the nodes of the batch that are Ready again.
func backOnline(b *Batch, nodes map[string]Node) {
	if len(b.Offline) == 0 {
		return
	}
	b.Offline = slices.DeleteFunc(b.Offline, func(m OfflineMark) bool {
		n, ok := nodes[m.Node]
		return ok && n.Ready
	})
}

// OfflineMessage says that a node went offline during its upgrade and how far it got.
func OfflineMessage(node Node, job Job, since time.Time, sp Spec, now time.Time) string {
	progress := job.Progress
	if progress == "" {
		progress = "no step reported"
	}
	return fmt.Sprintf("NotReady since %s (%s, longer than --offline-grace %s) while its upgrade ran (started %s, %s ago); last reported: %s; "+
		"bring the node back (its upgrade then finishes or rolls back) and resume, or resume --skip-failed to leave it behind",
		stamp(since), round(now.Sub(since)), OfflineGraceOf(sp), stamp(job.Created), round(now.Sub(job.Created)), progress)
}

// deferOffline drops from the batch the nodes that went offline before their upgrade
// started, and deletes their Jobs (without waiting: an unreachable node's pod may
// linger until it is back, and it never starts a pod marked for deletion).
func deferOffline(s *State, nodes []string) []Action {
	if len(nodes) == 0 {
		return nil
	}
	b := s.Current
	b.Nodes = slices.DeleteFunc(b.Nodes, func(n string) bool { return slices.Contains(nodes, n) })
	b.Offline = slices.DeleteFunc(b.Offline, func(m OfflineMark) bool { return slices.Contains(nodes, m.Node) })
	acts := []Action{{Kind: DeferJobs, Nodes: slices.Clone(nodes)}}
	if s.Spec.Drain {
		acts = append(acts, Action{Kind: Uncordon, Nodes: slices.Clone(nodes)})
	}
	acts = append(acts, emit(Warning, ReasonNodesDeferred, "", fmt.Sprintf(
		"%s NotReady before %s upgrade started: deferred (offline), upgraded in a later batch if Ready again before the run ends: %s",
		words.Plural(len(nodes), "node", "nodes"), words.Plural(len(nodes), "its", "their"), words.List(nodes, 10))))
	if len(b.Nodes) == 0 {
		s.Current = nil
	}
	return acts
}

// boundDeferred pauses the run when more workers are offline than --max-deferred
// allows (or than the operator accepted by resuming): something systemic.
func boundDeferred(s *State, obs Observation, now time.Time) []Action {
	d := Deferred(*s, obs)
	bound := max(MaxDeferredOf(s.Spec, s.Workers), s.DeferredAccepted)
	if len(d) <= bound {
		return nil
	}
	msg := fmt.Sprintf("%d nodes offline (NotReady), more than --max-deferred allows (%d): %s; something systemic? "+
		"bring them back and resume, or resume to accept %d offline nodes and go on",
		len(d), bound, words.List(d, 10), len(d))
	s.Pause = &Pause{Reason: msg, Since: now, ByError: true}
	return []Action{emit(Warning, ReasonPaused, "", "upgrade paused automatically: "+msg)}
}

// GateNodes lists the nodes whose DaemonSet pods the health gate needs: those of the
// current batch once no Job of it is running (nil otherwise). Adapters observe the
// pods of these nodes only (Observation.Pods).
func GateNodes(s State, obs Observation) []string {
	b := s.Current
	if b == nil || s.Phase.Terminal() {
		return nil
	}
	if !b.Gating() {
		for _, n := range b.Nodes {
			if j, ok := obs.Jobs[n]; ok && j.Phase == JobActive {
				return nil
			}
		}
	}
	return slices.Clone(b.Nodes)
}

// gate is the health gate after a batch (docs/design.md §2.13): its nodes must be
// Ready at the target, and their DaemonSet pods Ready with no container restarted
// since the batch started. It waits up to the offline grace for readiness (a kubelet
// restart is not instant); a restarted container, a node that lost the target, or a
// wait past the grace pauses the run naming the node and the pod. Once it holds, the
// soak keeps the next batch waiting until --soak has passed since the batch finished.
// It reports whether the batch may close.
func gate(s *State, obs Observation, now time.Time) (bool, []Action) {
	b := s.Current
	nodes := indexNodes(obs.Nodes, b.Nodes)
	late := now.Sub(*b.GateSince) > OfflineGraceOf(s.Spec)
	waiting := false
	for _, name := range b.Nodes {
		n, ok := nodes[name]
		if !ok {
			continue // left the cluster
		}
		if msg := gateFailure(s, obs, n, late, &waiting); msg != "" {
			return false, gateFailed(s, name, msg, now)
		}
	}
	if waiting || now.Sub(*b.GateSince) < s.Spec.Soak.Duration {
		return false, nil
	}
	return true, nil
}

// gateFailure says why node fails the gate ("" if it passes or may still pass).
func gateFailure(s *State, obs Observation, n Node, late bool, waiting *bool) string {
	b := s.Current
	if !Upgraded(n.Version, s.Spec.TargetVersion) {
		return fmt.Sprintf("node %s reports kubelet %s after its upgrade, not %s", n.Name, n.Version, s.Spec.TargetVersion)
	}
	if !n.Ready {
		if late {
			return fmt.Sprintf("node %s NotReady since %s after its upgrade, longer than --offline-grace %s",
				n.Name, stamp(n.NotReadySince), OfflineGraceOf(s.Spec))
		}
		*waiting = true
		return ""
	}
	for _, p := range obs.Pods[n.Name] {
		switch {
		case !p.RestartedAt.IsZero() && p.RestartedAt.After(*b.RestartsSince):
			return fmt.Sprintf("DaemonSet pod %s on node %s restarted a container at %s, after the node's upgrade began",
				p.Name, n.Name, stamp(p.RestartedAt))
		case !p.Ready && late:
			return fmt.Sprintf("DaemonSet pod %s on node %s not Ready %s after the upgrade (--offline-grace)",
				p.Name, n.Name, OfflineGraceOf(s.Spec))
		case !p.Ready:
			*waiting = true
		}
	}
	return ""
}

func gateFailed(s *State, node, msg string, now time.Time) []Action {
	if s.Pause != nil && s.Pause.ByError {
		return nil // reported already, or another failure paused the run first
	}
	msg = "health gate failed: " + msg + "; fix it, then resume (the gate is checked again)"
	since := now
	if s.Pause != nil {
		since = s.Pause.Since
	}
	s.Pause = &Pause{Reason: msg, Since: since, ByError: true}
	return []Action{
		emit(Warning, ReasonGateFailed, node, msg),
		emit(Warning, ReasonPaused, "", "upgrade paused automatically: "+msg),
	}
}

// LeftBehind lists the in-scope nodes not at the target, and why, sorted by name.
func LeftBehind(s State, obs Observation) []LeftNode {
	skipped := func(n string, j Job) bool { return j.Skipped || slices.Contains(s.Skipped, n) }
	var out []LeftNode
	for _, n := range obs.Nodes {
		if !InMode(s.Spec.Mode, n.Role) || Upgraded(n.Version, s.Spec.TargetVersion) {
			continue
		}
		j, hasJob := obs.Jobs[n.Name]
		reason := LeftOther
		switch {
		case hasJob && skipped(n.Name, j):
			reason = LeftSkipped
		case hasJob && j.Phase == JobFailed:
			reason = LeftFailed
		case !n.Ready:
			reason = LeftOffline
		}
		out = append(out, LeftNode{Node: n.Name, Reason: reason})
	}
	slices.SortFunc(out, func(a, b LeftNode) int { return strings.Compare(a.Node, b.Node) })
	return out
}

// NextWake is the next time at which the run changes with no change in the cluster
// (a soak ends, a grace runs out), after now; zero if none. Drivers wake then.
func NextWake(s State, obs Observation, now time.Time) time.Time {
	times := []time.Time{StageWake(s, obs, now)}
	b := s.Current
	if b == nil || s.Phase.Terminal() {
		return earliestAfter(times, now)
	}
	grace := OfflineGraceOf(s.Spec)
	if b.Gating() {
		times = append(times, b.GateSince.Add(s.Spec.Soak.Duration), b.GateSince.Add(grace+time.Millisecond))
	}
	nodes := indexNodes(obs.Nodes, b.Nodes)
	for _, name := range b.Nodes {
		if j, ok := obs.Jobs[name]; ok && j.Phase == JobActive && !nodes[name].Ready && j.Started {
			times = append(times, offlineSince(b, nodes[name], j).Add(grace+time.Millisecond))
		}
	}
	return earliestAfter(times, now)
}

// earliestAfter is the earliest of times after now (zero if none).
func earliestAfter(times []time.Time, now time.Time) time.Time {
	var next time.Time
	for _, t := range times {
		if t.After(now) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	return next
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "an unknown time"
	}
	return t.UTC().Format(time.RFC3339)
}

func round(d time.Duration) time.Duration { return d.Round(time.Second) }
