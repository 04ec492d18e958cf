// Package drive is the in-cluster driver's work: drive a run until it completes,
// pauses or is cancelled, or make the watchdog's one pass. The plugin's `drive`
// command and the edgeupgrade image's lean binary (cmd/edgeupgrade-driver) both run
// it. It imports no command-line or terminal-UI library: the driver pod's binary is
// then half the plugin's size, and a small driver's memory is mostly its binary.
package drive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/runner"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/store"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/view"
)

// Clients reach the cluster. Rest builds the watchdog's lean clients (Metadata, when
// set, replaces its metadata client: a test's fake).
type Clients struct {
	Kube     kubernetes.Interface
	Rest     *rest.Config
	Metadata metadata.Interface
}

// Options say what to drive.
type Options struct {
	// RunID drives only this run: it exits 0 when another run replaced it.
	RunID string
	// Once is the watchdog's pass: one reconcile, then the driver Job is recreated if
	// the run is active and its driver gone.
	Once bool
	// Image is the driver image the watchdog recreates a lost driver Job with.
	Image string
}

// Run drives the current run (or makes the watchdog's pass), printing the driver's
// log to out: one line per batch and phase change, and the run's warnings. It
// returns nil when the run completed, paused or was cancelled, and an error otherwise
// (a signal, or an API error that is not transient), so that the job controller
// replaces a driver that did not finish.
func Run(ctx context.Context, c Clients, o Options, out io.Writer) error {
	p := view.NewProgress(out, view.FormatLines, nil)
	defer p.Stop()
	opts := runner.SessionOptions{OnEvent: p.OnEvent}
	if o.Once {
		var err error
		if opts.Cache, err = runner.LeanCacheOptions(c.Rest, c.Metadata); err != nil {
			return err
		}
	}
	s, err := runner.Open(ctx, c.Kube, opts)
	if errors.Is(err, store.ErrNoRun) && o.RunID != "" {
		return gone(ctx, c.Kube, o, out, "no upgrade run is recorded any more")
	}
	if err != nil {
		return err
	}
	defer s.Close()
	if o.RunID != "" && s.State().RunID != o.RunID {
		return gone(ctx, c.Kube, o, out, "run "+s.State().RunID+" replaced it")
	}
	if o.Once {
		return once(ctx, s, o.Image, out)
	}
	return drive(ctx, s, p, out)
}

// gone ends a driver or watchdog whose run is no longer the current one.
func gone(ctx context.Context, cs kubernetes.Interface, o Options, out io.Writer, why string) error {
	if o.Once {
		if err := runner.DeleteWatchdog(ctx, cs, o.RunID); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(out, "upgrade %s: %s; nothing to drive, exiting\n", o.RunID, why)
	return err
}

func drive(ctx context.Context, s *runner.Session, p *view.Progress, out io.Writer) error {
	_, _ = fmt.Fprintf(out, "%s  driving upgrade %s (%s)\n", time.Now().Format("15:04:05"), s.State().RunID, runner.ThisProcess().Identity())
	st, err := s.Drive(ctx, p.Show)
	if errors.Is(err, runner.ErrRunReplaced) {
		_, err = fmt.Fprintf(out, "upgrade %s was replaced by another run; driver exits\n", s.State().RunID)
		return err
	}
	if err != nil {
		return err // a signal or an error: exit non-zero, so the job controller replaces the driver
	}
	_, err = fmt.Fprintf(out, "upgrade %s %s; driver exits\n", st.RunID, EndLine(st))
	return err
}

// EndLine says how a driven run ended, and what restarts it.
func EndLine(st upgrade.State) string {
	switch {
	case st.Phase == upgrade.PhaseCompleted:
		return "completed"
	case st.Phase == upgrade.PhaseCancelled:
		return "cancelled: " + st.EndReason
	case st.Pause != nil:
		return "paused: " + st.Pause.Reason + " (resume with kubectl edgeupgrade resume --detach)"
	}
	return "stopped"
}

// once is the watchdog's pass.
func once(ctx context.Context, s *runner.Session, image string, out io.Writer) error {
	st, obs, err := s.Apply(ctx, upgrade.Tick{})
	if err != nil {
		return err
	}
	switch {
	case st.Phase.Terminal():
		if err := runner.TidyDriver(ctx, s.Client(), st.RunID); err != nil {
			return err
		}
		_, err = fmt.Fprintf(out, "upgrade %s is %s: watchdog removed\n", st.RunID, strings.ToLower(string(st.Phase)))
		return err
	case st.Pause != nil:
		_, err = fmt.Fprintf(out, "upgrade %s is %s since %s; it expires after %s\n", st.RunID,
			strings.ToLower(upgrade.StateName(st, obs)), st.Pause.Since.UTC().Format(time.RFC3339), st.Spec.PauseExpiry.Duration)
		return err
	}
	created, err := s.EnsureDriver(ctx, image)
	if err != nil {
		return err
	}
	what := "its driver is running"
	if created {
		what = "its driver was gone: driver Job " + job.DriverName(st.RunID) + " created"
	}
	_, err = fmt.Fprintf(out, "upgrade %s is active; %s\n", st.RunID, what)
	return err
}
