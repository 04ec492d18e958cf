package cmd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"
	"k8s.io/kubectl/pkg/util/term"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// VerbOptions are the inputs of pause, resume and cancel.
type VerbOptions struct {
	Reason      string
	RetryFailed bool
	Wait        bool
	Yes         bool
	verb        string

	f       cmdutil.Factory
	streams genericiooptions.IOStreams
}

// NewCmdPause returns the pause command.
func NewCmdPause(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &VerbOptions{f: f, streams: streams, verb: "pause"}
	cmd := &cobra.Command{
		Use:   "pause",
		Short: "Pause the upgrade: started nodes finish, no new node starts",
		Long: templates.LongDesc(`Pause the upgrade. Nodes whose upgrade already started finish; nodes not
			started do not start. Status shows "Pausing" while started nodes finish, then "Paused".
			A run paused for longer than its --pause-expiry (15 days by default) is cancelled
			automatically by the next edgeupgrade command. Pausing a paused run does nothing.`),
		Example: templates.Examples(`
			# Pause, saying why
			kubectl edgeupgrade pause --reason "maintenance window over"`),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.Run(cmd.Context()) },
	}
	cmd.Flags().StringVar(&o.Reason, "reason", "", "Why the upgrade is paused (shown in status and Events)")
	return cmd
}

// NewCmdResume returns the resume command (alias continue).
func NewCmdResume(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &VerbOptions{f: f, streams: streams, verb: "resume"}
	cmd := &cobra.Command{
		Use:     "resume",
		Aliases: []string{"continue"},
		Short:   "Resume a paused upgrade; the next batch starts at 1 node again",
		Long: templates.LongDesc(`Resume a paused upgrade. Batch sizes restart at 1 and double again.
			Resume is refused while failed upgrade pods remain in kube-upgrade: fix the cause,
			delete the failed pods (those nodes are then left for a later run) or pass
			--retry-failed (their Jobs are deleted and the nodes upgraded again).`),
		Example: templates.Examples(`
			# Resume and follow the upgrade to its end
			kubectl edgeupgrade resume --wait

			# Retry the nodes that failed after fixing the cause
			kubectl edgeupgrade resume --retry-failed`),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.Run(cmd.Context()) },
	}
	cmd.Flags().BoolVar(&o.RetryFailed, "retry-failed", false, "Delete the failed Jobs and pods and upgrade those nodes again")
	cmd.Flags().BoolVar(&o.Wait, "wait", false, "Keep driving the upgrade until it completes or pauses, printing progress")
	return cmd
}

// NewCmdCancel returns the cancel command.
func NewCmdCancel(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &VerbOptions{f: f, streams: streams, verb: "cancel"}
	cmd := &cobra.Command{
		Use:   "cancel",
		Short: "Cancel a paused upgrade; upgraded nodes stay upgraded",
		Long: templates.LongDesc(`Cancel a paused upgrade. Started nodes finish; nodes not started are not
			upgraded; upgraded nodes stay upgraded (there is no rollback of completed nodes).
			Only a paused upgrade can be cancelled: pause it first. Asks for confirmation on a
			terminal; elsewhere --yes is required.`),
		Example: templates.Examples(`
			# Pause, then cancel without a prompt
			kubectl edgeupgrade pause && kubectl edgeupgrade cancel --yes`),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.Run(cmd.Context()) },
	}
	cmd.Flags().BoolVarP(&o.Yes, "yes", "y", false, "Do not ask for confirmation")
	return cmd
}

// Run reconciles, applies the verb and saves.
func (o *VerbOptions) Run(ctx context.Context) error {
	if o.verb == "cancel" && !o.Yes {
		if err := confirm(o.streams, "Cancel the upgrade? Nodes not started will not be upgraded. [y/N] "); err != nil {
			return err
		}
	}
	s, err := openSession(ctx, o.f, o.streams.Out, o.Wait)
	if err != nil {
		return err
	}
	defer s.close()
	st, _, err := s.runner.Mutate(ctx, reconcileThen(time.Now, o.decide()))
	if errors.Is(err, upgrade.ErrNoop) {
		_, err = fmt.Fprintln(o.streams.Out, err.Error())
		return err
	}
	if err != nil {
		return err
	}
	// The change is saved: a lost confirmation line must not report it as failed (nor stop --wait).
	_, _ = fmt.Fprintln(o.streams.Out, o.done(st))
	if o.Wait {
		return driveToEnd(ctx, s.runner, o.streams.Out)
	}
	return nil
}

func (o *VerbOptions) decide() func(upgrade.State, upgrade.Observation) (upgrade.State, []upgrade.Action, error) {
	now := time.Now().UTC()
	switch o.verb {
	case "pause":
		return func(st upgrade.State, obs upgrade.Observation) (upgrade.State, []upgrade.Action, error) {
			next, err := upgrade.RequestPause(st, o.Reason, now)
			if err != nil {
				return next, nil, err
			}
			return next, []upgrade.Action{{Kind: upgrade.Emit, Event: &upgrade.Event{Type: upgrade.Normal,
				Reason: upgrade.ReasonPaused, Message: "upgrade paused: " + next.Pause.Reason}}}, nil
		}
	case "resume":
		return func(st upgrade.State, obs upgrade.Observation) (upgrade.State, []upgrade.Action, error) {
			return upgrade.Resume(st, obs, o.RetryFailed, now)
		}
	default:
		return func(st upgrade.State, obs upgrade.Observation) (upgrade.State, []upgrade.Action, error) {
			return upgrade.Cancel(st, obs, now)
		}
	}
}

func (o *VerbOptions) done(st upgrade.State) string {
	switch o.verb {
	case "pause":
		return "upgrade " + st.RunID + " pausing: started nodes finish, no new node starts"
	case "resume":
		return "upgrade " + st.RunID + " resumed; the next batch has 1 node"
	}
	return "upgrade " + st.RunID + " cancelled; started nodes finish, upgraded nodes stay upgraded"
}

// confirm asks on a terminal; without one it refuses instead of hanging.
func confirm(streams genericiooptions.IOStreams, question string) error {
	if !term.IsTerminal(streams.In) {
		return fmt.Errorf("refusing to cancel without confirmation: no terminal to ask on; pass --yes")
	}
	if _, err := fmt.Fprint(streams.Out, question); err != nil {
		return err
	}
	var answer string
	_, _ = fmt.Fscanln(streams.In, &answer)
	if answer != "y" && answer != "Y" && answer != "yes" {
		return fmt.Errorf("not cancelled")
	}
	return nil
}
