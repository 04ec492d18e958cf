package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/runner"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/view"
)

// driveFlags choose how a driven run is shown (start --wait, resume --wait, status --watch).
type driveFlags struct {
	NoTTY  bool
	Output string
}

func (d *driveFlags) add(cmd *cobra.Command, withOutput bool) {
	cmd.Flags().BoolVar(&d.NoTTY, "no-tty", false, "While driving, print one line per batch and phase change instead of the live view, even on a terminal")
	if withOutput {
		cmd.Flags().StringVarP(&d.Output, "output", "o", "", "While driving, json streams one status object per change, one per line")
	}
}

func (d *driveFlags) validate() error {
	if d.Output != "" && d.Output != "json" {
		return fmt.Errorf("--output %q is not supported while driving; use -o json (one status object per change) or no -o", d.Output)
	}
	return nil
}

// progress shows the run on out, on the command's clock (nil: time.Now).
func (d *driveFlags) progress(out io.Writer, now func() time.Time) *view.Progress {
	return view.NewProgress(out, view.FormatFor(out, d.NoTTY, d.Output), now)
}

// driveToEnd keeps reconciling until the run completes (exit 0), pauses (exit 3) or is
// cancelled (exit 4), showing progress (best effort: the exit code is the result).
func driveToEnd(ctx context.Context, r *runner.Session, p *view.Progress) error {
	st, err := r.Drive(ctx, p.Show)
	p.Stop()
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

func poolName(p string) string {
	if p == upgrade.NoPool {
		return "(none)"
	}
	return p
}
