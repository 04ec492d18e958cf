package cmd

import (
	"context"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/components"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// ComponentsOptions are the inputs of `components`.
type ComponentsOptions struct {
	// To is the target Kubernetes version the expectations are for ("" = none).
	To string
	// Namespaces are searched besides kube-system.
	Namespaces []string
	PrintFlags *genericclioptions.PrintFlags

	connect connector
	printer printers.ResourcePrinter
	streams genericiooptions.IOStreams
}

var _ commandOptions = (*ComponentsOptions)(nil)

// NewCmdComponents returns the components command.
func NewCmdComponents(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	return newCmdComponents(connectWith(f), streams)
}

func newCmdComponents(connect connector, streams genericiooptions.IOStreams) *cobra.Command {
	o := &ComponentsOptions{connect: connect, streams: streams, PrintFlags: documentPrintFlags()}
	cmd := &cobra.Command{
		Use:   "components",
		Short: "List the system components beside the kubelet and what a target version expects of them",
		Long: templates.LongDesc(`List kube-proxy, CoreDNS, the CNI, edge components (OpenYurt's yurthub,
			raven and yurt-manager, tunnel agents), metrics-server and every DaemonSet and
			Deployment of kube-system and of the namespaces given with -n, with the images
			each node or replica runs and any skew across nodes, and the container runtime
			of every node. With --to, what that Kubernetes version expects: kube-proxy at the
			target, CoreDNS as kubeadm deploys it, the runtime the pre-check accepts; each
			component or runtime that must or should be upgraded is named with the reason.
			Reads only.`),
		Example: templates.Examples(`
			# What runs, and what v1.36.3 needs upgraded
			kubectl edgeupgrade components --to v1.36.3

			# Include flannel's namespace; every pod and node in YAML
			kubectl edgeupgrade components -n kube-flannel -o yaml`),
		Args: cobra.NoArgs,
		RunE: runOptions(o),
	}
	cmd.Flags().StringVar(&o.To, "to", "", "target Kubernetes version the expectations are for")
	cmd.Flags().StringArrayVarP(&o.Namespaces, "namespace", "n", nil, "a namespace to search besides kube-system (repeatable)")
	o.PrintFlags.AddFlags(cmd)
	cmd.AddCommand(newCmdComponentsUpgrade(connect, streams, time.Now))
	return cmd
}

// Complete prepares the printer.
func (o *ComponentsOptions) Complete([]string) error {
	var err error
	if o.PrintFlags.OutputFormat != nil && *o.PrintFlags.OutputFormat != "" {
		o.printer, err = o.PrintFlags.ToPrinter()
	}
	return err
}

// Validate refuses a --to that is not a version before anything is read.
func (o *ComponentsOptions) Validate() error {
	if o.To == "" {
		return nil
	}
	_, err := upgrade.CanonicalVersion(o.To)
	return err
}

// Run reads the cluster and prints what it found.
func (o *ComponentsOptions) Run(ctx context.Context) error {
	c, err := o.connect()
	if err != nil {
		return err
	}
	in, err := components.Gather(ctx, c.Kube, components.Namespaces(o.Namespaces), o.To)
	if err != nil {
		return err
	}
	r, err := components.Build(in)
	if err != nil {
		return err
	}
	if o.printer != nil {
		return o.printer.PrintObj(r, o.streams.Out)
	}
	return r.PrintTable(o.streams.Out)
}
