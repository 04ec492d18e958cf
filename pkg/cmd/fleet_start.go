package cmd

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/fleet"
)

// fleetRun is one fleet start: what this process learnt that the clusters do not
// record (a start refused by a pre-check), and what it printed last.
type fleetRun struct {
	*FleetOptions
	startErr map[string]string
	checked  map[string]bool
	shown    map[string]string
	preCheck bool // a cluster's pre-check failed: exit 2
}

// start starts the clusters that may start now and, with --wait, follows the fleet
// to its end. Without --wait it returns after one pass: the clusters it started go on
// by themselves (detached runs), and running it again starts the next ones.
func (o *FleetOptions) start(ctx context.Context) error {
	r := &fleetRun{FleetOptions: o, startErr: map[string]string{}, checked: map[string]bool{}, shown: map[string]string{}}
	d, _ := r.decide(ctx, nil)
	if errs := o.versionErrors(d); len(errs) > 0 {
		return fmt.Errorf("%s; upgrade those clusters one minor at a time first (nothing was started)", strings.Join(errs, "; "))
	}
	for {
		d, _ = r.decide(ctx, r.startErr)
		r.printChanges(d)
		if d.Complete {
			_, _ = fmt.Fprintf(o.streams.Out, "fleet complete: %d clusters at %s\n", len(d.Clusters), o.fleet.Spec.TargetVersion)
			return nil
		}
		if len(d.Start) > 0 {
			r.startWave(ctx, d)
			continue // read the clusters again: what started is running now
		}
		running := count(d, fleet.Running)
		if len(d.Stopped) > 0 && (running == 0 || !o.Wait) {
			return r.stopped(d)
		}
		if running == 0 && d.SoakUntil == nil {
			return r.blocked(d)
		}
		if !o.Wait {
			_, _ = fmt.Fprintf(o.streams.Out, "fleet in progress (%s); the runs go on by themselves: run kubectl edgeupgrade fleet start -f %s again to start the next clusters, or add --wait\n",
				progress(d), o.File)
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(o.Interval):
		}
	}
}

// startWave pre-checks every pending cluster of the wave not checked yet, then starts
// the clusters due, at once. A failed pre-check or start is recorded for the cluster,
// which then stops the fleet.
func (r *fleetRun) startWave(ctx context.Context, d fleet.Decision) {
	var check []string
	for _, c := range d.Clusters {
		if c.Wave == d.Wave && c.Phase == fleet.Pending && !r.checked[c.Name] {
			check = append(check, c.Name)
		}
	}
	if len(check) > 0 {
		r.line("%s: pre-checking %s", waveLabel(r.fleet, d.Wave), strings.Join(check, ", "))
	}
	failed := false
	for name, err := range forEach(r.targets, check, func(t fleet.Target) error { _, err := checkCluster(ctx, r.fleet, t); return err }) {
		r.checked[name] = err == nil
		if err != nil {
			r.startErr[name], r.preCheck, failed = "pre-check: "+oneLineErr(err), true, true
		}
	}
	if failed {
		return
	}
	r.line("%s: starting %s (at most %d at once)", waveLabel(r.fleet, d.Wave), strings.Join(d.Start, ", "), r.fleet.Spec.Waves[d.Wave].Limit())
	for name, err := range forEach(r.targets, d.Start, func(t fleet.Target) error { _, err := startCluster(ctx, r.fleet, t); return err }) {
		if err != nil {
			r.startErr[name] = "start: " + oneLineErr(err)
		}
	}
	// A start that succeeded but left no run (or lost a race with another fleet start)
	// is settled by the next read: a run to the target is followed, anything else
	// stops the fleet instead of being started again and again.
	d2, _ := r.decide(ctx, nil)
	r.printChanges(d2)
	for _, c := range d2.Clusters {
		if slices.Contains(d.Start, c.Name) {
			switch c.Phase {
			case fleet.Running, fleet.Done, fleet.Paused:
				delete(r.startErr, c.Name)
			case fleet.Pending:
				if _, ok := r.startErr[c.Name]; !ok {
					r.startErr[c.Name] = "start returned but no run to " + r.fleet.Spec.TargetVersion + " was found"
				}
			}
		}
	}
}

// printChanges prints a line for each cluster whose phase or run phase changed.
func (r *fleetRun) printChanges(d fleet.Decision) {
	for _, c := range d.Clusters {
		key := string(c.Phase) + "|" + c.RunPhase + "|" + c.Detail
		if r.shown[c.Name] == key {
			continue
		}
		r.shown[c.Name] = key
		r.line("%-*s  %-11s  %s", width(d), c.Name, c.Phase, dash(c.Detail))
	}
	if d.SoakUntil != nil && r.shown["\x00soak"] != d.SoakUntil.String() {
		r.shown["\x00soak"] = d.SoakUntil.String()
		r.line("%s waits for the soak of the previous wave until %s", waveLabel(r.fleet, d.Wave), d.SoakUntil.Local().Format("15:04:05"))
	}
}

func (r *fleetRun) line(format string, args ...any) {
	_, _ = fmt.Fprintf(r.streams.Out, "%s  %s\n", r.now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// stopped is the fleet's end when clusters paused or failed: the cluster and cause,
// and what to do.
func (r *fleetRun) stopped(d fleet.Decision) error {
	var causes []string
	for _, c := range d.Clusters {
		if slices.Contains(d.Stopped, c.Name) {
			causes = append(causes, fmt.Sprintf("%s %s: %s", c.Name, strings.ToLower(string(c.Phase)), c.Detail))
		}
	}
	next := "fix the cause, then kubectl edgeupgrade fleet resume -f " + r.File + " --retry-failed (a paused run) and fleet start again"
	code := ExitPaused
	if r.preCheck {
		code, next = ExitPreCheck, "fix what the pre-check found (kubectl edgeupgrade check --to "+r.fleet.Spec.TargetVersion+" --context CLUSTER), then fleet start again"
	}
	return &ExitError{Code: code, Err: fmt.Errorf("fleet stopped, nothing new starts: %s; %s", strings.Join(causes, "; "), next)}
}

// blocked is the fleet's end when it cannot go on and nothing runs: unreachable
// clusters hold their wave.
func (r *fleetRun) blocked(d fleet.Decision) error {
	var lost []string
	for _, c := range d.Clusters {
		if c.Phase == fleet.Unreachable {
			lost = append(lost, fmt.Sprintf("%s (%s)", c.Name, c.Detail))
		}
	}
	if len(lost) == 0 {
		return errors.New("the fleet cannot go on and no cluster is unreachable: report this as a bug with fleet status -o json")
	}
	return &ExitError{Code: ExitUnreachable, Err: fmt.Errorf("fleet blocked at %s: unreachable, so not done: %s; run fleet start again when they answer",
		waveLabel(r.fleet, d.Wave), strings.Join(lost, ", "))}
}

// width is the longest cluster name, to align lines.
func width(d fleet.Decision) int {
	n := 0
	for _, c := range d.Clusters {
		n = max(n, len(c.Name))
	}
	return n
}

func count(d fleet.Decision, p fleet.Phase) int {
	n := 0
	for _, c := range d.Clusters {
		if c.Phase == p {
			n++
		}
	}
	return n
}

// progress says how far the fleet is: "2/4 clusters done, wave 2/2 (workloads)".
func progress(d fleet.Decision) string {
	return fmt.Sprintf("%d/%d clusters done, %d running", count(d, fleet.Done), len(d.Clusters), count(d, fleet.Running))
}
