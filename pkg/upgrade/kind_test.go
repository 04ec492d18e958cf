package upgrade

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func componentSpec() Spec {
	return Spec{Kind: KindDaemonSet, FromVersion: RevisionVersion(1), TargetVersion: RevisionVersion(2),
		Component:   ComponentSpec{Namespace: "kube-flannel", Name: "kube-flannel-ds", TargetHash: "6d5b8f9c7", PodTimeout: Duration{2 * time.Minute}},
		PauseExpiry: Duration{DefaultPauseExpiry}, MaxBatchSize: 4}
}

func TestUpgradedRevision(t *testing.T) {
	for _, tc := range []struct {
		v, target string
		want      bool
	}{
		{"revision 2", "revision 2", true},
		{"revision 1", "revision 2", false},
		{"revision 3", "revision 2", false}, // a revision is not ordered: only the target is
		{"v1.36.3", "revision 2", false},
		{"v1.36.3", "v1.36.3", true},
	} {
		if got := Upgraded(tc.v, tc.target); got != tc.want {
			t.Errorf("Upgraded(%q, %q) = %v, want %v", tc.v, tc.target, got, tc.want)
		}
	}
	if KindOf(Spec{}) != KindKubernetes {
		t.Errorf("a state without kind must read as a Kubernetes run")
	}
}

// A DaemonSet run follows the rules of a Kubernetes run: masters one at a time, then each
// pool with the ramp 1, 2, 4 up to the cap; a failed node pauses it.
func TestComponentRunRules(t *testing.T) {
	c := newCluster(1, map[string]int{"a": 8, "b": 3})
	for i := range c.nodes {
		c.nodes[i].Version = RevisionVersion(1)
	}
	s, err := NewComponentState(componentSpec(), "run1", c.nodes, t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := Validate(s); err != nil {
		t.Fatal(err)
	}
	var sizes []int
	var pools []string
	now := t0
	for i := 0; i < 100 && !s.Phase.Terminal(); i++ {
		now = now.Add(time.Second)
		var acts []Action
		s, acts = step(c, s, now)
		for _, a := range acts {
			if a.Kind == CreateJobs {
				sizes, pools = append(sizes, len(a.Nodes)), append(pools, string(a.Batch.Role)+":"+a.Batch.Pool)
			}
		}
		for n, j := range c.jobs {
			if j.Phase == JobActive {
				j.Phase, j.Finished = JobSucceeded, now
				c.jobs[n] = j
				c.node(n).Version = RevisionVersion(2)
			}
		}
	}
	if s.Phase != PhaseCompleted {
		t.Fatalf("phase %s (pause %+v)", s.Phase, s.Pause)
	}
	if want := []int{1, 1, 2, 4, 1, 1, 2}; !slices.Equal(sizes, want) {
		t.Errorf("batch sizes %v, want %v", sizes, want)
	}
	if want := []string{"master:", "worker:a", "worker:a", "worker:a", "worker:a", "worker:b", "worker:b"}; !slices.Equal(pools, want) {
		t.Errorf("batches %v, want %v", pools, want)
	}
}

func TestNewComponentStateRefuses(t *testing.T) {
	c := newCluster(0, map[string]int{"a": 2})
	for i := range c.nodes {
		c.nodes[i].Version = RevisionVersion(2)
	}
	if _, err := NewComponentState(componentSpec(), "run1", c.nodes, t0); !errors.Is(err, ErrNothingToDo) {
		t.Errorf("every node at the target: %v", err)
	}
	bad := componentSpec()
	bad.TargetVersion = "v1.36.3"
	bad.Component.TargetHash = ""
	if _, err := NewComponentState(bad, "run1", c.nodes, t0); err == nil {
		t.Errorf("a target that is not a revision and no hash were accepted")
	}
	s, _ := NewComponentState(componentSpec(), "run1", newCluster(0, map[string]int{"a": 1}).nodes, t0)
	s.Spec.Component.TargetHash = ""
	if err := Validate(s); err == nil {
		t.Errorf("Validate accepted a component run without a revision hash")
	}
}

// A component run of either kind recorded with its new template and no target is
// pending its switch until it ends; ended before the switch it stays valid.
func TestSwitchPendingByKind(t *testing.T) {
	for _, kind := range []RunKind{KindDaemonSet, KindDeployment} {
		sp := componentSpec()
		sp.Kind, sp.Component.TargetHash, sp.Component.NewTemplate = kind, "", `{"spec":{}}`
		s, err := NewComponentState(sp, "run1", newCluster(0, map[string]int{"a": 1}).nodes, t0)
		if err != nil || !SwitchPending(s) || Validate(s) != nil {
			t.Fatalf("%s recorded before its switch: %v, pending %v, valid %v", kind, err, SwitchPending(s), Validate(s))
		}
		s.Phase, s.FinishedAt, s.EndReason = PhaseCancelled, &t0, "cancelled by user"
		if SwitchPending(s) || Validate(s) != nil {
			t.Errorf("%s cancelled before its switch: pending %v (never switched), valid %v", kind, SwitchPending(s), Validate(s))
		}
	}
	k := componentSpec()
	k.Kind, k.Component.TargetHash, k.Component.NewTemplate = KindKubernetes, "", `{"spec":{}}`
	if SwitchPending(State{Spec: k, Phase: PhasePreCheck}) {
		t.Errorf("a Kubernetes run has no switch")
	}
}
