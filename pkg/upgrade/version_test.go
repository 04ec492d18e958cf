package upgrade

import (
	"strings"
	"testing"
	"time"
)

func TestCheckStep(t *testing.T) {
	for _, tc := range []struct {
		from, to, err string
	}{
		{"v1.35.4", "v1.36.3", ""},
		{"v1.35.4", "1.36.3", ""},
		{"v1.36.1", "v1.36.3", ""},
		{"v1.36.3", "v1.36.3", ""},
		{"v1.34.2", "v1.36.3", "upgrade to v1.35 first"},
		{"v1.35.4", "v1.35.2", "downgrades are not supported"},
		{"v1.36.3", "v1.35.4", "downgrades are not supported"},
		{"v1.35.4", "v2.0.0", "major version"},
		{"v1.35.4", "banana", `invalid version "banana"`},
		{"v1.35.4", "v1.36", `invalid version "v1.36"`},
		{"v1.35.4", "", `invalid version ""`},
		{"v1.35.4", "v1.36.3-alpha.1", ""},
	} {
		err := CheckStep(tc.from, tc.to)
		if (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("CheckStep(%s, %s) = %v, want %q", tc.from, tc.to, err, tc.err)
		}
	}
}

func TestNewStateRefusesBadInput(t *testing.T) {
	nodes := newCluster(1, map[string]int{"a": 3}).nodes
	old := append([]Node(nil), nodes...)
	old[1].Version = "v1.34.2"
	bad := func(mut func(*Spec)) Spec { sp := spec(); mut(&sp); return sp }
	for name, tc := range map[string]struct {
		sp    Spec
		api   string
		nodes []Node
		err   string
	}{
		"bad version":       {bad(func(s *Spec) { s.TargetVersion = "1.x" }), from, nodes, "invalid version"},
		"skipped minor":     {bad(func(s *Spec) { s.TargetVersion = "v1.37.0" }), from, nodes, "upgrade to v1.36 first"},
		"downgrade":         {bad(func(s *Spec) { s.TargetVersion = "v1.34.9" }), from, nodes, "downgrades"},
		"kubelet too old":   {spec(), from, old, "node w-a-0001"},
		"unknown mode":      {bad(func(s *Spec) { s.Mode = "everything" }), from, nodes, "unknown --mode"},
		"negative batch":    {bad(func(s *Spec) { s.MaxBatchSize = -1 }), from, nodes, "--max-batch-size"},
		"zero job timeout":  {bad(func(s *Spec) { s.JobTimeout = Duration{} }), from, nodes, "--job-timeout"},
		"nodes before cp":   {bad(func(s *Spec) { s.Mode = ModeNodes }), from, nodes, "upgrade the control plane first"},
		"managed cp behind": {spec(), from, nodes[1:], "managed control plane"},
	} {
		if _, err := NewState(tc.sp, "r", Cluster{APIServerVersion: tc.api, Nodes: tc.nodes}, t0); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: err = %v, want %q", name, err, tc.err)
		} else if strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error is not one line: %q", name, err)
		}
	}
	st, err := NewState(spec(), "r", Cluster{APIServerVersion: target, Nodes: nodes[1:]}, t0)
	if err != nil || st.Spec.FromVersion != from {
		t.Fatalf("managed control plane at target: %v", err)
	}
	_ = time.Second
}
