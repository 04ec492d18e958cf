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

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/report"
)

// HistoryOptions are the inputs of `history`.
type HistoryOptions struct {
	Node       string
	PrintFlags *genericclioptions.PrintFlags

	connect connector
	printer printers.ResourcePrinter
	streams genericiooptions.IOStreams
	now     func() time.Time
}

// NewCmdHistory returns the history command.
func NewCmdHistory(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	return newCmdHistory(completeNodeNames(f), connectWith(f), streams, time.Now)
}

// NewHistoryOptions returns the options of history; now is the clock (time.Now outside tests).
func NewHistoryOptions(connect connector, streams genericiooptions.IOStreams, now func() time.Time) *HistoryOptions {
	return &HistoryOptions{connect: connect, streams: streams, now: now, PrintFlags: documentPrintFlags()}
}

func newCmdHistory(complete completeFunc, connect connector, streams genericiooptions.IOStreams, now func() time.Time) *cobra.Command {
	o := NewHistoryOptions(connect, streams, now)
	cmd := &cobra.Command{
		Use:   "history [NODE]",
		Short: "Show what the current or last run did to each node, or to one node in full",
		Long: templates.LongDesc(`Show the nodes of the current or last run: batch, start, end, duration, result,
			the time of the agent's preprocess and upgrade containers, and the kubelet version
			before and after. With NODE, that node in full, with the agent's steps and their
			timings read from its containers' logs. Reads only; the edgeupgrade-viewer role is
			enough.`),
		Example: templates.Examples(`
			# Every node of the run
			kubectl edgeupgrade history

			# One node, with the agent's steps
			kubectl edgeupgrade history edge-a-007`),
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: complete,
		RunE:              runOptions(o),
	}
	o.PrintFlags.AddFlags(cmd)
	return cmd
}

// Complete takes the node from the arguments and prepares the printer.
func (o *HistoryOptions) Complete(args []string) error {
	if len(args) > 0 {
		o.Node = args[0]
	}
	var err error
	if o.PrintFlags.OutputFormat != nil && *o.PrintFlags.OutputFormat != "" {
		o.printer, err = o.PrintFlags.ToPrinter()
	}
	return err
}

// Validate has no flag to check beyond the printer's.
func (o *HistoryOptions) Validate() error { return nil }

// Run reads the run and prints the history.
func (o *HistoryOptions) Run(ctx context.Context) error {
	c, err := o.connect()
	if err != nil {
		return err
	}
	r, err := report.Collect(ctx, c.Kube, o.now())
	if err != nil {
		return err
	}
	h, err := report.NewHistory(r, o.Node)
	if err != nil {
		return err
	}
	var notes []string
	if o.Node != "" {
		notes = h.LoadSteps(ctx, c.Kube)
	}
	for _, n := range notes {
		if _, err := fmt.Fprintln(o.streams.ErrOut, "note: "+n); err != nil {
			return err
		}
	}
	switch {
	case o.printer != nil:
		return o.printer.PrintObj(h, o.streams.Out)
	case o.Node != "":
		return h.PrintNode(o.streams.Out, h.Nodes[0])
	}
	if len(h.Nodes) == 0 {
		_, err := fmt.Fprintf(o.streams.Out, "no node has started in run %s yet\n", h.RunID)
		return err
	}
	return h.PrintTable(o.streams.Out)
}
