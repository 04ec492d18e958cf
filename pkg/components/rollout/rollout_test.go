package rollout

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/components/podstep"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func spec() upgrade.Spec {
	return upgrade.Spec{Kind: upgrade.KindDeployment, Mode: upgrade.ModeAll, FromVersion: "revision 1", TargetVersion: "revision 2",
		PauseExpiry: upgrade.Duration{Duration: time.Hour},
		Component: upgrade.ComponentSpec{Namespace: "kube-system", Name: "coredns", TargetHash: "new", FromHash: "old",
			PodTimeout: upgrade.Duration{Duration: time.Minute}, Settle: upgrade.Duration{Duration: 5 * time.Minute}}}
}

func pod(name, hash string, ready bool) podstep.Pod {
	return podstep.Pod{Name: "kube-system/" + name, Node: "n1", Hash: hash, Ready: ready, Started: true}
}

// done is a complete rollout of two replicas.
func done() Observation {
	return Observation{Generation: 2, ObservedGeneration: 2, Desired: 2, Replicas: 2, Updated: 2, Available: 2,
		Pods: []podstep.Pod{pod("a", "new", true), pod("b", "new", true)}}
}

func TestCheck(t *testing.T) {
	with := func(f func(*Observation)) Observation { o := done(); f(&o); return o }
	crash := pod("c", "new", false)
	crash.Crash = "container coredns is crash-looping: restarted 3 times"
	waiting := pod("c", "new", false)
	waiting.Waiting = "container coredns: ImagePullBackOff"
	cases := []struct {
		name                string
		o                   Observation
		elapsed             time.Duration
		complete, healthy   bool
		node, failHas, prog string
	}{
		{name: "complete and every node Ready: settling", o: done(), complete: true, healthy: true, prog: "settling"},
		{name: "controller has not seen the template", o: with(func(o *Observation) { o.ObservedGeneration = 1 }), prog: "rolling out"},
		{name: "an old replica left", o: with(func(o *Observation) { o.Replicas = 3; o.Pods = append(o.Pods, pod("x", "old", true)) }), prog: "1 old"},
		{name: "a deleting old pod does not count", o: with(func(o *Observation) { p := pod("x", "old", true); p.Deleting = true; o.Pods = append(o.Pods, p) }),
			complete: true, healthy: true},
		{name: "a new pod not Ready within the timeout", o: with(func(o *Observation) { o.Available = 1; o.Pods = append(o.Pods, waiting) }),
			elapsed: 2 * time.Minute, node: "n1", failHas: "pod kube-system/c on node n1 not Ready within 1m0s (--pod-timeout); container coredns: ImagePullBackOff"},
		{name: "not Ready but within the timeout", o: with(func(o *Observation) { o.Available = 1; o.Pods = append(o.Pods, waiting) }),
			elapsed: 30 * time.Second, prog: "rolling out: 2/2 updated, 1/2 available"},
		{name: "a crash-looping new pod fails at once", o: with(func(o *Observation) { o.Pods = append(o.Pods, crash) }),
			node: "n1", failHas: "pod kube-system/c on node n1: container coredns is crash-looping"},
		{name: "stuck without a new pod", o: with(func(o *Observation) { o.Updated, o.Pods = 0, []podstep.Pod{pod("x", "old", true)} }),
			elapsed: 2 * time.Minute, failHas: "did not complete within 1m0s (--pod-timeout): 0/2 updated"},
		{name: "a node NotReady while settling", o: with(func(o *Observation) { o.NotReadyNodes = []string{"n9", "n3"} }),
			complete: true, node: "n3", failHas: "node n3 is NotReady while coredns settles"},
		{name: "a NotReady node does not fail a rollout in progress", o: with(func(o *Observation) { o.Available, o.NotReadyNodes = 1, []string{"n3"} }),
			prog: "rolling out"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := Check(spec(), c.o, t0, t0.Add(c.elapsed))
			if h.Complete != c.complete || h.Healthy != c.healthy || h.Node != c.node || (c.failHas == "") != (h.Fail == "") ||
				!strings.Contains(h.Fail, c.failHas) || !strings.Contains(h.Progress, c.prog) {
				t.Fatalf("Check = %+v\nwant complete %v healthy %v node %q fail ~%q progress ~%q", h, c.complete, c.healthy, c.node, c.failHas, c.prog)
			}
		})
	}
}

func start() upgrade.State {
	return upgrade.State{RunID: "r", Spec: spec(), Phase: upgrade.PhasePreCheck, StartedAt: t0, Workers: 1, Cap: 1, Ramp: 1}
}

// step applies in at t0+at and fails the test on an unexpected error.
func step(t *testing.T, s upgrade.State, o Observation, in upgrade.Input, at time.Duration) (upgrade.State, []upgrade.Action) {
	t.Helper()
	next, acts, err := Step(s, o, in, t0.Add(at))
	if err != nil {
		t.Fatalf("Step(%T) at %s: %v", in, at, err)
	}
	return next, acts
}

func reasons(acts []upgrade.Action) []string {
	var out []string
	for _, a := range acts {
		if a.Event != nil {
			out = append(out, a.Event.Reason)
		}
	}
	return out
}

// The rollout completes once it has stayed healthy for the settling period; a dip in
// health restarts the period.
func TestStepSettles(t *testing.T) {
	rolling := done()
	rolling.Available = 1
	first := start()
	first.Spec.Component.PodTimeout.Duration = time.Hour // no failure here
	s, _ := step(t, first, rolling, upgrade.Tick{}, 0)
	if s.Phase != upgrade.PhaseNodes || s.Current == nil || s.Current.GateSince != nil {
		t.Fatalf("first tick: %+v", s)
	}
	s, _ = step(t, s, done(), upgrade.Tick{}, time.Minute)
	if g := s.Current.GateSince; g == nil || !g.Equal(t0.Add(time.Minute)) {
		t.Fatalf("settling did not start when healthy: %+v", s.Current)
	}
	s, _ = step(t, s, rolling, upgrade.Tick{}, 2*time.Minute) // a pod restarted: not Ready
	if s.Current.GateSince != nil {
		t.Fatalf("settling not reset by a pod not Ready: %+v", s.Current)
	}
	s, _ = step(t, s, done(), upgrade.Tick{}, 3*time.Minute)
	s, _ = step(t, s, done(), upgrade.Tick{}, 7*time.Minute)
	if s.Phase != upgrade.PhaseNodes {
		t.Fatalf("completed after 4m of a 5m settle: %s", s.Phase)
	}
	if w := NextWake(s, t0.Add(7*time.Minute)); !w.Equal(t0.Add(8 * time.Minute)) {
		t.Fatalf("NextWake %s, want the settle's end", w)
	}
	s, acts := step(t, s, done(), upgrade.Tick{}, 8*time.Minute)
	if s.Phase != upgrade.PhaseCompleted || s.FinishedAt == nil || s.Current != nil || strings.Join(reasons(acts), ",") != upgrade.ReasonCompleted {
		t.Fatalf("not completed after the settle: %+v %v", s, reasons(acts))
	}
	if err := upgrade.Validate(s); err != nil {
		t.Fatalf("completed state invalid: %v", err)
	}
}

// A failure pauses naming the pod; a paused run judges nothing; resume checks again
// with a fresh timeout; cancel ends the run.
func TestStepPauseResumeCancel(t *testing.T) {
	stuck := done()
	stuck.Available = 1
	stuck.Pods = append(stuck.Pods, pod("c", "new", false))
	s, _ := step(t, start(), stuck, upgrade.Tick{}, 0)
	if _, _, err := Step(s, stuck, upgrade.Cancel{}, t0); err == nil || !strings.Contains(err.Error(), "pause it first") {
		t.Fatalf("cancel of a running run: %v", err)
	}
	s, acts := step(t, s, stuck, upgrade.Tick{}, 2*time.Minute)
	if s.Pause == nil || !s.Pause.ByError || !strings.Contains(s.Pause.Reason, "pod kube-system/c on node n1 not Ready") ||
		s.FailureCount != 1 || s.Failures[0].Node != "n1" || strings.Join(reasons(acts), ",") != upgrade.ReasonPaused {
		t.Fatalf("not paused naming the pod: %+v %v", s.Pause, reasons(acts))
	}
	if err := upgrade.Validate(s); err != nil {
		t.Fatalf("paused state invalid: %v", err)
	}
	// Paused: a healthy rollout does not complete it, nothing is judged.
	if s2, _ := step(t, s, done(), upgrade.Tick{}, time.Hour-time.Second); s2.Phase != upgrade.PhaseNodes || s2.Pause == nil {
		t.Fatalf("a paused run moved: %+v", s2)
	}
	if _, _, err := Step(s, stuck, upgrade.RequestPause{}, t0.Add(3*time.Minute)); !errors.Is(err, upgrade.ErrNoop) {
		t.Fatalf("pause of a paused run: %v", err)
	}
	r, acts := step(t, s, stuck, upgrade.Resume{}, 3*time.Minute)
	if r.Pause != nil || !r.Current.StartedAt.Equal(t0.Add(3*time.Minute)) || strings.Join(reasons(acts), ",") != upgrade.ReasonResumed {
		t.Fatalf("resume: %+v %v", r, reasons(acts))
	}
	if r, _ = step(t, r, stuck, upgrade.Tick{}, 3*time.Minute+30*time.Second); r.Pause != nil {
		t.Fatalf("paused again within the fresh timeout: %+v", r.Pause)
	}
	c, acts := step(t, s, stuck, upgrade.Cancel{}, 4*time.Minute)
	if c.Phase != upgrade.PhaseCancelled || c.EndReason != "cancelled by user" || len(acts) != 1 || !strings.Contains(acts[0].Event.Message, "rolled back to its previous template (revision 1)") {
		t.Fatalf("cancel: %+v %v", c, acts)
	}
	if _, _, err := Step(c, stuck, upgrade.Resume{}, t0.Add(5*time.Minute)); err == nil {
		t.Fatalf("resume of a cancelled run accepted")
	}
	// A pause longer than --pause-expiry cancels the run (and so rolls it back).
	x, _ := step(t, s, stuck, upgrade.Tick{}, 2*time.Minute+time.Hour+time.Second)
	if x.Phase != upgrade.PhaseCancelled || !strings.Contains(x.EndReason, "expired") {
		t.Fatalf("expired pause: %+v", x)
	}
}

// A user pause holds a healthy rollout from completing.
func TestStepUserPause(t *testing.T) {
	s, _ := step(t, start(), done(), upgrade.Tick{}, 0)
	s, _ = step(t, s, done(), upgrade.RequestPause{}, time.Minute)
	if s.Pause == nil || s.Pause.ByError || s.Pause.Reason != "paused by user" || s.Current.GateSince != nil {
		t.Fatalf("pause: %+v", s)
	}
	if s, _ = step(t, s, done(), upgrade.Tick{}, 10*time.Minute); s.Phase != upgrade.PhaseNodes {
		t.Fatalf("a paused run completed")
	}
	if NextWake(s, t0.Add(10*time.Minute)) != (time.Time{}) {
		t.Fatalf("a paused run wakes the driver")
	}
}
