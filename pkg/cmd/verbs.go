package cmd

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"
	"k8s.io/kubectl/pkg/util/term"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/view"
)

// VerbOptions are the inputs of pause, resume and cancel. The three share one flow
// (reconcile and apply the verb in one step, save, print, and with --wait drive on);
// each command stores what differs: how its input is built from the flags, the line
// printed once it is saved and, for cancel, the question asked first.
type VerbOptions struct {
	detachFlags
	Reason      string
	RetryFailed bool
	SkipFailed  bool
	Wait        bool
	Yes         bool
	drive       driveFlags

	// input builds the verb's input to the core once the flags are parsed.
	input func() upgrade.Input
	// done follows "upgrade <run> " once the input is saved.
	done string
	// ask, when set, is confirmed before anything is read, unless --yes.
	ask *question

	connect connector
	streams genericiooptions.IOStreams
}

// question is a confirmation asked before a verb acts.
type question struct {
	prompt   string
	verb     string // what is refused without a terminal to ask on: "cancel"
	declined string // the error when the answer is not yes: "not cancelled"
}

func (o *VerbOptions) pause() upgrade.Input { return upgrade.RequestPause{Reason: o.Reason} }
func (o *VerbOptions) resume() upgrade.Input {
	return upgrade.Resume{RetryFailed: o.RetryFailed, SkipFailed: o.SkipFailed}
}
func (o *VerbOptions) cancel() upgrade.Input { return upgrade.Cancel{} }

// NewCmdPause returns the pause command.
func NewCmdPause(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	return newCmdPause(connectWith(f), streams)
}

// NewPauseOptions returns the options of pause.
func NewPauseOptions(connect connector, streams genericiooptions.IOStreams) *VerbOptions {
	o := &VerbOptions{connect: connect, streams: streams, done: "pausing: started nodes finish, no new node starts"}
	o.input = o.pause
	return o
}

func newCmdPause(connect connector, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewPauseOptions(connect, streams)
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
		RunE: runOptions(o),
	}
	cmd.Flags().StringVar(&o.Reason, "reason", "", "Why the upgrade is paused (shown in status and Events)")
	return cmd
}

// NewCmdResume returns the resume command (alias continue).
func NewCmdResume(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	return newCmdResume(connectWith(f), streams)
}

// NewResumeOptions returns the options of resume.
func NewResumeOptions(connect connector, streams genericiooptions.IOStreams) *VerbOptions {
	o := &VerbOptions{connect: connect, streams: streams, done: "resumed; the next batch has 1 node"}
	o.input = o.resume
	return o
}

func newCmdResume(connect connector, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewResumeOptions(connect, streams)
	cmd := &cobra.Command{
		Use:     "resume",
		Aliases: []string{"continue"},
		Short:   "Resume a paused upgrade; the next batch starts at 1 node again",
		Long: templates.LongDesc(`Resume a paused upgrade. Batch sizes restart at 1 and double again.
			Failed nodes are retried in this run: fix the cause, delete the failed pods in
			kube-upgrade, and resume (their Jobs are replaced and the nodes upgraded again);
			--retry-failed does both in one step. Resume is refused while failed pods remain
			unless --retry-failed or --skip-failed says what to do with them. --skip-failed
			leaves every failed node behind, recorded in status; the run then ends Incomplete.
			A node that went offline during its upgrade is waited for again (up to
			--offline-grace) unless it is skipped.`),
		Example: templates.Examples(`
			# Resume and follow the upgrade to its end
			kubectl edgeupgrade resume --wait

			# After fixing the cause: delete the failed pods, then resume to retry those nodes
			kubectl -n kube-upgrade delete pods --field-selector=status.phase=Failed
			kubectl edgeupgrade resume --wait

			# The same in one step
			kubectl edgeupgrade resume --retry-failed

			# Leave the failed nodes behind (a later start --to the same version picks them up)
			kubectl edgeupgrade resume --skip-failed`),
		Args: cobra.NoArgs,
		RunE: runOptions(o),
	}
	cmd.Flags().BoolVar(&o.RetryFailed, "retry-failed", false, "Delete the failed Jobs and pods and upgrade those nodes again")
	cmd.Flags().BoolVar(&o.SkipFailed, "skip-failed", false, "Leave the failed nodes behind (recorded in status); the run goes on without them")
	cmd.MarkFlagsMutuallyExclusive("retry-failed", "skip-failed")
	cmd.Flags().BoolVar(&o.Wait, "wait", false, "Keep driving the upgrade until it completes or pauses, with a live view on a terminal")
	o.drive.add(cmd, true)
	o.add(cmd, nil)
	return cmd
}

// NewCmdCancel returns the cancel command.
func NewCmdCancel(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	return newCmdCancel(connectWith(f), streams)
}

// NewCancelOptions returns the options of cancel.
func NewCancelOptions(connect connector, streams genericiooptions.IOStreams) *VerbOptions {
	o := &VerbOptions{connect: connect, streams: streams, done: "cancelled; started nodes finish, upgraded nodes stay upgraded",
		ask: &question{prompt: "Cancel the upgrade? Nodes not started will not be upgraded. [y/N] ", verb: "cancel", declined: "not cancelled"}}
	o.input = o.cancel
	return o
}

func newCmdCancel(connect connector, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewCancelOptions(connect, streams)
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
		RunE: runOptions(o),
	}
	cmd.Flags().BoolVarP(&o.Yes, "yes", "y", false, "Do not ask for confirmation")
	return cmd
}

// Complete has nothing to derive: the flags are the input.
func (o *VerbOptions) Complete(_ []string) error { return nil }

// Validate refuses -o without --wait and an output other than json, and --detach with
// --wait.
func (o *VerbOptions) Validate() error {
	if err := o.check(o.Wait); err != nil {
		return err
	}
	if o.drive.Output != "" && !o.Wait {
		return fmt.Errorf("-o json streams the status while driving: add --wait")
	}
	return o.drive.validate()
}

// Run reconciles and applies the verb's input in one step (upgrade.Step), and saves.
func (o *VerbOptions) Run(ctx context.Context) error {
	if o.ask != nil && !o.Yes {
		if err := confirm(o.streams, *o.ask); err != nil {
			return err
		}
	}
	out, onEvent := o.streams.Out, progressPrinter(o.streams.Out)
	var p *view.Progress
	if o.Wait {
		if o.drive.Output != "" {
			out = o.streams.ErrOut // stdout carries the JSON objects alone
		}
		p = o.drive.progress(o.streams.Out, nil)
		onEvent = p.OnEvent
	}
	s, err := openSessionWith(ctx, o.connect, onEvent, o.Wait)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := o.ready(ctx, s.Client()); err != nil {
		return err
	}
	st, _, err := s.Apply(ctx, o.input())
	if errors.Is(err, upgrade.ErrNoop) {
		_, err = fmt.Fprintln(out, err.Error())
		return err
	}
	if err != nil {
		return err
	}
	// The change is saved: a lost confirmation line must not report it as failed (nor stop --wait).
	_, _ = fmt.Fprintln(out, "upgrade "+st.RunID+" "+o.done)
	if o.Wait {
		return driveToEnd(ctx, s, p)
	}
	if o.Detach {
		return o.detach(ctx, s, o.streams.Out)
	}
	return nil
}

// confirm asks q on a terminal; without one it refuses instead of hanging.
func confirm(streams genericiooptions.IOStreams, q question) error {
	if !term.IsTerminal(streams.In) {
		return fmt.Errorf("refusing to %s without confirmation: no terminal to ask on; pass --yes", q.verb)
	}
	if _, err := fmt.Fprint(streams.Out, q.prompt); err != nil {
		return err
	}
	var answer string
	_, _ = fmt.Fscanln(streams.In, &answer)
	if answer != "y" && answer != "Y" && answer != "yes" {
		return errors.New(q.declined)
	}
	return nil
}
