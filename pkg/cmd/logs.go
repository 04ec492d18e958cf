package cmd

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/internal/words"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/runner"
)

// LogsOptions are the inputs of `logs`.
type LogsOptions struct {
	Node      string
	Container string
	Tail      int64

	connect connector
	streams genericiooptions.IOStreams
	// readLogs streams one container's log (runner.PodLogs; tests replace it).
	readLogs func(ctx context.Context, cs kubernetes.Interface, pod, container string, tail int64) (io.ReadCloser, error)
}

// NewCmdLogs returns the logs command.
func NewCmdLogs(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	return newCmdLogs(f, connectWith(f), streams)
}

// newCmdLogs takes f for node name completion only.
// NewLogsOptions returns the options of logs.
func NewLogsOptions(connect connector, streams genericiooptions.IOStreams) *LogsOptions {
	return &LogsOptions{connect: connect, streams: streams, Tail: -1, readLogs: runner.PodLogs}
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
	runID, pods, err := runner.NodePods(ctx, c.Kube, o.Node)
	if err != nil {
		return err
	}
	if len(pods) == 0 {
		return fmt.Errorf("no upgrade pod for node %q in run %s: it has not started yet, or its Job was cleaned up", o.Node, runID)
	}
	var unread []string
	for _, p := range pods {
		for _, ctr := range []string{job.ContainerPreprocess, job.ContainerUpgrade} {
			if o.Container != "" && o.Container != ctr {
				continue
			}
			read, err := o.printContainer(ctx, c.Kube, p, ctr)
			if err != nil {
				return err
			}
			if !read {
				unread = append(unread, p.Name+"/"+ctr)
			}
		}
	}
	if len(unread) > 0 && len(unread) == len(pods)*containers(o.Container) {
		return fmt.Errorf("no log of node %q could be read (%s): its kubelet may be unreachable; retry, or read them on the node", o.Node, words.List(unread, 4))
	}
	return nil
}

// containers is how many containers of each pod logs prints.
func containers(only string) int {
	if only != "" {
		return 1
	}
	return 2
}

// printContainer prints one container's log under a header, and reports whether it
// could be read: an unreadable one is noted inline, so the others still print.
func (o *LogsOptions) printContainer(ctx context.Context, cs kubernetes.Interface, p corev1.Pod, c string) (bool, error) {
	if _, err := fmt.Fprintf(o.streams.Out, "==> pod %s, container %s <==\n", p.Name, c); err != nil {
		return false, err
	}
	rc, err := o.readLogs(ctx, cs, p.Name, c, o.Tail)
	if err != nil {
		_, err = fmt.Fprintf(o.streams.Out, "(no logs: %v)\n", err)
		return false, err
	}
	defer func() { _ = rc.Close() }()
	_, err = io.Copy(o.streams.Out, rc)
	return true, err
}
