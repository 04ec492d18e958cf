package upgrade

import (
	"errors"
	"fmt"
	"time"
)

// Input is what Step applies to a run. The set is closed (the method is unexported):
// Tick, RequestPause, Resume, Cancel and DrainFailed.
type Input interface{ input() }

// Tick only reconciles: what status, the drivers and start do.
type Tick struct{}

// RequestPause asks the run to pause: started nodes finish, no new node starts
// (docs/design.md §2.4). An empty Reason reads "paused by user". It is named for what
// it is, a request, and so as not to clash with the Pause recorded in the State.
type RequestPause struct{ Reason string }

// Resume clears a pause (docs/design.md §2.5, §2.11). Failed nodes whose failed pods
// were deleted are retried; RetryFailed retries them with their pods still there;
// SkipFailed leaves every failed node behind instead, recorded as skipped.
type Resume struct{ RetryFailed, SkipFailed bool }

// Cancel ends a paused run (docs/design.md §2.6).
type Cancel struct{}

// DrainFailed reports a drain that did not finish (docs/design.md §5); Message names
// the blocking pods or budgets and becomes the pause reason.
type DrainFailed struct{ Message string }

func (Tick) input()         {}
func (RequestPause) input() {}
func (Resume) input()       {}
func (Cancel) input()       {}
func (DrainFailed) input()  {}

// Step is the one way a run changes. It reconciles first — records what finished,
// pauses on failures, starts the next batch when one is due, cancels an expired pause —
// then applies the input to the reconciled state, so that a verb decides on what the
// cluster is now (docs/design.md §1). It returns the next state and the actions to
// perform once that state is saved; every input returns its own Events.
//
// The error says what became of the input: nil, applied; ErrNoop (wrapped), nothing
// to do ("already paused"); any other error (*TransitionError, *FailedPodsError), the
// input was refused. Whatever the error, the state and actions returned are to be
// saved and performed: after ErrNoop or a refusal they are the reconcile's alone. A
// refusal thus never discards what the reconcile found: a pause that expired is
// cancelled, and its Jobs, pods and Events deleted, even when the verb that found it
// is refused because the run is now cancelled (§2.7).
//
// DrainFailed is a report of what the adapters met, not a verb: like a failed Job in
// the observation, it is recorded before the reconcile, which then gives the batch's
// unstarted nodes back (§2.4) instead of draining them again.
func Step(prev State, obs Observation, in Input, now time.Time) (State, []Action, error) {
	if d, ok := in.(DrainFailed); ok {
		s, acts := pauseForError(prev, d.Message, now)
		s, more := reconcile(s, obs, now)
		return s, append(acts, more...), nil
	}
	s, acts := reconcile(prev, obs, now)
	var next State
	var more []Action
	var err error
	switch in := in.(type) {
	case Tick:
		return s, acts, nil
	case RequestPause:
		next, more, err = requestPause(s, in.Reason, now)
	case Resume:
		next, more, err = resume(s, obs, in, now)
	case Cancel:
		next, more, err = cancel(s, obs, now)
	default:
		return prev.Clone(), nil, fmt.Errorf("unknown input %T", in)
	}
	if err != nil && !errors.Is(err, ErrNoop) {
		return s, acts, err
	}
	return next, append(acts, more...), err
}
