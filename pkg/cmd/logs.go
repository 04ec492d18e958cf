package cmd

import (
	"context"
	"fmt"
	"io"
	"sort"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"
	"k8s.io/utils/ptr"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/store"
)

// LogsOptions are the inputs of `logs`.
type LogsOptions struct {
	Node      string
	Container string
	Tail      int64

	connect connector
	streams genericiooptions.IOStreams
}

// NewCmdLogs returns the logs command.
func NewCmdLogs(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	return newCmdLogs(f, connectWith(f), streams)
}

// newCmdLogs takes f for node name completion only.
// NewLogsOptions returns the options of logs.
func NewLogsOptions(connect connector, streams genericiooptions.IOStreams) *LogsOptions {
	return &LogsOptions{connect: connect, streams: streams, Tail: -1}
}

func newCmdLogs(f cmdutil.Factory, connect connector, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewLogsOptions(connect, streams)
	cmd := &cobra.Command{
		Use:   "logs NODE",
		Short: "Print the preprocess and upgrade logs of a node in the current run",
		Long:  templates.LongDesc(`Print the logs of the preprocess init container, then of the upgrade container, of NODE's upgrade Job in the current run. Failed pods stay in kube-upgrade until resume --retry-failed or the next run, so their logs remain readable.`),
		Example: templates.Examples(`
			# Why did edge-a-007 fail?
			kubectl edgeupgrade logs edge-a-007`),
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeNodeNames(f),
		RunE:              runOptions(o),
	}
	cmd.Flags().StringVarP(&o.Container, "container", "c", "", "Only this container: preprocess or upgrade")
	cmd.Flags().Int64Var(&o.Tail, "tail", o.Tail, "Lines of recent log to show per container (-1: all)")
	_ = cmd.RegisterFlagCompletionFunc("container", completeContainers)
	return cmd
}

// Complete takes the node from the arguments.
func (o *LogsOptions) Complete(args []string) error {
	if len(args) > 0 {
		o.Node = args[0]
	}
	return nil
}

// Validate refuses an unknown container before anything is read.
func (o *LogsOptions) Validate() error {
	if o.Container != "" && o.Container != job.ContainerPreprocess && o.Container != job.ContainerUpgrade {
		return fmt.Errorf("unknown --container %q: use preprocess or upgrade", o.Container)
	}
	return nil
}

// Run prints the logs.
func (o *LogsOptions) Run(ctx context.Context) error {
	c, err := o.connect()
	if err != nil {
		return err
	}
	cs := c.Kube
	st, _, err := store.Store{Client: cs}.Get(ctx)
	if err != nil {
		return err
	}
	sel := job.NodeUpgradeSelector(st.RunID) + "," + job.LabelNodeHash + "=" + job.NodeHash(o.Node)
	pods, err := cs.CoreV1().Pods(job.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return fmt.Errorf("list the upgrade pods of node %q: %w", o.Node, err)
	}
	if len(pods.Items) == 0 {
		return fmt.Errorf("no upgrade pod for node %q in run %s: it has not started yet, or its Job was cleaned up", o.Node, st.RunID)
	}
	sort.Slice(pods.Items, func(i, j int) bool { return pods.Items[i].CreationTimestamp.Before(&pods.Items[j].CreationTimestamp) })
	for _, p := range pods.Items {
		for _, c := range []string{job.ContainerPreprocess, job.ContainerUpgrade} {
			if o.Container == "" || o.Container == c {
				if err := o.printContainer(ctx, cs.CoreV1().Pods(job.Namespace), p, c); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

type podLogs = typedcorev1.PodInterface

func (o *LogsOptions) printContainer(ctx context.Context, pods podLogs, p corev1.Pod, c string) error {
	if _, err := fmt.Fprintf(o.streams.Out, "==> pod %s, container %s <==\n", p.Name, c); err != nil {
		return err
	}
	opts := &corev1.PodLogOptions{Container: c}
	if o.Tail >= 0 {
		opts.TailLines = ptr.To(o.Tail)
	}
	rc, err := pods.GetLogs(p.Name, opts).Stream(ctx)
	if err != nil {
		_, err = fmt.Fprintf(o.streams.Out, "(no logs: %v)\n", err)
		return err
	}
	defer func() { _ = rc.Close() }()
	_, _ = io.Copy(o.streams.Out, rc)
	return nil
}
