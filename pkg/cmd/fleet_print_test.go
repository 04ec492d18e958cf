package cmd

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/fleet"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// fleetFixture is a fleet of four clusters mid-way: the management cluster done,
// site-a running, site-b paused by a failed node, site-c pending; lost is unreachable.
func fleetFixture(t *testing.T) (*FleetOptions, fleet.Decision) {
	t.Helper()
	f, err := fleet.Parse([]byte(`apiVersion: edgeupgrade.io/v1alpha1
kind: Fleet
metadata: {name: edge}
spec:
  targetVersion: v1.36.3
  waves:
  - {name: management, clusters: [{context: mgmt}], soak: 10m}
  - {name: sites, maxConcurrent: 2, clusters: [{context: site-a}, {context: site-b}, {context: site-c}, {context: lost}]}
`))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	end := t0.Add(5 * time.Minute)
	run := func(phase upgrade.Phase, pause *upgrade.Pause, fails ...upgrade.Failure) *upgrade.State {
		st := &upgrade.State{RunID: "2612021200-abcd", Spec: upgrade.Spec{TargetVersion: "v1.36.3", FromVersion: "v1.35.4"},
			Phase: phase, StartedAt: t0, Pause: pause, Failures: fails}
		if phase.Terminal() {
			st.FinishedAt = &end
		}
		return st
	}
	obs := []fleet.Observed{
		{Run: run(upgrade.PhaseCompleted, nil)},
		{Run: run(upgrade.PhaseNodes, nil)},
		{Run: run(upgrade.PhaseNodes, &upgrade.Pause{Reason: "node edge-a-001 failed in container upgrade", ByError: true},
			upgrade.Failure{Node: "edge-a-001", Message: "upgrade: kubelet healthz failed"})},
		{Oldest: "v1.35.4"},
		{Err: "no answer within 10s"},
	}
	var targets []fleet.Target
	for i, w := range f.Spec.Waves {
		for _, c := range w.Clusters {
			targets = append(targets, fleet.Target{Name: c.DisplayName(), Wave: i, Context: c.Context})
		}
	}
	o := &FleetOptions{File: "fleet.yaml", fleet: f, targets: targets, now: func() time.Time { return t0.Add(20 * time.Minute) }}
	return o, fleet.Decide(f, targets, obs, o.now())
}

// TestFleetPrint: the fleet table, the plan's columns and the error of a stopped
// fleet, as golden files.
func TestFleetPrint(t *testing.T) {
	o, d := fleetFixture(t)
	var b bytes.Buffer
	if err := o.printTable(&b, d, nil); err != nil {
		t.Fatal(err)
	}
	compareGolden(t, "fleet-status.golden", b.String())

	b.Reset()
	rows, code := o.planRows(d, map[string]string{"site-c": "1 error, 0 warnings"}, map[string]error{"site-c": errors.New("pre-check found errors: version-skew")})
	if code != ExitPreCheck {
		t.Errorf("plan exit code %d, want %d", code, ExitPreCheck)
	}
	if err := o.printTable(&b, d, rows); err != nil {
		t.Fatal(err)
	}
	compareGolden(t, "fleet-plan.golden", b.String())

	r := &fleetRun{FleetOptions: o}
	var ee *ExitError
	if err := r.stopped(d); !errors.As(err, &ee) || ee.Code != ExitPaused {
		t.Fatalf("stopped: %v, want exit %d", err, ExitPaused)
	}
	compareGolden(t, "fleet-stopped.golden", ee.Error()+"\n")
}

// TestFleetStartLines: fleet start prints a line per cluster change, not per read.
func TestFleetStartLines(t *testing.T) {
	o, d := fleetFixture(t)
	var b bytes.Buffer
	o.streams = genericiooptions.IOStreams{Out: &b}
	r := &fleetRun{FleetOptions: o, shown: map[string]string{}}
	r.printChanges(d)
	r.printChanges(d)
	compareGolden(t, "fleet-start-lines.golden", b.String())
}

// TestFleetVersionErrors: a pending cluster two minors below the target is refused
// before anything starts, naming the version to go to first.
func TestFleetVersionErrors(t *testing.T) {
	o, _ := fleetFixture(t)
	obs := make([]fleet.Observed, len(o.targets))
	for i := range obs {
		obs[i] = fleet.Observed{Oldest: "v1.35.4"}
	}
	obs[2].Oldest = "v1.34.2"
	got := o.versionErrors(fleet.Decide(o.fleet, o.targets, obs, o.now()))
	want := `cluster "site-b": cannot upgrade from v1.34.2 to v1.36.3: upgrade one minor version at a time; upgrade to v1.35 first`
	if len(got) != 1 || got[0] != want {
		t.Fatalf("got %q, want [%q]", got, want)
	}
}

// TestFleetRefusals: flags that cannot apply are refused with one line, before any
// cluster is read.
func TestFleetRefusals(t *testing.T) {
	for _, tc := range []struct{ args, want string }{
		{"fleet status -f ../../docs/examples/fleet.yaml --context x", "--context does not apply to fleet commands: the fleet file names each cluster's context"},
		{"fleet plan -f nope.yaml", "read the fleet file: open nope.yaml: no such file or directory"},
		{"fleet start", `required flag(s) "filename" not set`},
	} {
		var b bytes.Buffer
		root := NewCmdRoot(genericiooptions.IOStreams{In: &b, Out: &b, ErrOut: &b})
		root.SetArgs(strings.Fields(tc.args))
		if err := root.Execute(); err == nil || err.Error() != tc.want {
			t.Errorf("%s: %v, want %q", tc.args, err, tc.want)
		}
	}
}
