// Package rollout is a Deployment run as pure decisions. The Deployment gets its own
// rollout (the run patches its template; the Deployment controller rolls it); the run
// adds the health verification the edge documents ask of every component upgrade
// before the next: the rollout complete, every node Ready, and the component's pods
// Running and Ready for a settling period. A rollout that does not complete within its
// timeout, a new pod crash-looping, or a node NotReady during settling pauses the run
// naming the pod or node; resume checks again; cancel (of a paused run) ends it, and
// the adapter then restores the template saved in the state.
package rollout

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/components/podstep"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// Observation is what a Deployment run reads of the cluster.
type Observation struct {
	// Generation and ObservedGeneration are the Deployment's.
	Generation, ObservedGeneration int64
	// Desired is spec.replicas; Replicas, Updated and Available are its status.
	Desired, Replicas, Updated, Available int32
	// Pods are the Deployment's pods, each with its pod-template-hash as Hash.
	Pods []podstep.Pod
	// NotReadyNodes are the cluster's nodes that are not Ready.
	NotReadyNodes []string
}

// Health is the verdict on one observation.
type Health struct {
	// Complete: the rollout is done (the controller saw the new template, every
	// replica is updated and available, no old replica is left, every new pod Ready).
	Complete bool
	// Healthy: Complete, and every node Ready: the settling period runs.
	Healthy bool
	// Node and Fail, when Fail is set, name what pauses the run and why.
	Node, Fail string
	// Progress says what the run waits for.
	Progress string
}

// Check judges an observation of the run sp whose rollout (or latest resume) began at
// since. A crash-looping new pod fails at once; an incomplete rollout fails after the
// rollout timeout (Component.PodTimeout), naming its first new pod not Ready; a NotReady
// node fails a complete rollout (the settling period requires every node Ready).
func Check(sp upgrade.Spec, o Observation, since, now time.Time) Health {
	var notReady []podstep.Pod
	old := 0
	for _, p := range o.Pods {
		switch {
		case p.Deleting:
		case p.Hash != sp.Component.TargetHash:
			old++
		case p.Crash != "":
			return Health{Node: p.Node, Fail: fmt.Sprintf("pod %s on node %s: %s", p.Name, p.Node, p.Crash)}
		case !p.Ready:
			notReady = append(notReady, p)
		}
	}
	complete := o.ObservedGeneration >= o.Generation && o.Updated == o.Desired && o.Available == o.Desired &&
		o.Replicas == o.Desired && old == 0 && len(notReady) == 0
	timeout := sp.Component.PodTimeout.Duration
	switch {
	case complete && len(o.NotReadyNodes) > 0:
		n := slices.Min(o.NotReadyNodes)
		return Health{Complete: true, Node: n, Fail: fmt.Sprintf("node %s is NotReady while %s settles", n, sp.Component.Name)}
	case complete:
		return Health{Complete: true, Healthy: true, Progress: "settling: every node Ready, every pod Running and Ready"}
	case now.Sub(since) <= timeout:
		return Health{Progress: fmt.Sprintf("rolling out: %d/%d updated, %d/%d available, %d old", o.Updated, o.Desired, o.Available, o.Desired, old)}
	case len(notReady) > 0:
		p := notReady[0]
		msg := fmt.Sprintf("pod %s on node %s not Ready within %s (--pod-timeout)", p.Name, orNone(p.Node), timeout)
		if p.Waiting != "" {
			msg += "; " + p.Waiting
		}
		return Health{Node: p.Node, Fail: msg}
	}
	return Health{Fail: fmt.Sprintf("the rollout of %s/%s did not complete within %s (--pod-timeout): %d/%d updated, %d/%d available, %d old pods left",
		sp.Component.Namespace, sp.Component.Name, timeout, o.Updated, o.Desired, o.Available, o.Desired, old)}
}

func orNone(node string) string {
	if node == "" {
		return "(not scheduled)"
	}
	return node
}

// Step is the one way a Deployment run changes, like upgrade.Step for node runs: it
// reconciles (a failure pauses, a settled rollout completes, an expired pause cancels)
// and then applies the input. The error says what became of the input (nil,
// upgrade.ErrNoop wrapped, or a refusal); the state and actions are saved either way.
func Step(prev upgrade.State, o Observation, in upgrade.Input, now time.Time) (upgrade.State, []upgrade.Action, error) {
	s, acts := reconcile(prev, o, now)
	var more []upgrade.Action
	var err error
	switch in := in.(type) {
	case upgrade.Tick:
		return s, acts, nil
	case upgrade.RequestPause:
		more, err = requestPause(&s, in.Reason, now)
	case upgrade.Resume:
		more, err = resume(&s, now)
	case upgrade.Cancel:
		more, err = cancel(&s, "cancelled by user", now)
	default:
		return s, acts, fmt.Errorf("a Deployment run does not take %T", in)
	}
	// The verbs change s only when they apply: a refusal leaves the reconcile's state.
	return s, append(acts, more...), err
}

func reconcile(prev upgrade.State, o Observation, now time.Time) (upgrade.State, []upgrade.Action) {
	s := prev.Clone()
	if s.Phase.Terminal() {
		return s, nil
	}
	var acts []upgrade.Action
	name := s.Spec.Component.Namespace + "/" + s.Spec.Component.Name
	if s.Phase == upgrade.PhasePreCheck {
		s.Phase, s.Batches = upgrade.PhaseNodes, 1
		s.Current = &upgrade.Batch{Index: 1, Role: upgrade.RoleWorker, Nodes: []string{"deployment/" + s.Spec.Component.Name}, StartedAt: now}
		acts = append(acts, event(upgrade.Normal, upgrade.ReasonBatchStarted, "", "rollout of Deployment "+name+" started"))
	}
	if s.Pause != nil {
		if now.Sub(s.Pause.Since) > s.Spec.PauseExpiry.Duration {
			more, _ := cancel(&s, fmt.Sprintf("expired: paused longer than %s (--pause-expiry)", s.Spec.PauseExpiry.Duration), now)
			acts = append(acts, more...)
		}
		return s, acts // paused: nothing is judged until a resume
	}
	b := s.Current
	h := Check(s.Spec, o, b.StartedAt, now)
	switch {
	case h.Fail != "":
		b.GateSince = nil
		s.Pause = &upgrade.Pause{Reason: h.Fail, Since: now, ByError: true}
		s.Failures = append(s.Failures, upgrade.Failure{Node: h.Node, Batch: b.Label(), Reason: "RolloutFailed", Message: h.Fail, At: now})
		if len(s.Failures) > upgrade.MaxFailures {
			s.Failures = s.Failures[len(s.Failures)-upgrade.MaxFailures:]
		}
		s.FailureCount++
		acts = append(acts, event(upgrade.Warning, upgrade.ReasonPaused, h.Node, "upgrade paused: "+h.Fail))
	case !h.Healthy:
		b.GateSince = nil
	case b.GateSince == nil:
		b.GateSince, b.RestartsSince = &now, &now // the state's rule: a gated batch has a restart baseline
	}
	if b.GateSince != nil && now.Sub(*b.GateSince) >= settleOf(s.Spec) {
		s.Phase, s.FinishedAt, s.Current = upgrade.PhaseCompleted, &now, nil
		acts = append(acts, event(upgrade.Normal, upgrade.ReasonCompleted, "", fmt.Sprintf(
			"Deployment %s rolled out to %s and settled for %s: every node Ready, every pod Running and Ready", name, s.Spec.TargetVersion, settleOf(s.Spec))))
	}
	return s, acts
}

func settleOf(sp upgrade.Spec) time.Duration { return sp.Component.Settle.Duration }

func requestPause(s *upgrade.State, reason string, now time.Time) ([]upgrade.Action, error) {
	switch {
	case s.Phase.Terminal():
		return nil, &upgrade.TransitionError{Verb: "pause", State: strings.ToLower(string(s.Phase))}
	case s.Pause != nil:
		return nil, fmt.Errorf("already paused: %w", upgrade.ErrNoop)
	}
	if reason == "" {
		reason = "paused by user"
	}
	s.Pause = &upgrade.Pause{Reason: reason, Since: now}
	if s.Current != nil {
		s.Current.GateSince = nil
	}
	return []upgrade.Action{event(upgrade.Normal, upgrade.ReasonPaused, "", "upgrade paused: "+reason)}, nil
}

// resume clears the pause; the rollout timeout and the settling period start again,
// and the next reconcile checks the rollout afresh.
func resume(s *upgrade.State, now time.Time) ([]upgrade.Action, error) {
	switch {
	case s.Phase.Terminal():
		return nil, &upgrade.TransitionError{Verb: "resume", State: strings.ToLower(string(s.Phase))}
	case s.Pause == nil:
		return nil, fmt.Errorf("not paused: %w", upgrade.ErrNoop)
	}
	s.Pause = nil
	if s.Current != nil {
		s.Current.StartedAt, s.Current.GateSince = now, nil
	}
	return []upgrade.Action{event(upgrade.Normal, upgrade.ReasonResumed, "", "upgrade resumed: the rollout is checked again")}, nil
}

// cancel ends a paused run; the adapter restores the Deployment's previous template.
func cancel(s *upgrade.State, reason string, now time.Time) ([]upgrade.Action, error) {
	switch {
	case s.Phase == upgrade.PhaseCancelled:
		return nil, fmt.Errorf("already cancelled: %w", upgrade.ErrNoop)
	case s.Phase.Terminal():
		return nil, &upgrade.TransitionError{Verb: "cancel", State: strings.ToLower(string(s.Phase))}
	case s.Pause == nil:
		return nil, &upgrade.TransitionError{Verb: "cancel", State: "running", Fix: "pause it first (kubectl edgeupgrade pause)"}
	}
	s.Phase, s.EndReason, s.FinishedAt, s.Current = upgrade.PhaseCancelled, reason, &now, nil
	return []upgrade.Action{event(upgrade.Normal, upgrade.ReasonCancelled, "", fmt.Sprintf(
		"upgrade cancelled (%s); Deployment %s/%s is rolled back to its previous template (%s)", reason,
		s.Spec.Component.Namespace, s.Spec.Component.Name, s.Spec.FromVersion))}, nil
}

func event(t upgrade.EventType, reason, node, msg string) upgrade.Action {
	return upgrade.Action{Kind: upgrade.Emit, Event: &upgrade.Event{Type: t, Reason: reason, Node: node, Message: msg}}
}

// NextWake is when the run changes by the clock alone: the settling period ends, or
// the rollout timeout runs out (zero if neither is ahead).
func NextWake(s upgrade.State, now time.Time) time.Time {
	b := s.Current
	if b == nil || s.Phase.Terminal() || s.Pause != nil {
		return time.Time{}
	}
	t := b.StartedAt.Add(s.Spec.Component.PodTimeout.Duration + time.Millisecond)
	if b.GateSince != nil {
		t = b.GateSince.Add(settleOf(s.Spec))
	}
	if !t.After(now) {
		return time.Time{}
	}
	return t
}
