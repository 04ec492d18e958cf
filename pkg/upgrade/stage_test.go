package upgrade

import (
	"strings"
	"testing"
	"time"
)

func TestDigestRef(t *testing.T) {
	sum := strings.Repeat("c", 64)
	for _, tc := range []struct{ image, id, want string }{
		{"registry.local/up:v1.36.3", "registry.local/up@sha256:" + sum, "registry.local/up@sha256:" + sum},
		{"localhost:5000/up:v1", "localhost:5000/up@sha256:" + sum, "localhost:5000/up@sha256:" + sum},
		{"busybox:1", "docker.io/library/busybox@sha256:" + sum, "busybox@sha256:" + sum},
		{"registry.local/up", "registry.local/up@sha256:" + sum, "registry.local/up@sha256:" + sum},
		// Already by digest: nothing to resolve.
		{"registry.local/up@sha256:" + sum, "registry.local/up@sha256:" + sum, ""},
		// A local image ID (imported with no registry) is no pullable reference.
		{"registry.local/up:v1", "sha256:" + sum, ""},
		// Another repository's digest, or a malformed one, is not this image's.
		{"registry.local/up:v1", "registry.local/other@sha256:" + sum, ""},
		{"registry.local/up:v1", "registry.local/up@sha256:abc", ""},
		{"registry.local/up:v1", "", ""},
	} {
		if got := DigestRef(tc.image, tc.id); got != tc.want {
			t.Errorf("DigestRef(%q, %q) = %q, want %q", tc.image, tc.id, got, tc.want)
		}
	}
}

func TestMaxPullsOf(t *testing.T) {
	for _, tc := range []struct{ flag, cap, want int }{{0, 100, 100}, {0, 1, 1}, {5, 100, 5}, {0, 0, 1}} {
		s := State{Cap: tc.cap, Spec: Spec{MaxConcurrentPulls: tc.flag}}
		if got := MaxPullsOf(s); got != tc.want {
			t.Errorf("MaxPullsOf(flag %d, cap %d) = %d, want %d", tc.flag, tc.cap, got, tc.want)
		}
	}
}

// Staging never has more than --max-concurrent-pulls nodes pulling, and never a node
// in a batch before its staging finished, whatever order pulls finish in.
func TestStageBoundsAndOrder(t *testing.T) {
	c := newCluster(1, map[string]int{"a": 40, "b": 25})
	sp := spec()
	sp.Stage, sp.MaxConcurrentPulls = true, 7
	s := mustStart(t, sp, c)
	now := t0
	for i := 0; i < 400 && !s.Phase.Terminal(); i++ {
		next, acts, err := Step(s, c.obs(), Tick{}, now)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range acts {
			if a.Kind != CreateJobs {
				continue
			}
			for _, n := range a.Nodes {
				if sj, ok := c.stage[n]; !ok || sj.Phase == JobActive {
					t.Fatalf("%s: node %s in a batch before its staging finished (%+v)", now, n, sj)
				}
			}
		}
		c.apply(acts, now)
		s = next
		pulling := 0
		for _, sj := range c.stage {
			if sj.Phase == JobActive {
				pulling++
			}
		}
		if pulling > 7 {
			t.Fatalf("%d nodes pulling at once, above --max-concurrent-pulls 7", pulling)
		}
		// Finish one pull in three, the rest later; every Job succeeds.
		k := 0
		for _, n := range sortedKeys(c.stage) {
			if c.stage[n].Phase == JobActive && (i+k)%3 == 0 {
				c.stage[n] = StageJob{Phase: JobSucceeded, Finished: now}
			}
			k++
		}
		for n, j := range c.jobs {
			if j.Phase == JobActive {
				c.succeed(n, now)
			}
		}
		now = now.Add(time.Second)
	}
	if s.Phase != PhaseCompleted {
		t.Fatalf("run ended %s, want Completed", s.Phase)
	}
}

// Without staging (--no-stage, or a state from before staging), no staging Job.
func TestNoStage(t *testing.T) {
	c := newCluster(1, map[string]int{"a": 3})
	s := mustStart(t, spec(), c)
	_, acts, _ := Step(s, c.obs(), Tick{}, t0)
	for _, a := range acts {
		if a.Kind == CreateStage || a.Kind == DeleteStage {
			t.Fatalf("staging action %v without --stage", a)
		}
	}
	if StageProgress(s, c.obs()) != nil {
		t.Fatal("staging progress shown for a run that does not stage")
	}
}
