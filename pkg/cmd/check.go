package cmd

import (
	"context"
	"fmt"
	"slices"
	"strings"
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
	PrintFlags *genericclioptions.PrintFlags

	To              string
	Mode            string
	Selector        string
	Drain           bool
	SkipUnready     bool
	SkipChecks      []string
	Deep            bool
	DeepParallelism int
	ImageRegistry   string
	PreprocessImage string
	List            bool
	ProbeWebhookTLS bool

	f        cmdutil.Factory
	clients  func() (precheck.Clients, error)
	now      func() time.Time // nil = time.Now (tests set it)
	selector labels.Selector
	printer  printers.ResourcePrinter

	genericiooptions.IOStreams
}

// NewCheckOptions returns options printing a table to streams.
func NewCheckOptions(f cmdutil.Factory, streams genericiooptions.IOStreams) *CheckOptions {
	pf := documentPrintFlags()
	return &CheckOptions{PrintFlags: pf, Mode: string(upgrade.ModeAll), ImageRegistry: defaultRegistry, DeepParallelism: 20, f: f, IOStreams: streams}
}

// NewCmdCheck returns the `check` command.
func NewCmdCheck(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewCheckOptions(f, streams)
	cmd := &cobra.Command{
		Use:     "check [--to VERSION] [--deep] [--skip-check ID...] [-o json|yaml]",
		Short:   "Run the pre-upgrade checks and report what would block an upgrade",
		Long:    checkLong,
		Example: checkExample,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.To, "to", "", "Target Kubernetes version, e.g. v1.36.3 (checks that need one are skipped without it)")
	fs.StringVar(&o.Mode, "mode", o.Mode, "What the upgrade would touch: all, control-plane or nodes")
	fs.StringVarP(&o.Selector, "selector", "l", "", "Label selector of the nodes in scope (default: all nodes)")
	fs.BoolVar(&o.Drain, "drain", false, "Check as for an upgrade with --drain (budgets allowing no disruption become errors)")
	fs.BoolVar(&o.SkipUnready, "skip-unready", false, "Report NotReady workers as deferred (warning) instead of an error")
	fs.StringSliceVar(&o.SkipChecks, "skip-check", nil, "Check IDs to skip (repeatable; a trailing * matches a prefix, e.g. host-*)")
	fs.BoolVar(&o.Deep, "deep", false, "Also run the host checks: one short privileged Job per node in kube-upgrade")
	fs.IntVar(&o.DeepParallelism, "deep-parallelism", o.DeepParallelism, "Deep-check Jobs running at once")
	fs.StringVar(&o.ImageRegistry, "image-registry", o.ImageRegistry, "Registry and path of the edgeupgrade images (for air-gapped mirrors)")
	fs.StringVar(&o.PreprocessImage, "preprocess-image", "", "Image of the deep-check Jobs (default: <registry>/node-preprocess:<plugin version>)")
	fs.BoolVar(&o.ProbeWebhookTLS, "probe-webhook-tls", false, "Read webhook serving certificates by a TLS handshake from here (run on the cluster network, e.g. a master)")
	fs.BoolVar(&o.List, "list", false, "List the check IDs and titles, and exit")
	o.PrintFlags.AddFlags(cmd)
	return cmd
}

// Complete builds the clients and the printer.
func (o *CheckOptions) Complete() error {
	if format := o.outputFormat(); format != "" && format != "table" {
		p, err := o.PrintFlags.ToPrinter()
		if err != nil {
			return err
		}
		o.printer = p
	}
	if o.clients == nil {
		o.clients = func() (precheck.Clients, error) {
			rc, err := o.f.ToRESTConfig()
			if err != nil {
				return precheck.Clients{}, fmt.Errorf("read the kubeconfig: %w", err)
			}
			cs, err := clientFor(o.f)
			if err != nil {
				return precheck.Clients{}, err
			}
			return precheck.Clients{Kube: cs, Rest: rc}, nil
		}
	}
	return nil
}

// Validate rejects bad input before anything is read.
func (o *CheckOptions) Validate() error {
	if !slices.Contains(upgrade.Modes, upgrade.Mode(o.Mode)) {
		return fmt.Errorf("invalid --mode %q: use all, control-plane or nodes", o.Mode)
	}
	sel, err := labels.Parse(o.Selector)
	if err != nil {
		return fmt.Errorf("invalid --selector %q: %w", o.Selector, err)
	}
	if o.Selector != "" {
		o.selector = sel
	}
	if u := precheck.UnknownSkips(o.SkipChecks); len(u) > 0 {
		return fmt.Errorf("unknown check ID %s in --skip-check: kubectl edgeupgrade check --list shows the IDs", strings.Join(u, ", "))
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
	c, err := o.clients()
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
		DeepImage:       o.deepImage(),
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

func (o *CheckOptions) deepImage() string {
	u := upgradeFlags{ImageRegistry: o.ImageRegistry, PreprocessImage: o.PreprocessImage}
	return u.preprocessImage()
}

func (o *CheckOptions) outputFormat() string {
	if o.PrintFlags.OutputFormat == nil {
		return ""
	}
	return *o.PrintFlags.OutputFormat
}
