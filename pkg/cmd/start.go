package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/nodes"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/precheck"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/runner"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/store"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/view"
)

var (
	startLong = templates.LongDesc(`
		Start an upgrade of the cluster to VERSION.

		The pre-check runs first and refuses to start on errors. Then control-plane nodes
		are upgraded one at a time, then workers in batches of 1, 2, 4, ... capped at 10%
		of the workers (or --max-batch-size), one node pool at a time. The run's state is
		written to the ConfigMap kube-upgrade/edgeupgrade and each node is upgraded by a
		privileged Job in kube-upgrade. Without --wait, start records the run and starts
		the first batch; later batches start whenever an edgeupgrade command runs
		(status --watch and resume --wait keep it going), from any machine.`)
	startExample = templates.Examples(`
		# Upgrade the whole cluster to v1.36.3 and follow it to the end
		kubectl edgeupgrade start --to v1.36.3 --wait

		# Upgrade only the worker nodes of the pools labelled region=north, 3 at most at once
		kubectl edgeupgrade start --to v1.36.3 --mode nodes --selector region=north --max-batch-size 3

		# Show what would happen without changing anything
		kubectl edgeupgrade start --to v1.36.3 --dry-run`)
)

// StartOptions are the inputs of `start`.
type StartOptions struct {
	upgradeFlags
	detachFlags
	Wait   bool
	DryRun bool
	drive  driveFlags
	// checked is the pre-check's summary, recorded in the run's PreCheckPassed Event
	// (the report shows it).
	checked string

	selector labels.Selector
	connect  connector
	clients  precheck.Clients
	client   kubernetes.Interface
	streams  genericiooptions.IOStreams
	now      func() time.Time
}

// NewCmdStart returns the start command.
func NewCmdStart(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	return newCmdStart(connectWith(f), streams, time.Now)
}

// NewStartOptions returns the options of start; now is the clock (time.Now outside tests).
func NewStartOptions(connect connector, streams genericiooptions.IOStreams, now func() time.Time) *StartOptions {
	return &StartOptions{connect: connect, streams: streams, now: now}
}

func newCmdStart(connect connector, streams genericiooptions.IOStreams, now func() time.Time) *cobra.Command {
	o := NewStartOptions(connect, streams, now)
	cmd := &cobra.Command{
		Use:     "start --to VERSION",
		Short:   "Start an upgrade after a passing pre-check",
		Long:    startLong,
		Example: startExample,
		Args:    cobra.NoArgs,
		RunE:    runOptions(o),
	}
	o.upgradeFlags.add(cmd)
	cmd.Flags().BoolVar(&o.Wait, "wait", false, "Keep driving the upgrade until it completes or pauses, with a live view on a terminal")
	cmd.Flags().BoolVar(&o.DryRun, "dry-run", false, "Run the pre-check and print the plan without starting")
	o.drive.add(cmd, true)
	o.detachFlags.add(cmd, &o.ImageRegistry)
	return cmd
}

// Complete connects to the cluster.
func (o *StartOptions) Complete(_ []string) error {
	var err error
	o.clients, err = o.connect()
	o.client = o.clients.Kube
	return err
}

// Validate checks the flags alone.
func (o *StartOptions) Validate() error {
	if err := o.check(o.Wait); err != nil {
		return err
	}
	if err := o.drive.validate(); err != nil {
		return err
	}
	if o.drive.Output != "" && !o.Wait {
		return fmt.Errorf("-o json streams the status while driving: add --wait")
	}
	if err := upgrade.ValidateSpec(o.spec()); err != nil {
		return err
	}
	var err error
	o.selector, err = o.validate()
	return err
}

// human is where lines meant for people go: stderr when stdout carries JSON.
func (o *StartOptions) human() io.Writer {
	if o.drive.Output != "" {
		return o.streams.ErrOut
	}
	return o.streams.Out
}

// Run pre-checks, records the run (write-ahead) and starts its first batch.
func (o *StartOptions) Run(ctx context.Context) error {
	out := o.human()
	if err := o.ready(ctx, o.client); err != nil {
		return err
	}
	prev, prevCM, err := runner.Load(ctx, o.client)
	switch {
	case errors.Is(err, store.ErrNoRun):
	case err != nil:
		return err
	default:
		if prev, err = o.settle(ctx, prev); err != nil {
			return err
		}
		if !prev.Phase.Terminal() {
			return fmt.Errorf("an upgrade is already running (run %s to %s, %s); follow it with kubectl edgeupgrade status, or pause and cancel it first",
				prev.RunID, prev.Spec.TargetVersion, prev.Phase)
		}
		if _, prevCM, err = runner.Load(ctx, o.client); err != nil {
			return err
		}
	}
	first, nodes, err := o.preCheck(ctx, runner.NewRunID(o.now()))
	if errors.Is(err, upgrade.ErrNothingToDo) {
		_, err = fmt.Fprintln(out, err.Error())
		return err
	}
	if err != nil {
		return err
	}
	plan := upgrade.PlanRun(first, nodes)
	if err := printPlanSummary(out, first, plan); err != nil {
		return err
	}
	if o.DryRun {
		_, err := fmt.Fprintln(out, "dry run: nothing was changed")
		return err
	}
	prevRunID := ""
	if prevCM != nil {
		prevRunID = prev.RunID
	}
	opts := runner.SessionOptions{Now: o.now, OnEvent: progressPrinter(out)}
	var p *view.Progress
	if o.Wait {
		p = o.drive.progress(o.streams.Out, o.now)
		opts.OnEvent = p.OnEvent
	}
	s, cm, err := runner.Begin(ctx, o.client, prevCM, prevRunID, first, opts)
	if apierrors.IsAlreadyExists(err) || apierrors.IsConflict(err) {
		return fmt.Errorf("another upgrade was started at the same time; see kubectl edgeupgrade status")
	}
	if cm != nil {
		// The run is recorded: start it even if this line cannot be written.
		_, _ = fmt.Fprintf(out, "upgrade %s started: %s → %s\n", first.RunID, first.Spec.FromVersion, first.Spec.TargetVersion)
	}
	if err != nil {
		return err
	}
	defer s.Close()
	return o.begin(ctx, s, first, cm, p)
}

// settle reconciles an existing run, so an expired pause is cancelled before start
// decides whether a run is still live.
func (o *StartOptions) settle(ctx context.Context, prev upgrade.State) (upgrade.State, error) {
	if prev.Phase.Terminal() {
		return prev, nil
	}
	cache, err := cacheOptions(o.clients, false)
	if err != nil {
		return prev, err
	}
	s, err := runner.Open(ctx, o.client, runner.SessionOptions{Cache: cache, Now: o.now})
	if err != nil {
		return prev, err
	}
	defer s.Close()
	st, _, err := s.Reconcile(ctx)
	return st, err
}

func (o *StartOptions) begin(ctx context.Context, s *runner.Session, first upgrade.State, cm *corev1.ConfigMap, p *view.Progress) error {
	s.Emit(ctx, cm, upgrade.Event{Type: upgrade.Normal, Reason: upgrade.ReasonRunStarted,
		Message: fmt.Sprintf("upgrade %s started: %s to %s, mode %s, cap %d", first.RunID, first.Spec.FromVersion, first.Spec.TargetVersion, first.Spec.Mode, first.Cap)})
	s.Emit(ctx, cm, upgrade.Event{Type: upgrade.Normal, Reason: upgrade.ReasonPreCheck, Message: "pre-check passed: " + o.checked})
	if !o.Wait {
		_, _, err := s.Reconcile(ctx)
		if err == nil && o.Detach {
			return o.detach(ctx, s, o.streams.Out)
		}
		if err == nil {
			// A hint after the run started: a lost line must not report the start as failed.
			_, _ = fmt.Fprintln(o.streams.Out, "follow it with: kubectl edgeupgrade status --watch")
		}
		return err
	}
	return driveToEnd(ctx, s, p)
}

// imageNote warns, when --upgrade-image names the one image of every node and the run
// upgrades containerd, that this image must carry containerd: the plugin cannot look
// into an image, and the agent only finds out on the node (its stage step fails,
// nothing changed). Empty otherwise.
func (o *StartOptions) imageNote(sp upgrade.Spec) string {
	if o.UpgradeImage == "" || sp.RuntimeVersion == "" {
		return ""
	}
	return fmt.Sprintf("note: the run upgrades containerd to %s on nodes running an older one, from --upgrade-image %s: "+
		"it must carry containerd %s in /usr/local/containerd/bin (make images builds it as upgrade:%s-containerd-%s)\n",
		sp.RuntimeVersion, o.UpgradeImage, sp.RuntimeVersion, sp.TargetVersion, sp.RuntimeVersion)
}

// preCheck reads the cluster once (the pre-check's view), builds the run's first state
// from that view's nodes and server version, and refuses to start on a blocking
// pre-check result. A cluster already at the target is ErrNothingToDo, before any check.
func (o *StartOptions) preCheck(ctx context.Context, runID string) (upgrade.State, []upgrade.Node, error) {
	sp := o.spec()
	v, err := precheck.Gather(ctx, o.clients, precheck.Options{
		TargetVersion: o.To, Mode: upgrade.Mode(o.Mode), Drain: o.Drain, SkipUnready: o.SkipUnready,
		Selector: o.selector, Skip: o.SkipChecks, DeepImage: o.preprocessImage(), Now: o.now,
		RuntimeVersion: o.RuntimeVersion,
	})
	if err != nil {
		return upgrade.State{}, nil, fmt.Errorf("pre-check could not run: %w", err)
	}
	sp.RuntimeVersion = precheck.PlannedRuntime(v)
	sp.RuntimeImage = o.runtimeImage(sp.RuntimeVersion)
	cluster := nodes.Cluster(v.ServerGitVersion, v.Nodes, o.selector, sp.PoolLabel)
	first, err := upgrade.NewState(sp, runID, cluster, o.now().UTC())
	if err != nil {
		return first, nil, err
	}
	rep := precheck.Finish(ctx, o.clients, v)
	blocking := rep.Err()
	o.checked = rep.Summary()
	if blocking == nil {
		_, err := fmt.Fprintf(o.human(), "pre-check: %s\n%s", rep.Summary(), o.imageNote(sp))
		return first, cluster.Nodes, err
	}
	_ = precheck.PrintTable(o.streams.ErrOut, rep)
	return first, nil, &ExitError{Code: ExitPreCheck, Err: blocking}
}
