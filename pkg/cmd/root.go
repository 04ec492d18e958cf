// Package cmd wires the cobra commands of kubectl-edgeupgrade. Each verb lives in its
// own file with an XOptions struct and NewCmdX, Complete, Validate and Run.
package cmd

import (
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/runner"
)

var rootLong = templates.LongDesc(`
	Upgrade the Kubernetes version of an edge cluster in place.

	The upgrade runs a pre-check, then upgrades control-plane nodes one at a time, then
	worker nodes in batches of 1, 2, 4, ... (at most 10% of the workers per batch), one
	node pool at a time. It can be paused, resumed and cancelled; a failed node pauses
	it. All state lives in the ConfigMap kube-upgrade/edgeupgrade and node work runs as
	privileged Jobs in the kube-upgrade namespace, so any machine can continue a run.`)

// NewCmdRoot returns the kubectl-edgeupgrade command tree.
func NewCmdRoot(streams genericiooptions.IOStreams) *cobra.Command {
	flags := genericclioptions.NewConfigFlags(true).WithDiscoveryBurst(300).WithDiscoveryQPS(50)
	// Everything lives in kube-upgrade: a -n/--namespace flag would be accepted and
	// ignored, so there is none (no --username/--password either).
	flags.Namespace = nil
	flags.WrapConfigFn = runner.TuneConfig
	cmd := &cobra.Command{
		Use:           "kubectl-edgeupgrade",
		Short:         "Upgrade an edge Kubernetes cluster in place, in batches",
		Long:          rootLong,
		SilenceUsage:  true,
		SilenceErrors: true,
		Annotations:   map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl edgeupgrade"},
	}
	flags.AddFlags(cmd.PersistentFlags())
	f := cmdutil.NewFactory(flags)

	cmd.AddCommand(
		NewCmdStart(f, streams),
		NewCmdPlan(f, streams),
		NewCmdStatus(f, streams),
		NewCmdPause(f, streams),
		NewCmdResume(f, streams),
		NewCmdCancel(f, streams),
		NewCmdDrive(f, streams),
		NewCmdLogs(f, streams),
		NewCmdHistory(f, streams),
		NewCmdReport(f, streams),
		NewCmdCheck(f, streams),
		NewCmdFleet(flags, streams),
		NewCmdComponents(f, streams),
		NewCmdVersion(streams),
		NewCmdCompletion(streams),
	)
	return cmd
}
