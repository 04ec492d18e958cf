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
		"(kubectl -n kube-upgrade delete pods --field-selector=status.phase=Failed) or pass --retry-failed",
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
		if j, ok := obs.Jobs[name]; ok && j.Phase == JobActive {
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

// resume clears a pause. Failed Jobs whose pods remain refuse it unless retryFailed,
// which deletes those Jobs and re-queues their nodes. Nodes whose Jobs were deleted
// outside the plugin are re-queued too. The batch ramp restarts at 1.
func resume(prev State, obs Observation, retryFailed bool, now time.Time) (State, []Action, error) {
	s := prev.Clone()
	switch {
	case s.Phase.Terminal():
		return s, nil, &TransitionError{Verb: "resume", State: strings.ToLower(string(s.Phase)),
			Fix: "start a new upgrade with kubectl edgeupgrade start"}
	case s.Pause == nil:
		return s, nil, &TransitionError{Verb: "resume", State: "running", Fix: "it is not paused"}
	}
	failed := failedJobs(obs, !retryFailed)
	if len(failed) > 0 && !retryFailed {
		return s, nil, &FailedPodsError{Nodes: failed}
	}
	var acts []Action
	if retryFailed {
		failed = failedJobs(obs, false)
		if len(failed) > 0 {
			acts = append(acts, Action{Kind: DeleteJobs, Nodes: failed})
		}
	}
	requeue(&s, obs, failed)
	s.Pause = nil
	s.Ramp = 1
	msg := "upgrade resumed"
	if len(failed) > 0 {
		msg += "; retrying " + words.List(failed, 10)
	}
	return s, append(acts, emit(Normal, ReasonResumed, "", msg)), nil
}

// requeue drops from the current batch the nodes that will be retried and the nodes
// whose Jobs vanished, so that a later batch picks them again.
func requeue(s *State, obs Observation, retry []string) {
	b := s.Current
	if b == nil {
		return
	}
	var keep []string
	for _, n := range b.Nodes {
		_, hasJob := obs.Jobs[n]
		if slices.Contains(retry, n) || (b.JobsCreated && !hasJob) {
			continue
		}
		keep = append(keep, n)
	}
	b.Nodes = keep
	b.Failed = slices.DeleteFunc(b.Failed, func(n string) bool { return slices.Contains(retry, n) })
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
		c.Current = &b
	}
	if s.Pause != nil {
		p := *s.Pause
		c.Pause = &p
	}
	c.Failures = slices.Clone(s.Failures)
	return c
}
