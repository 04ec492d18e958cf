package upgrade

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/internal/words"
)

// reconcile is the heart of the upgrade, and what Step does first for every input:
// given the saved state and what the cluster looks like now, it returns the next
// state and the side effects to perform after that state is saved. It is idempotent:
// reconciling the result again with the same observation changes nothing and repeats
// only idempotent actions.
func reconcile(prev State, obs Observation, now time.Time) (State, []Action) {
	s := prev.Clone()
	if s.Phase.Terminal() {
		return s, nil
	}
	if Expired(s, now) {
		return expire(s, now)
	}
	var acts []Action
	if s.Phase == PhasePreCheck {
		s.Phase = PhaseMasters
		if s.Spec.Mode == ModeNodes {
			s.Phase = PhaseNodes
		}
		acts = append(acts, emit(Normal, ReasonPhaseStarted, "", fmt.Sprintf("phase %s started", s.Phase)))
	}
	acts = append(acts, observeBatch(&s, obs, now)...)
	if s.Current == nil && s.Pause == nil {
		acts = append(acts, advance(&s, obs, now)...)
	}
	return s, append(acts, stage(&s, obs, now)...)
}

// Expired reports whether a paused run has been paused for longer than its expiry
// (strictly more: at exactly the boundary it is not yet expired).
func Expired(s State, now time.Time) bool {
	return !s.Phase.Terminal() && s.Pause != nil && s.Spec.PauseExpiry.Duration > 0 &&
		now.Sub(s.Pause.Since) > s.Spec.PauseExpiry.Duration
}

func expire(s State, now time.Time) (State, []Action) {
	var acts []Action
	if s.Current != nil && s.Spec.Drain {
		acts = append(acts, Action{Kind: Uncordon, Nodes: slices.Clone(s.Current.Nodes)})
	}
	s.Phase = PhaseCancelled
	s.EndReason = fmt.Sprintf("expired: paused since %s, longer than the pause expiry of %s; its Jobs, pods and Events were deleted",
		s.Pause.Since.UTC().Format(time.RFC3339), s.Spec.PauseExpiry.Duration)
	s.FinishedAt = &now
	s.Current = nil
	return s, append(acts, Action{Kind: DeleteRun})
}

// batchTally sorts the nodes of the current batch by what their Jobs say.
type batchTally struct {
	missing, tampered, inFlight, succeeded, deferred []string
	acts                                             []Action
}

// observeBatch records what finished in the current batch: failures pause the run,
// missing Jobs are (re)created before JobsCreated and are tampering after it, nodes
// that went offline before their upgrade started are deferred, and a batch whose
// Jobs are all finished goes through its health gate, then is closed.
func observeBatch(s *State, obs Observation, now time.Time) []Action {
	b := s.Current
	if b == nil {
		return nil
	}
	nodes := indexNodes(obs.Nodes, b.Nodes)
	backOnline(b, nodes)
	upgraded := upgradedMemo(s.Spec.TargetVersion)
	var t batchTally
	for _, name := range b.Nodes {
		node, inScope := nodes[name]
		job, hasJob := obs.Jobs[name]
		switch {
		case !hasJob && inScope && upgraded(node.Version):
			t.succeeded = append(t.succeeded, name) // nothing to do on this node
		case !hasJob && !b.JobsCreated:
			t.missing = append(t.missing, name)
		case !hasJob:
			t.tampered = append(t.tampered, name)
		case job.Phase == JobActive && inScope && !node.Ready && !slices.Contains(b.Failed, name):
			t.acts = append(t.acts, watchOffline(s, &t, node, job, now)...)
		case job.Phase == JobActive:
			t.inFlight = append(t.inFlight, name)
		case job.Phase == JobFailed:
			t.acts = append(t.acts, recordFailure(s, job, job.Container, failureMessage(job), now)...)
		case !inScope:
			t.succeeded = append(t.succeeded, name) // the node left the cluster
		case upgraded(node.Version):
			t.succeeded = append(t.succeeded, name)
		case now.Sub(job.Finished) > VersionGrace:
			msg := fmt.Sprintf("the Job succeeded but the node still reports kubelet %s after %s", node.Version, VersionGrace)
			t.acts = append(t.acts, recordFailure(s, job, "", msg, now)...)
		default:
			t.inFlight = append(t.inFlight, name) // waiting for the kubelet to re-register
		}
	}
	acts := append(t.acts, deferOffline(s, t.deferred)...)
	if s.Current == nil {
		return acts
	}
	return append(acts, closeBatch(s, obs, &t, now)...)
}

func closeBatch(s *State, obs Observation, t *batchTally, now time.Time) []Action {
	b := s.Current
	var acts []Action
	if len(t.missing) > 0 && s.Pause == nil {
		if s.Spec.Drain {
			acts = append(acts, Action{Kind: Drain, Batch: b, Nodes: slices.Clone(t.missing)})
		}
		return append(acts, Action{Kind: CreateJobs, Batch: b, Nodes: t.missing})
	}
	if len(t.missing) > 0 {
		// Paused before these nodes started: they do not start now (docs/design.md §2.4)
		// and stay pending for a batch after the resume.
		b.Nodes = slices.DeleteFunc(b.Nodes, func(n string) bool { return slices.Contains(t.missing, n) })
		if s.Spec.Drain {
			acts = append(acts, Action{Kind: Uncordon, Nodes: slices.Clone(t.missing)})
		}
		if len(b.Nodes) == 0 {
			s.Current = nil
			return acts
		}
	}
	if len(t.tampered) > 0 {
		return append(acts, tamper(s, t.tampered, now)...)
	}
	b.JobsCreated = true
	if len(t.inFlight) > 0 {
		return acts
	}
	failed := slices.DeleteFunc(slices.Clone(b.Failed), func(n string) bool { return slices.Contains(t.succeeded, n) })
	if !b.Gating() {
		recordBatch(s, obs, now)
		acts = append(acts, finishBatch(s, t.succeeded, len(failed), now)...)
	}
	if len(failed) > 0 {
		s.Current = nil // paused by its failures: no gate to hold
		return acts
	}
	done, more := gate(s, obs, now)
	if done {
		s.Current = nil
	}
	return append(acts, more...)
}

// finishBatch records that every node of the batch is done, and starts its gate.
func finishBatch(s *State, succeeded []string, failed int, now time.Time) []Action {
	b := s.Current
	var acts []Action
	if s.Spec.Drain && len(succeeded) > 0 {
		acts = append(acts, Action{Kind: Uncordon, Nodes: slices.Clone(succeeded)})
	}
	for _, n := range succeeded {
		acts = append(acts, emit(Normal, ReasonNodeUpgraded, n, fmt.Sprintf("node %s upgraded to %s", n, s.Spec.TargetVersion)))
	}
	acts = append(acts, emit(Normal, ReasonBatchFinished, "", fmt.Sprintf("%s finished: %d succeeded, %d failed",
		describeBatch(b), len(b.Nodes)-failed, failed)))
	b.GateSince = &now
	if b.RestartsSince == nil {
		started := b.StartedAt
		b.RestartsSince = &started
	}
	return acts
}

func tamper(s *State, nodes []string, now time.Time) []Action {
	if s.Pause != nil && s.Pause.ByError && strings.HasPrefix(s.Pause.Reason, tamperPrefix) {
		return nil // already reported
	}
	msg := fmt.Sprintf("%s for %s outside kubectl-edgeupgrade; find who changed namespace %s, then resume to re-queue %s",
		tamperPrefix, words.List(nodes, 5), "kube-upgrade", words.Plural(len(nodes), "that node", "those nodes"))
	s.Pause = &Pause{Reason: msg, Since: now, ByError: true}
	return []Action{emit(Warning, ReasonTampered, "", msg)}
}

const tamperPrefix = "the upgrade Job was deleted"

// recordFailure records a node failure once and pauses the run (docs/design.md §2.5).
func recordFailure(s *State, job Job, container, msg string, now time.Time) []Action {
	b := s.Current
	if slices.Contains(b.Failed, job.Node) {
		return nil
	}
	b.Failed = append(b.Failed, job.Node)
	msg = clip(msg, MaxMessage)
	f := Failure{Node: job.Node, Batch: b.Label(), Container: container, Reason: job.Reason, Message: msg, At: now}
	s.Failures = append(s.Failures, f)
	if len(s.Failures) > MaxFailures {
		s.Failures = slices.Clone(s.Failures[len(s.Failures)-MaxFailures:])
	}
	s.FailureCount++
	reason := fmt.Sprintf("node %s failed", job.Node)
	if container != "" {
		reason += " in container " + container
	}
	reason += ": " + msg
	acts := []Action{emit(Warning, ReasonNodeFailed, job.Node, reason)}
	if s.Pause == nil || !s.Pause.ByError {
		since := now
		if s.Pause != nil {
			since = s.Pause.Since
		}
		s.Pause = &Pause{Reason: reason, Since: since, ByError: true}
		acts = append(acts, emit(Warning, ReasonPaused, "", "upgrade paused automatically: "+reason))
	}
	return acts
}

// MaxMessage bounds a failure message kept in the state (a termination message can be
// 4 KiB; the whole of it stays on the failed pod).
const MaxMessage = 512

// clip shortens s to at most n bytes without splitting a UTF-8 character.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const more = "…"
	cut := n - len(more)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + more
}

func failureMessage(j Job) string {
	switch {
	case j.Message != "":
		return j.Message
	case j.Reason == "DeadlineExceeded":
		return "timed out: the Job ran longer than its deadline (--job-timeout)"
	case j.Reason != "":
		return "the Job failed: " + j.Reason
	}
	return "the Job failed"
}

// advance starts the next batch, moves to the next phase, or completes the run.
func advance(s *State, obs Observation, now time.Time) []Action {
	if acts := boundDeferred(s, obs, now); acts != nil {
		return acts
	}
	var acts []Action
	if s.Phase == PhaseMasters {
		if a, started := nextMaster(s, obs, now); started || s.Pause != nil {
			return a
		}
		if s.Spec.Mode == ModeControlPlane {
			return complete(s, obs, now)
		}
		s.Phase = PhaseNodes
		acts = append(acts, emit(Normal, ReasonPhaseStarted, "", "phase Nodes started"))
	}
	a, started := nextWorkerBatch(s, obs, now)
	acts = append(acts, a...)
	if started || s.Pause != nil {
		return acts
	}
	return append(acts, complete(s, obs, now)...)
}

func nextMaster(s *State, obs Observation, now time.Time) ([]Action, bool) {
	c := candidates(obs.Nodes, RoleMaster, s.Spec.TargetVersion, obs.Jobs)
	if len(c) == 0 {
		return nil, false
	}
	if !c[0].Ready {
		return pauseNotReady(s, []string{c[0].Name}, "control-plane node", now), false
	}
	if !staged(*s, obs, c[0].Name) {
		return nil, true // its images are still being pulled (stage.go)
	}
	s.MasterSerial++
	b := &Batch{Index: s.MasterSerial, Role: RoleMaster, Nodes: []string{c[0].Name}, StartedAt: now,
		MasterFirst: !anyUpgraded(obs.Nodes, RoleMaster, s.Spec.TargetVersion)}
	return startBatch(s, b), true
}

func nextWorkerBatch(s *State, obs Observation, now time.Time) ([]Action, bool) {
	workers := candidates(obs.Nodes, RoleWorker, s.Spec.TargetVersion, obs.Jobs)
	for _, pool := range PoolOrder(workers) {
		var ready []string
		for _, n := range workers {
			if n.Pool == pool && n.Ready {
				ready = append(ready, n.Name)
			}
		}
		if len(ready) == 0 {
			continue // NotReady workers are deferred (offline) until they are back
		}
		ramp := s.Ramp
		if s.Batches == 0 || pool != s.Pool {
			ramp = 1 // the ramp restarts in each pool
		}
		size := min(max(1, ramp), s.Cap, len(ready))
		nodes := pickStaged(*s, obs, ready, size)
		if nodes == nil {
			return nil, true // staging has not reached enough of them yet (stage.go)
		}
		s.Pool = pool
		s.Batches++
		s.Ramp = nextRamp(ramp, s.Cap)
		b := &Batch{Index: s.Batches, Role: RoleWorker, Pool: pool, Nodes: nodes, StartedAt: now}
		return startBatch(s, b), true
	}
	return nil, false
}

func startBatch(s *State, b *Batch) []Action {
	s.Current = b
	acts := []Action{emit(Normal, ReasonBatchStarted, "", fmt.Sprintf("%s started: %s", describeBatch(b), words.List(b.Nodes, 10)))}
	if s.Spec.Drain {
		acts = append(acts, Action{Kind: Drain, Batch: b, Nodes: slices.Clone(b.Nodes)})
	}
	return append(acts, Action{Kind: CreateJobs, Batch: b, Nodes: slices.Clone(b.Nodes)})
}

func pauseNotReady(s *State, names []string, what string, now time.Time) []Action {
	msg := fmt.Sprintf("%s NotReady: %s; bring %s back and resume (control-plane nodes are never deferred)",
		words.Plural(len(names), what, what+"s"), words.List(names, 5), words.Plural(len(names), "it", "them"))
	s.Pause = &Pause{Reason: msg, Since: now, ByError: true}
	return []Action{emit(Warning, ReasonPaused, "", "upgrade paused automatically: "+msg)}
}

// complete ends a run that has nothing left to do: Completed when every in-scope
// node is at the target, Incomplete, naming the nodes left behind and why, otherwise
// (docs/design.md §2.12).
func complete(s *State, obs Observation, now time.Time) []Action {
	s.FinishedAt = &now
	left := LeftBehind(*s, obs)
	if len(left) == 0 {
		s.Phase = PhaseCompleted
		return []Action{emit(Normal, ReasonCompleted, "", fmt.Sprintf("upgrade to %s completed", s.Spec.TargetVersion))}
	}
	s.Phase = PhaseIncomplete
	s.LeftBehindCount = len(left)
	s.LeftBehind = slices.Clone(left[:min(len(left), MaxFailures)])
	var acts []Action
	var offline []string
	for _, l := range left {
		if l.Reason == LeftOffline {
			offline = append(offline, l.Node)
		}
	}
	if len(offline) > 0 {
		acts = append(acts, emit(Warning, ReasonNodesDeferred, "", fmt.Sprintf("%d offline %s deferred to a later run: %s",
			len(offline), words.Plural(len(offline), "node", "nodes"), words.List(offline, 10))))
	}
	return append(acts, emit(Warning, ReasonIncomplete, "", IncompleteMessage(*s)))
}

// IncompleteMessage says what an Incomplete run left behind, and what to do.
func IncompleteMessage(s State) string {
	items := make([]string, 0, len(s.LeftBehind))
	for _, l := range s.LeftBehind {
		items = append(items, l.Node+" ("+l.Reason+")")
	}
	return fmt.Sprintf("upgrade to %s ended incomplete: %d in-scope %s not at the target: %s; start --to %s again to upgrade exactly those",
		s.Spec.TargetVersion, s.LeftBehindCount, words.Plural(s.LeftBehindCount, "node", "nodes"),
		words.List(items, 10), s.Spec.TargetVersion)
}

// Deferred lists the in-scope workers this run passes over because they are offline
// (NotReady) and have not started their upgrade; they are upgraded in a later batch
// if they are Ready again before the run ends (docs/design.md §6).
func Deferred(s State, obs Observation) []string {
	if !InMode(s.Spec.Mode, RoleWorker) {
		return nil // workers out of scope (--mode control-plane) are not deferred: never upgraded
	}
	var out []string
	for _, n := range candidates(obs.Nodes, RoleWorker, s.Spec.TargetVersion, obs.Jobs) {
		if !n.Ready {
			out = append(out, n.Name)
		}
	}
	return out
}

func anyUpgraded(nodes []Node, role Role, target string) bool {
	for _, n := range nodes {
		if n.Role == role && Upgraded(n.Version, target) {
			return true
		}
	}
	return false
}

// indexNodes indexes only the observed nodes named in names (the batch), not every
// node of the cluster: it runs on every reconcile.
func indexNodes(nodes []Node, names []string) map[string]Node {
	want := make(map[string]bool, len(names))
	for _, n := range names {
		want[n] = true
	}
	m := make(map[string]Node, len(names))
	for _, n := range nodes {
		if want[n.Name] {
			m[n.Name] = n
		}
	}
	return m
}

func describeBatch(b *Batch) string {
	if b.Role == RoleMaster {
		return fmt.Sprintf("master %d", b.Index)
	}
	pool := b.Pool
	if pool == NoPool {
		pool = "(no pool)"
	}
	return fmt.Sprintf("batch %d (pool %s, %d %s)", b.Index, pool, len(b.Nodes), words.Plural(len(b.Nodes), "node", "nodes"))
}
