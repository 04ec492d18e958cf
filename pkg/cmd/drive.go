package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/runner"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// driveToEnd keeps reconciling until the run completes (exit 0), pauses (exit 3) or is
// cancelled (exit 4), printing progress lines (best effort: the exit code is the result).
func driveToEnd(ctx context.Context, r *runner.Session, out io.Writer) error {
	last := ""
	st, err := r.Drive(ctx, func(st upgrade.State, obs upgrade.Observation) {
		if line := progressLine(st, obs); line != last {
			_, _ = fmt.Fprintln(out, line)
			last = line
		}
	})
	if err != nil {
		return err
	}
	return endResult(st)
}

// endResult maps how a driven run ended to an exit code.
func endResult(st upgrade.State) error {
	switch {
	case st.Phase == upgrade.PhaseCompleted:
		return nil
	case st.Phase == upgrade.PhaseIncomplete:
		return &ExitError{Code: ExitIncomplete, Err: errors.New(upgrade.IncompleteMessage(st))}
	case st.Phase == upgrade.PhaseCancelled:
		return &ExitError{Code: ExitCancelled, Err: fmt.Errorf("upgrade %s: %s", st.RunID, st.EndReason)}
	case st.Pause != nil:
		return &ExitError{Code: ExitPaused, Err: fmt.Errorf("upgrade paused: %s; see kubectl edgeupgrade status, then resume", st.Pause.Reason)}
	}
	return nil
}

// progressLine is the one-line summary printed while driving.
func progressLine(st upgrade.State, obs upgrade.Observation) string {
	up, total := 0, 0
	for _, n := range obs.Nodes {
		if upgrade.InMode(st.Spec.Mode, n.Role) {
			total++
			if upgrade.Upgraded(n.Version, st.Spec.TargetVersion) {
				up++
			}
		}
	}
	state := upgrade.StateName(st, obs)
	batch := ""
	if b := st.Current; b != nil {
		if b.Role == upgrade.RoleMaster {
			batch = fmt.Sprintf(", master %d/%d: %s", b.Index, max(st.Masters, b.Index), b.Nodes[0])
		} else {
			batch = fmt.Sprintf(", batch %d (pool %s) of %d", b.Index, poolName(b.Pool), len(b.Nodes))
		}
	}
	return fmt.Sprintf("%s  upgraded %d/%d nodes%s", state, up, total, batch)
}

func poolName(p string) string {
	if p == upgrade.NoPool {
		return "(none)"
	}
	return p
}
