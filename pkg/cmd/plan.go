package cmd

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/client-go/kubernetes"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/internal/words"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/runner"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/status"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// PlanObject is `plan -o json|yaml`.
type PlanObject struct {
	metav1.TypeMeta `json:",inline"`
	FromVersion     string `json:"fromVersion"`
	TargetVersion   string `json:"targetVersion"`
	Mode            string `json:"mode"`
	Workers         int    `json:"workers"`
	Masters         int    `json:"masters"`
	Cap             int    `json:"cap"`
	upgrade.Plan    `json:",inline"`
}

// DeepCopyObject makes PlanObject printable by cli-runtime printers.
func (p *PlanObject) DeepCopyObject() runtime.Object { c := *p; return &c }

func newPlanObject(st upgrade.State, p upgrade.Plan) *PlanObject {
	return &PlanObject{
		TypeMeta:    metav1.TypeMeta{APIVersion: status.GroupVersion.String(), Kind: "UpgradePlan"},
		FromVersion: st.Spec.FromVersion, TargetVersion: st.Spec.TargetVersion, Mode: string(st.Spec.Mode),
		Workers: st.Workers, Masters: st.Masters, Cap: st.Cap, Plan: p,
	}
}

var planExample = templates.Examples(`
	# Print the masters order and every batch of an upgrade to v1.36.3
	kubectl edgeupgrade plan --to v1.36.3

	# The same plan with batches of at most 3 nodes, as JSON
	kubectl edgeupgrade plan --to v1.36.3 --max-batch-size 3 -o json`)

// PlanOptions are the inputs of `plan`.
type PlanOptions struct {
	upgradeFlags
	PrintFlags *genericclioptions.PrintFlags

	connect connector
	client  kubernetes.Interface
	printer printers.ResourcePrinter
	streams genericiooptions.IOStreams
}

// NewCmdPlan returns the plan command.
func NewCmdPlan(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	return newCmdPlan(connectWith(f), streams)
}

// NewPlanOptions returns the options of plan.
func NewPlanOptions(connect connector, streams genericiooptions.IOStreams) *PlanOptions {
	return &PlanOptions{connect: connect, streams: streams, PrintFlags: documentPrintFlags()}
}

func newCmdPlan(connect connector, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewPlanOptions(connect, streams)
	cmd := &cobra.Command{
		Use:     "plan --to VERSION",
		Short:   "Print the masters order and every batch of an upgrade without starting it",
		Long:    templates.LongDesc(`Print what start would do on the cluster as it is now: the control-plane nodes in upgrade order and every worker batch with its pool and nodes. Nothing is written and no pre-check runs.`),
		Example: planExample,
		Args:    cobra.NoArgs,
		RunE:    runOptions(o),
	}
	o.add(cmd)
	o.PrintFlags.AddFlags(cmd)
	return cmd
}

// Complete connects and prepares the printer.
func (o *PlanOptions) Complete(_ []string) error {
	c, err := o.connect()
	if err != nil {
		return err
	}
	o.client = c.Kube
	if o.PrintFlags.OutputFormat != nil && *o.PrintFlags.OutputFormat != "" {
		o.printer, err = o.PrintFlags.ToPrinter()
	}
	return err
}

// Validate checks the flags alone.
func (o *PlanOptions) Validate() error {
	if err := upgrade.ValidateSpec(o.spec()); err != nil {
		return err
	}
	_, err := o.validate()
	return err
}

// Run prints the plan.
func (o *PlanOptions) Run(ctx context.Context) error {
	sp := o.spec()
	cluster, err := runner.ObserveCluster(ctx, o.client, sp)
	if err != nil {
		return err
	}
	first, err := upgrade.NewState(sp, "plan", cluster, time.Now().UTC())
	if err != nil {
		return err
	}
	plan := upgrade.PlanRun(first, cluster.Nodes)
	if o.printer != nil {
		return o.printer.PrintObj(newPlanObject(first, plan), o.streams.Out)
	}
	if err := printPlanSummary(o.streams.Out, first, plan); err != nil {
		return err
	}
	return printPlanTable(o.streams.Out, plan)
}

func printPlanSummary(w io.Writer, st upgrade.State, p upgrade.Plan) error {
	masters, batches := 0, 0
	for _, b := range p.Batches {
		if b.Role == upgrade.RoleMaster {
			masters++
		} else {
			batches++
		}
	}
	if _, err := fmt.Fprintf(w, "plan: %s → %s (mode %s): %d control-plane %s one at a time, then %d workers in %d %s (cap %d)\n",
		st.Spec.FromVersion, st.Spec.TargetVersion, st.Spec.Mode, masters, words.Plural(masters, "node", "nodes"),
		st.Workers, batches, words.Plural(batches, "batch", "batches"), st.Cap); err != nil {
		return err
	}
	if len(p.Deferred) > 0 {
		if _, err := fmt.Fprintf(w, "deferred (offline, NotReady; %d at most before the run pauses): %s\n", p.MaxDeferred, strings.Join(p.Deferred, ", ")); err != nil {
			return err
		}
	}
	if _, err := fmt.Fprintf(w, "gate: %s\n", p.Gate); err != nil {
		return err
	}
	if p.Blocked != "" {
		if _, err := fmt.Fprintf(w, "the run would pause: %s\n", p.Blocked); err != nil {
			return err
		}
	}
	return nil
}

func printPlanTable(w io.Writer, p upgrade.Plan) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if _, err := fmt.Fprintln(tw, "BATCH\tROLE\tPOOL\tSIZE\tNODES"); err != nil {
		return err
	}
	for _, b := range p.Batches {
		if _, err := fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", upgrade.BatchLabel(b.Role, b.Index), b.Role, poolName(b.Pool), len(b.Nodes), strings.Join(b.Nodes, ",")); err != nil {
			return err
		}
	}
	return tw.Flush()
}
