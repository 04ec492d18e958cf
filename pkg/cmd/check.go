package cmd

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/precheck"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

var (
	checkLong = templates.LongDesc(`
		Run the pre-check that "start" runs, without starting anything.

		It reads the cluster once (nodes, pods, services, disruption budgets, admission
		webhooks, aggregated APIs, Helm v3 release records, object metadata, the API
		server's /metrics and /readyz, and the kube-upgrade namespace) and reports every
		check as passed, failed or skipped. A failed check with severity error blocks
		"start"; warnings do not. Checks that need a target version are skipped without
		--to. With --deep it also runs one short privileged Job per node in scope in the
		kube-upgrade namespace (swap, disk, kubelet and runtime health, cgroup version,
		removed kubelet flags) and deletes the Jobs afterwards; nothing else is written.

		Exit status: 0 when no check failed with severity error, 2 when one did, 1 when
		the pre-check itself could not run. Every check ID and its fix is listed in
		docs/prechecks.md; --list prints them.`)

	checkExample = templates.Examples(`
		# Check whether the cluster can be upgraded to v1.36.3
		kubectl edgeupgrade check --to v1.36.3

		# Include the host checks, run as one Job per node
		kubectl edgeupgrade check --to v1.36.3 --deep

		# Check only the edge workers, deferring offline ones, as JSON
		kubectl edgeupgrade check --to v1.36.3 --mode nodes -l node-role.kubernetes.io/edge --skip-unready -o json

		# List the check IDs (for --skip-check)
		kubectl edgeupgrade check --list`)
)

// CheckOptions holds the flags and inputs of `kubectl edgeupgrade check`.
type CheckOptions struct {
	scopeFlags
	PrintFlags *genericclioptions.PrintFlags

	Deep            bool
	DeepParallelism int
	List            bool
	ProbeWebhookTLS bool

	connect  connector
	now      func() time.Time // nil = time.Now (tests set it)
	selector labels.Selector
	printer  printers.ResourcePrinter

	genericiooptions.IOStreams
}

// NewCheckOptions returns options printing a table to streams.
func NewCheckOptions(connect connector, streams genericiooptions.IOStreams) *CheckOptions {
	o := &CheckOptions{PrintFlags: documentPrintFlags(), DeepParallelism: 20, connect: connect, IOStreams: streams}
	o.Mode, o.ImageRegistry = string(upgrade.ModeAll), defaultRegistry
	return o
}

// NewCmdCheck returns the `check` command.
func NewCmdCheck(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewCheckOptions(connectWith(f), streams)
	cmd := &cobra.Command{
		Use:     "check [--to VERSION] [--deep] [--skip-check ID...] [-o json|yaml]",
		Short:   "Run the pre-upgrade checks and report what would block an upgrade",
		Long:    checkLong,
		Example: checkExample,
		Args:    cobra.NoArgs,
		RunE:    runOptions(o),
	}
	o.add(cmd, checkScopeHelp)
	fs := cmd.Flags()
	fs.BoolVar(&o.Deep, "deep", false, "Also run the host checks: one short privileged Job per node in kube-upgrade")
	fs.IntVar(&o.DeepParallelism, "deep-parallelism", o.DeepParallelism, "Deep-check Jobs running at once")
	fs.BoolVar(&o.ProbeWebhookTLS, "probe-webhook-tls", false, "Read webhook serving certificates by a TLS handshake from here (run on the cluster network, e.g. a master)")
	fs.BoolVar(&o.List, "list", false, "List the check IDs and titles, and exit")
	o.PrintFlags.AddFlags(cmd)
	return cmd
}

// Complete builds the printer.
func (o *CheckOptions) Complete(_ []string) error {
	if format := o.outputFormat(); format != "" && format != "table" {
		p, err := o.PrintFlags.ToPrinter()
		if err != nil {
			return err
		}
		o.printer = p
	}
	return nil
}

// Validate rejects bad input before anything is read.
func (o *CheckOptions) Validate() error {
	var err error
	if o.selector, err = o.validate(); err != nil {
		return err
	}
	if o.DeepParallelism < 1 {
		return fmt.Errorf("--deep-parallelism must be at least 1")
	}
	return nil
}

// Run runs the pre-check and prints the report. Blocking findings return the report's
// error (Report.Err, as start does), which wraps precheck.ErrBlocking (exit code 2).
func (o *CheckOptions) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if o.List {
		return o.list()
	}
	c, err := o.connect()
	if err != nil {
		return err
	}
	rep, err := precheck.Run(ctx, c, precheck.Options{
		TargetVersion:   o.To,
		Mode:            upgrade.Mode(o.Mode),
		Drain:           o.Drain,
		SkipUnready:     o.SkipUnready,
		Selector:        o.selector,
		Deep:            o.Deep,
		Skip:            o.SkipChecks,
		RuntimeVersion:  o.RuntimeVersion,
		DeepImage:       o.preprocessImage(),
		DeepParallelism: o.DeepParallelism,
		Now:             o.now,
		ProbeWebhookTLS: o.ProbeWebhookTLS,
	})
	if err != nil {
		return fmt.Errorf("pre-check could not run: %w", err)
	}
	if o.printer != nil {
		err = o.printer.PrintObj(rep, o.Out)
	} else {
		err = precheck.PrintTable(o.Out, rep)
	}
	if err != nil {
		return err
	}
	return rep.Err()
}

func (o *CheckOptions) list() error {
	w := printers.GetNewTabWriter(o.Out)
	if _, err := fmt.Fprintln(w, "CHECK\tSEVERITY\tTITLE"); err != nil {
		return err
	}
	for _, c := range precheck.Checks() {
		if _, err := fmt.Fprintf(w, "%s\t%s\t%s\n", c.ID, c.Severity, c.Title); err != nil {
			return err
		}
	}
	return w.Flush()
}

func (o *CheckOptions) outputFormat() string {
	if o.PrintFlags.OutputFormat == nil {
		return ""
	}
	return *o.PrintFlags.OutputFormat
}
