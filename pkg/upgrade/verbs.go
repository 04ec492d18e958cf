package upgrade

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/internal/words"
)

// ErrNoop marks a verb that had nothing to do ("already paused"): commands exit 0.
var ErrNoop = errors.New("nothing to do")

// TransitionError is a verb that the current phase does not allow.
type TransitionError struct {
	Verb  string
	State string
	Fix   string
}

func (e *TransitionError) Error() string {
	msg := fmt.Sprintf("cannot %s: the upgrade is %s", e.Verb, e.State)
	if e.Fix != "" {
		msg += "; " + e.Fix
	}
	return msg
}

// FailedPodsError refuses a resume while failed upgrade pods remain (docs/design.md §2.5).
type FailedPodsError struct{ Nodes []string }

func (e *FailedPodsError) Error() string {
	return fmt.Sprintf("cannot resume: failed upgrade pods remain for %s; fix the cause, then delete them "+
		"(kubectl -n kube-upgrade delete pods --field-selector=status.phase=Failed) and resume to retry those nodes, "+
		"or resume --retry-failed to do both at once, or resume --skip-failed to leave them behind",
		words.List(e.Nodes, 5))
}

// StateName is the human state of a run: its phase, or Pausing/Paused while paused.
func StateName(s State, obs Observation) string {
	if s.Pause == nil || s.Phase.Terminal() {
		return string(s.Phase)
	}
	if s.Current != nil && InFlight(s, obs) > 0 {
		return "Pausing"
	}
	return "Paused"
}

// InFlight counts nodes of the current batch whose Job has not finished.
func InFlight(s State, obs Observation) int {
	if s.Current == nil {
		return 0
	}
	n := 0
	for _, name := range s.Current.Nodes {
		// A node already failed (offline past the grace) is not waited for.
		if j, ok := obs.Jobs[name]; ok && j.Phase == JobActive && !slices.Contains(s.Current.Failed, name) {
			n++
		}
	}
	return n
}

// requestPause requests a pause: started nodes finish, no new node starts (docs/design.md §2.4).
func requestPause(prev State, reason string, now time.Time) (State, []Action, error) {
	s := prev.Clone()
	switch {
	case s.Phase.Terminal():
		return s, nil, &TransitionError{Verb: "pause", State: strings.ToLower(string(s.Phase))}
	case s.Pause != nil:
		return s, nil, fmt.Errorf("already paused (%s): %w", s.Pause.Reason, ErrNoop)
	}
	if reason == "" {
		reason = "paused by user"
	}
	s.Pause = &Pause{Reason: reason, Since: now}
	return s, []Action{emit(Normal, ReasonPaused, "", "upgrade paused: "+reason)}, nil
}

// pauseForError pauses the run because of a failure the adapters met (a drain that
// timed out). An existing error pause keeps its reason.
func pauseForError(prev State, reason string, now time.Time) (State, []Action) {
	s := prev.Clone()
	if s.Phase.Terminal() || (s.Pause != nil && s.Pause.ByError) {
		return s, nil
	}
	s.Pause = &Pause{Reason: reason, Since: now, ByError: true}
	return s, []Action{emit(Warning, ReasonPaused, "", "upgrade paused automatically: "+reason)}
}

// resume clears a pause. Failed nodes are retried in this run (their Jobs deleted and
// the nodes re-queued) unless SkipFailed leaves them behind; failed pods still there
// refuse the resume unless RetryFailed or SkipFailed says what to do with them. Nodes
// whose Jobs were deleted outside the plugin are re-queued too. A batch held by its
// health gate is gated again from now; the offline workers now counted are accepted
// (--max-deferred applies above them). The batch ramp restarts at 1.
func resume(prev State, obs Observation, in Resume, now time.Time) (State, []Action, error) {
	s := prev.Clone()
	switch {
	case s.Phase.Terminal():
		return s, nil, &TransitionError{Verb: "resume", State: strings.ToLower(string(s.Phase)),
			Fix: "start a new upgrade with kubectl edgeupgrade start"}
	case s.Pause == nil:
		return s, nil, &TransitionError{Verb: "resume", State: "running", Fix: "it is not paused"}
	case in.RetryFailed && in.SkipFailed:
		return s, nil, &TransitionError{Verb: "resume", State: "paused", Fix: "choose one of --retry-failed and --skip-failed"}
	}
	failed, offline := failing(s, obs)
	if withPods := failedWithPods(s, obs); len(withPods) > 0 && !in.RetryFailed && !in.SkipFailed {
		return s, nil, &FailedPodsError{Nodes: withPods}
	}
	var acts []Action
	msg := "upgrade resumed"
	if in.SkipFailed {
		acts = append(acts, skip(&s, obs, append(failed, offline...))...)
	} else {
		if len(failed) > 0 {
			acts = append(acts, Action{Kind: DeleteJobs, Nodes: failed})
			msg += "; retrying " + words.List(failed, 10)
		}
		requeue(&s, obs, failed)
		if b := s.Current; b != nil {
			// Offline past the grace: waited for again, and failed again if still offline.
			b.Failed = slices.DeleteFunc(b.Failed, func(n string) bool { return slices.Contains(offline, n) })
		}
	}
	if b := s.Current; b.Gating() {
		b.GateSince, b.RestartsSince = &now, &now
	}
	s.DeferredAccepted = max(s.DeferredAccepted, len(Deferred(s, obs)))
	s.Pause = nil
	s.Ramp = 1
	return s, append(acts, emit(Normal, ReasonResumed, "", msg)), nil
}

// failing lists the nodes that failed and were not skipped: those whose Job failed,
// and those of the current batch failed while their Job still runs (offline).
func failing(s State, obs Observation) (failed, offline []string) {
	for _, node := range failedJobs(obs, false) {
		if !obs.Jobs[node].Skipped && !slices.Contains(s.Skipped, node) {
			failed = append(failed, node)
		}
	}
	if b := s.Current; b != nil {
		for _, n := range b.Failed {
			if j, ok := obs.Jobs[n]; ok && j.Phase == JobActive {
				offline = append(offline, n)
			}
		}
	}
	return failed, offline
}

func failedWithPods(s State, obs Observation) []string {
	return slices.DeleteFunc(failedJobs(obs, true), func(n string) bool {
		return obs.Jobs[n].Skipped || slices.Contains(s.Skipped, n)
	})
}

// skip leaves the failed nodes behind: their Jobs stay (for diagnosis) marked as
// skipped, the state keeps the latest names and a count, and the batch lets them go.
func skip(s *State, obs Observation, nodes []string) []Action {
	if len(nodes) == 0 {
		return nil
	}
	slices.Sort(nodes)
	requeue(s, obs, nodes)
	s.Skipped = append(s.Skipped, nodes...)
	if len(s.Skipped) > MaxFailures {
		s.Skipped = slices.Clone(s.Skipped[len(s.Skipped)-MaxFailures:])
	}
	s.SkippedCount += len(nodes)
	return []Action{
		{Kind: MarkSkipped, Nodes: slices.Clone(nodes)},
		emit(Warning, ReasonNodesSkipped, "", fmt.Sprintf("skipping failed %s (resume --skip-failed): %s; %s left behind by this run",
			words.Plural(len(nodes), "node", "nodes"), words.List(nodes, 10), words.Plural(len(nodes), "it is", "they are"))),
	}
}

// requeue drops from the current batch the nodes that will be retried or skipped and
// the nodes whose Jobs vanished, so that a later batch picks them again.
func requeue(s *State, obs Observation, drop []string) {
	b := s.Current
	if b == nil {
		return
	}
	var keep []string
	for _, n := range b.Nodes {
		_, hasJob := obs.Jobs[n]
		if slices.Contains(drop, n) || (b.JobsCreated && !hasJob) {
			continue
		}
		keep = append(keep, n)
	}
	b.Nodes = keep
	b.Failed = slices.DeleteFunc(b.Failed, func(n string) bool { return slices.Contains(drop, n) })
	if len(b.Nodes) == 0 {
		s.Current = nil
	}
}

// failedJobs lists nodes whose Job failed, only those with failed pods left if withPods.
func failedJobs(obs Observation, withPods bool) []string {
	var out []string
	for node, j := range obs.Jobs {
		if j.Phase == JobFailed && (!withPods || j.FailedPods > 0) {
			out = append(out, node)
		}
	}
	slices.Sort(out)
	return out
}

// cancel ends a paused run: started nodes finish, nodes not started are not upgraded,
// upgraded nodes stay upgraded (docs/design.md §2.6).
func cancel(prev State, obs Observation, now time.Time) (State, []Action, error) {
	s := prev.Clone()
	switch {
	case s.Phase == PhaseCancelled:
		return s, nil, fmt.Errorf("already cancelled: %w", ErrNoop)
	case s.Phase.Terminal():
		return s, nil, &TransitionError{Verb: "cancel", State: strings.ToLower(string(s.Phase))}
	case s.Pause == nil:
		return s, nil, &TransitionError{Verb: "cancel", State: "running", Fix: "pause it first (kubectl edgeupgrade pause)"}
	}
	var acts []Action
	if b := s.Current; b != nil && s.Spec.Drain {
		var notStarted []string
		for _, n := range b.Nodes {
			if _, ok := obs.Jobs[n]; !ok {
				notStarted = append(notStarted, n)
			}
		}
		if len(notStarted) > 0 {
			acts = append(acts, Action{Kind: Uncordon, Nodes: notStarted})
		}
	}
	s.Phase = PhaseCancelled
	s.EndReason = "cancelled by user"
	s.FinishedAt = &now
	s.Current = nil
	msg := "upgrade cancelled; started nodes finish, upgraded nodes stay upgraded"
	return s, append(acts, emit(Normal, ReasonCancelled, "", msg)), nil
}

// Clone returns a deep copy of the state.
func (s State) Clone() State {
	c := s
	c.Spec.SkipChecks = slices.Clone(s.Spec.SkipChecks)
	if s.FinishedAt != nil {
		t := *s.FinishedAt
		c.FinishedAt = &t
	}
	if s.Current != nil {
		b := *s.Current
		b.Nodes = slices.Clone(b.Nodes)
		b.Failed = slices.Clone(b.Failed)
		b.Offline = slices.Clone(b.Offline)
		if b.GateSince != nil {
			t := *b.GateSince
			b.GateSince = &t
		}
		if b.RestartsSince != nil {
			t := *b.RestartsSince
			b.RestartsSince = &t
		}
		c.Current = &b
	}
	if s.Pause != nil {
		p := *s.Pause
		c.Pause = &p
	}
	c.Failures = slices.Clone(s.Failures)
	c.Skipped = slices.Clone(s.Skipped)
	c.LeftBehind = slices.Clone(s.LeftBehind)
	c.History = slices.Clone(s.History)
	if s.Digests != nil {
		d := *s.Digests
		c.Digests = &d
	}
	return c
}
