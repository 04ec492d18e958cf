package upgrade

import (
	"testing"
	"time"
)

func TestMaxDeferred(t *testing.T) {
	for _, tc := range []struct {
		v       string
		workers int
		want    int
		bad     bool
	}{
		{"", 100, 20, false}, // the default, 20%
		{"", 3, 1, false},    // rounded up, at least 1
		{"5", 100, 5, false},
		{"0", 100, 0, false}, // every offline worker pauses the run
		{"10%", 95, 10, false},
		{"0%", 95, 1, false},
		{"100%", 7, 7, false},
		{"101%", 7, 0, true},
		{"-1", 7, 0, true},
		{"many", 7, 0, true},
	} {
		sp := spec()
		sp.MaxDeferred = tc.v
		err := ValidateSpec(sp)
		if (err != nil) != tc.bad {
			t.Errorf("%q: validate %v", tc.v, err)
			continue
		}
		if !tc.bad {
			if got := MaxDeferredOf(sp, tc.workers); got != tc.want {
				t.Errorf("%q of %d workers: %d, want %d", tc.v, tc.workers, got, tc.want)
			}
		}
	}
}

// Drivers wake when a soak ends or an offline grace runs out, not a resync later.
func TestNextWake(t *testing.T) {
	c := newCluster(0, map[string]int{"a": 10})
	sp := spec()
	sp.Mode, sp.OfflineGrace.Duration, sp.Soak.Duration = ModeNodes, time.Minute, 20*time.Second
	st, _ := NewState(sp, "r", Cluster{APIServerVersion: target, Nodes: c.nodes}, t0)
	st, acts := tick(st, c.obs(), t0)
	c.apply(acts, t0)
	if w := NextWake(st, c.obs(), t0); !w.IsZero() {
		t.Fatalf("a healthy running batch wakes at %s", w)
	}
	n := c.node("w-a-0001")
	n.Ready, n.NotReadySince = false, t0.Add(5*time.Second)
	if w := NextWake(st, c.obs(), t0.Add(6*time.Second)); !w.Equal(t0.Add(65*time.Second + time.Millisecond)) {
		t.Fatalf("offline node: wake at %s", w)
	}
	n.Ready = true
	c.succeed("w-a-0001", t0.Add(10*time.Second))
	st, _ = tick(st, c.obs(), t0.Add(10*time.Second))
	if got := GateNodes(st, c.obs()); len(got) != 1 || got[0] != "w-a-0001" {
		t.Fatalf("gate nodes %v", got)
	}
	if w := NextWake(st, c.obs(), t0.Add(11*time.Second)); !w.Equal(t0.Add(30 * time.Second)) {
		t.Fatalf("soak: wake at %s (batch %+v)", w, st.Current)
	}
}

// The state stays bounded however many nodes are skipped or left behind.
func TestEdgeStateBounded(t *testing.T) {
	c := newCluster(0, map[string]int{"a": 200})
	sp := spec()
	sp.Mode, sp.MaxDeferred = ModeNodes, "100%"
	for i := range c.nodes {
		if i%2 == 0 {
			c.nodes[i].Ready = false
		}
	}
	st, _ := NewState(sp, "r", Cluster{APIServerVersion: target, Nodes: c.nodes}, t0)
	st, _ = runToEnd(t, c, st)
	if st.Phase != PhaseIncomplete || st.LeftBehindCount != 100 || len(st.LeftBehind) != MaxFailures {
		t.Fatalf("%s: left behind %d, kept %d", st.Phase, st.LeftBehindCount, len(st.LeftBehind))
	}
	if err := Validate(st); err != nil {
		t.Fatal(err)
	}
	st.LeftBehind = append(st.LeftBehind, LeftNode{Node: "x"})
	if Validate(st) == nil {
		t.Fatal("more nodes left behind kept than the bound: valid")
	}
}
