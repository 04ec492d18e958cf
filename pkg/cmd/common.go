package cmd

import (
	"context"
	"fmt"
	"io"
	"time"

	"k8s.io/client-go/kubernetes"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/precheck"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/runner"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/status"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// Exit codes (documented in the README).
const (
	ExitOK        = 0
	ExitFailure   = 1
	ExitPreCheck  = 2
	ExitPaused    = 3
	ExitCancelled = 4
	// ExitIncomplete: the run ended with in-scope nodes below the target (offline,
	// failed and skipped), listed by status.
	ExitIncomplete = 5
)

// ExitError carries a specific exit code to main.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// connector returns the clients a command talks to the cluster with: the factory's
// (connectWith) or, in tests, fakes.
type connector func() (precheck.Clients, error)

// connectWith connects through the kubeconfig flags.
func connectWith(f cmdutil.Factory) connector {
	return func() (precheck.Clients, error) {
		rc, err := f.ToRESTConfig()
		if err != nil {
			return precheck.Clients{}, fmt.Errorf("connect to the cluster: %w", err)
		}
		cs, err := clientFor(f)
		if err != nil {
			return precheck.Clients{}, err
		}
		return precheck.Clients{Kube: cs, Rest: rc}, nil
	}
}

func clientFor(f cmdutil.Factory) (kubernetes.Interface, error) {
	cs, err := f.KubernetesClientSet()
	if err != nil {
		return nil, fmt.Errorf("connect to the cluster: %w", err)
	}
	return cs, nil
}

// openSession loads the current run and starts watching it. A session that will
// drive the run watches everything; a one-shot one lists lean (cacheOptions).
func openSession(ctx context.Context, connect connector, out io.Writer, drive bool) (*runner.Session, error) {
	var onEvent func(upgrade.Event)
	if out != nil {
		onEvent = progressPrinter(out)
	}
	return openSessionWith(ctx, connect, onEvent, drive)
}

// openSessionWith is openSession with what sees the run's Events (nil: nothing).
func openSessionWith(ctx context.Context, connect connector, onEvent func(upgrade.Event), drive bool) (*runner.Session, error) {
	c, err := connect()
	if err != nil {
		return nil, err
	}
	opts := runner.SessionOptions{}
	if opts.Cache, err = cacheOptions(c, drive); err != nil {
		return nil, err
	}
	opts.OnEvent = onEvent
	return runner.Open(ctx, c.Kube, opts)
}

// cacheOptions: a session that drives the run watches everything; a one-shot one
// lists lean (runner.CacheOptions).
func cacheOptions(c precheck.Clients, drive bool) (runner.CacheOptions, error) {
	if drive {
		return runner.CacheOptions{}, nil
	}
	return runner.LeanCacheOptions(c.Rest, c.Metadata)
}

// progressPrinter prints each Event the run records as one timestamped line. Progress
// lines are best effort: the callback cannot fail the run, whose result is reported by
// the command's exit status.
func progressPrinter(out io.Writer) func(upgrade.Event) {
	return func(e upgrade.Event) {
		_, _ = fmt.Fprintf(out, "%s  %-7s %-18s %s\n", time.Now().Format("15:04:05"), e.Type, e.Reason, e.Message)
	}
}

// recentEvents returns the run's last n Events, oldest first, for the status view.
func recentEvents(ctx context.Context, cs kubernetes.Interface, runID string, n int) []status.Event {
	items := runner.RecentEvents(ctx, cs, runID, n)
	out := make([]status.Event, 0, len(items))
	for _, e := range items {
		obj := e.InvolvedObject.Kind + "/" + e.InvolvedObject.Name
		out = append(out, status.Event{Time: runner.EventTime(e), Type: e.Type, Reason: e.Reason, Object: obj, Message: e.Message})
	}
	return out
}
