package cmd

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/runner"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/status"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

var statusExample = templates.Examples(`
	# Show the upgrade's progress (also advances it: records finished nodes, starts the next batch)
	kubectl edgeupgrade status

	# Keep driving the upgrade with a live view until it completes or pauses
	kubectl edgeupgrade status --watch

	# The same for scripts: one status object per change, one per line
	kubectl edgeupgrade status --watch -o json

	# Machine-readable, without writing anything (works with read-only RBAC)
	kubectl edgeupgrade status --read-only -o json`)

// StatusOptions are the inputs of `status`.
type StatusOptions struct {
	Watch      bool
	ReadOnly   bool
	Events     int
	PrintFlags *genericclioptions.PrintFlags
	drive      driveFlags

	connect connector
	printer printers.ResourcePrinter
	streams genericiooptions.IOStreams
}

// NewCmdStatus returns the status command.
func NewCmdStatus(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	return newCmdStatus(connectWith(f), streams)
}

// NewStatusOptions returns the options of status.
func NewStatusOptions(connect connector, streams genericiooptions.IOStreams) *StatusOptions {
	return &StatusOptions{connect: connect, streams: streams, PrintFlags: documentPrintFlags()}
}

func newCmdStatus(connect connector, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewStatusOptions(connect, streams)
	cmd := &cobra.Command{
		Use:     "status",
		Short:   "Show the upgrade's progress, and advance it",
		Long:    templates.LongDesc(`Show the phase, the master being upgraded, upgraded/total nodes, the current and next batch, the pause reason, failures, the batch history and recent Events. Unless --read-only, status first reconciles: it records finished nodes, pauses on failures, starts the next batch when one is due and cancels a run whose pause expired.`),
		Example: statusExample,
		Args:    cobra.NoArgs,
		RunE:    runOptions(o),
	}
	cmd.Flags().BoolVarP(&o.Watch, "watch", "w", false, "Keep reconciling and redraw until the upgrade completes or pauses (with --read-only: only redraw)")
	cmd.Flags().BoolVar(&o.ReadOnly, "read-only", false, "Only read: never record results or start batches")
	cmd.Flags().IntVar(&o.Events, "events", 10, "How many recent Events to show")
	o.drive.add(cmd, false)
	o.PrintFlags.AddFlags(cmd)
	return cmd
}

// Complete prepares the printer.
func (o *StatusOptions) Complete(_ []string) error {
	var err error
	if o.PrintFlags.OutputFormat != nil && *o.PrintFlags.OutputFormat != "" {
		o.printer, err = o.PrintFlags.ToPrinter()
	}
	return err
}

// Validate rejects contradictory flags.
func (o *StatusOptions) Validate() error {
	if o.Watch {
		o.drive.Output = *o.PrintFlags.OutputFormat
		if err := o.drive.validate(); err != nil {
			return err
		}
	}
	if o.Events < 0 {
		return fmt.Errorf("--events must be 0 or more, got %d", o.Events)
	}
	return nil
}

// Run shows the status, reconciling first unless read-only.
func (o *StatusOptions) Run(ctx context.Context) error {
	if o.Watch {
		return o.watch(ctx)
	}
	s, err := openSession(ctx, o.connect, nil, false)
	if err != nil {
		return err
	}
	defer s.Close()
	st := s.State()
	var obs upgrade.Observation
	if o.ReadOnly {
		obs, err = s.Observe()
	} else {
		st, obs, err = s.Apply(ctx, upgrade.Tick{})
	}
	if err != nil {
		return err
	}
	return o.print(ctx, s, st, obs)
}

func (o *StatusOptions) print(ctx context.Context, s *runner.Session, st upgrade.State, obs upgrade.Observation) error {
	var events []status.Event
	if o.Events > 0 {
		events = recentEvents(ctx, s.Client(), st.RunID, o.Events)
	}
	view := status.Build(st, obs, events, time.Now())
	view.Driver = driverView(ctx, s, st, obs)
	if o.printer != nil {
		return o.printer.PrintObj(view, o.streams.Out)
	}
	return status.PrintHuman(o.streams.Out, view)
}

// watch drives the run, showing it live on a terminal, as lines or as JSON; with
// --read-only it only shows another driver's progress.
func (o *StatusOptions) watch(ctx context.Context) error {
	p := o.drive.progress(o.streams.Out, nil)
	s, err := openSessionWith(ctx, o.connect, p.OnEvent, true)
	if err != nil {
		return err
	}
	defer s.Close()
	if o.ReadOnly {
		st, err := s.Follow(ctx, p.Show) // never writes
		p.Stop()
		if err != nil {
			return err
		}
		return endResult(st)
	}
	return driveToEnd(ctx, s, p)
}
