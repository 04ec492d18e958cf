package upgrade

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestRefusedVerbKeepsTheExpiry: pause and resume on a run whose pause expired are
// refused (the run is cancelled now), and Step still returns the reconcile's
// cancellation and its DeleteRun, for the caller to save and perform
// (docs/design.md §2.7).
func TestRefusedVerbKeepsTheExpiry(t *testing.T) {
	for _, in := range []Input{RequestPause{Reason: "again"}, Resume{}, Resume{RetryFailed: true}} {
		c := newCluster(1, map[string]int{"a": 10})
		st := mustStart(t, spec(), c)
		st, _ = step(c, st, t0)
		st, _, err := Step(st, c.obs(), RequestPause{}, t0)
		if err != nil {
			t.Fatal(err)
		}
		later := t0.Add(st.Spec.PauseExpiry.Duration + time.Second)
		next, acts, err := Step(st, c.obs(), in, later)
		var te *TransitionError
		if !errors.As(err, &te) || !strings.Contains(err.Error(), "the upgrade is cancelled") {
			t.Fatalf("%T: err %v, want a refusal naming the cancellation", in, err)
		}
		if next.Phase != PhaseCancelled || !strings.HasPrefix(next.EndReason, "expired") || kinds(acts)[DeleteRun] != 1 {
			t.Fatalf("%T: the expiry was dropped: phase %s, end %q, actions %v", in, next.Phase, next.EndReason, kinds(acts))
		}
		want, wantActs := tick(st, c.obs(), later)
		if !reflect.DeepEqual(next, want) || !reflect.DeepEqual(acts, wantActs) {
			t.Fatalf("%T: a refused input returned something else than the reconcile", in)
		}
	}
}

// TestRefusedVerbReturnsTheReconcile: whatever refuses a verb, the state and actions
// returned are exactly the reconcile's.
func TestRefusedVerbReturnsTheReconcile(t *testing.T) {
	c := newCluster(1, map[string]int{"a": 10})
	st := mustStart(t, spec(), c)
	st, _ = step(c, st, t0)
	c.succeedActive(t0)
	for _, in := range []Input{Cancel{}, Resume{}} { // both refused: the run is not paused
		next, acts, err := Step(st, c.obs(), in, t0.Add(time.Second))
		var te *TransitionError
		if !errors.As(err, &te) {
			t.Fatalf("%T: err %v, want a refusal", in, err)
		}
		want, wantActs := tick(st, c.obs(), t0.Add(time.Second))
		if !reflect.DeepEqual(next, want) || !reflect.DeepEqual(acts, wantActs) || kinds(acts)[CreateJobs] != 1 {
			t.Fatalf("%T: got %v, want the reconcile's %v", in, kinds(acts), kinds(wantActs))
		}
	}
}

// TestPauseEmitsItsEvent: the pause Event comes from the core, with the reason.
func TestPauseEmitsItsEvent(t *testing.T) {
	c := newCluster(1, nil)
	st, _ := step(c, mustStart(t, spec(), c), t0)
	st, acts, err := Step(st, c.obs(), RequestPause{Reason: "window over"}, t0)
	if err != nil || st.Pause == nil || st.Pause.ByError || st.Pause.Reason != "window over" {
		t.Fatalf("pause: %v %+v", err, st.Pause)
	}
	if len(acts) != 1 || acts[0].Event.Reason != ReasonPaused || acts[0].Event.Message != "upgrade paused: window over" {
		t.Fatalf("actions %+v", acts)
	}
	if _, acts, err := Step(st, c.obs(), RequestPause{}, t0); !errors.Is(err, ErrNoop) || len(acts) != 0 {
		t.Fatalf("pausing twice: %v %v", err, kinds(acts))
	}
}

// TestDrainFailedGivesTheBatchBack: a drain that did not finish pauses the run; the
// batch's unstarted nodes are given back and uncordoned, not drained again, and a
// resume drains them anew (docs/design.md §5).
func TestDrainFailedGivesTheBatchBack(t *testing.T) {
	c := newCluster(0, map[string]int{"a": 20})
	sp := spec()
	sp.Mode, sp.Drain = ModeNodes, true
	st, _ := NewState(sp, "r", Cluster{APIServerVersion: target, Nodes: c.nodes}, t0)
	st, acts := tick(st, c.obs(), t0) // the drain runs before the Jobs are created, and fails
	if kinds(acts)[Drain] != 1 || kinds(acts)[CreateJobs] != 1 {
		t.Fatalf("first batch: %v", kinds(acts))
	}
	st, acts, err := Step(st, c.obs(), DrainFailed{Message: "drain did not finish: w-a-0001: pdb"}, t0.Add(time.Minute))
	if err != nil || st.Pause == nil || !st.Pause.ByError || st.Pause.Reason != "drain did not finish: w-a-0001: pdb" || st.Current != nil {
		t.Fatalf("drain failed: %v pause %+v current %+v", err, st.Pause, st.Current)
	}
	if k := kinds(acts); k[Drain] != 0 || k[CreateJobs] != 0 || k[Uncordon] != 1 || !reflect.DeepEqual(reasons(acts), []string{ReasonPaused}) {
		t.Fatalf("drain failed: actions %v events %v", k, reasons(acts))
	}
	st, _, err = Step(st, c.obs(), Resume{}, t0.Add(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	_, acts = tick(st, c.obs(), t0.Add(2*time.Minute))
	if kinds(acts)[Drain] != 1 || acts[len(acts)-1].Nodes[0] != "w-a-0001" {
		t.Fatalf("after resume: %v", kinds(acts))
	}
}

func TestUnknownInputIsRefused(t *testing.T) {
	c := newCluster(1, nil)
	st := mustStart(t, spec(), c)
	next, acts, err := Step(st, c.obs(), nil, t0)
	if err == nil || len(acts) != 0 || !reflect.DeepEqual(next, st) {
		t.Fatalf("nil input: %v %v", err, kinds(acts))
	}
}
