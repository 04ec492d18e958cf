package status

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// Status shows staging by pool: staged (or past it) of the in-scope nodes, pulling,
// failed and offline, and the images node Jobs run once digests are known.
func TestStaging(t *testing.T) {
	st, obs := fixture()
	st.Spec.Stage, st.Spec.MaxConcurrentPulls = true, 2
	st.Spec.PreprocessImage, st.Spec.UpgradeImage = "r.local/pre:1", "r.local/up:1"
	st.Digests = &upgrade.Digests{Upgrade: "r.local/up@sha256:" + strings.Repeat("b", 64)}
	obs.Nodes = append(obs.Nodes,
		upgrade.Node{Name: "edge-3", Role: upgrade.RoleWorker, Pool: "a", Version: "v1.35.4", Ready: true},
		upgrade.Node{Name: "edge-4", Role: upgrade.RoleWorker, Pool: "b", Version: "v1.35.4", Ready: true})
	obs.Staging = map[string]upgrade.StageJob{
		"master-3": {Phase: upgrade.JobSucceeded, Finished: t0},
		"edge-1":   {Phase: upgrade.JobActive},
		"edge-2":   {Phase: upgrade.JobActive}, // offline while pulling
		"edge-3":   {Phase: upgrade.JobFailed, Finished: t0},
	}
	s := Build(st, obs, nil, t0.Add(90*time.Second))
	want := &Staging{MaxConcurrentPulls: 2, Staged: 3, Pulling: 1, Failed: 1, Offline: 1, Total: 7,
		Pools: []upgrade.PoolStage{
			{Pool: "control-plane", Staged: 3, Total: 3},
			{Pool: "a", Pulling: 1, Failed: 1, Offline: 1, Total: 3},
			{Pool: "b", Total: 1},
		},
		Images: []string{"r.local/pre:1", "r.local/up@sha256:" + strings.Repeat("b", 64)}}
	if diff := cmp.Diff(want, s.Staging); diff != "" {
		t.Fatalf("staging (-want +got):\n%s", diff)
	}
	var b bytes.Buffer
	if err := PrintHuman(&b, s); err != nil {
		t.Fatal(err)
	}
	line := "3/7 nodes staged, 1 pulling (at most 2 at once), 1 failed (retried), 1 offline (deferred); by pool: control-plane 3/3, a 0/3, b 0/1"
	if !strings.Contains(b.String(), "Staging:") || !strings.Contains(b.String(), line) {
		t.Errorf("human status lacks the staging line %q:\n%s", line, b.String())
	}
	st.Spec.Stage = false
	if s := Build(st, obs, nil, t0); s.Staging != nil {
		t.Errorf("staging shown for a run with --no-stage: %+v", s.Staging)
	}
}
