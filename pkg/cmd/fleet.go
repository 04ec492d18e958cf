package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/fleet"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// ExitUnreachable: the fleet cannot go on because clusters did not answer (they count
// as not done); the other clusters went as far as they could.
const ExitUnreachable = 6

// FleetOptions are the inputs of the fleet commands.
type FleetOptions struct {
	File        string
	Output      string
	Timeout     time.Duration
	Interval    time.Duration
	Wait        bool
	Reason      string
	RetryFailed bool
	SkipFailed  bool

	kubeconfig *string // the root's --kubeconfig: the kubeconfig of `context:` clusters
	context    *string // the root's --context, which the fleet file replaces
	streams    genericiooptions.IOStreams
	now        func() time.Time
	run        func(context.Context) error

	fleet   *fleet.File
	targets []fleet.Target
}

// NewCmdFleet returns the fleet command and its verbs. Of the root's connection flags,
// --kubeconfig is the kubeconfig of the file's `context:` clusters; --context is
// refused (the file names each cluster's).
func NewCmdFleet(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "fleet",
		Short: "Upgrade many clusters in waves, from a fleet file",
		Long: templates.LongDesc(`
			Upgrade the clusters of a fleet file wave by wave: every cluster of a wave is
			pre-checked, then at most maxConcurrent of them run detached upgrades at once;
			the next wave starts once every cluster of the wave is done and its soak has
			passed. A paused or failed cluster stops the fleet from starting anything new.
			The fleet keeps no state: every command reads each cluster's own state
			ConfigMap, so any machine with the file and the kubeconfigs continues it.`),
	}
	cmd.AddCommand(
		newCmdFleetVerb(flags, streams, "plan", "Show every cluster's version and pre-check, the waves, and what start would do", (*FleetOptions).plan),
		newCmdFleetVerb(flags, streams, "start", "Start the next clusters of the fleet; --wait follows the fleet to its end", (*FleetOptions).start),
		newCmdFleetVerb(flags, streams, "status", "Show the fleet, read from each cluster's state ConfigMap", (*FleetOptions).status),
		newCmdFleetVerb(flags, streams, "pause", "Pause every running cluster run of the fleet", (*FleetOptions).pause),
		newCmdFleetVerb(flags, streams, "resume", "Resume every paused cluster run of the fleet, detached", (*FleetOptions).resume),
	)
	return cmd
}

func newCmdFleetVerb(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams, verb, short string, run func(*FleetOptions, context.Context) error) *cobra.Command {
	o := &FleetOptions{kubeconfig: flags.KubeConfig, context: flags.Context, streams: streams, now: time.Now}
	o.run = func(ctx context.Context) error { return run(o, ctx) }
	cmd := &cobra.Command{
		Use:     verb + " -f FILE",
		Short:   short,
		Example: templates.Examples(fleetExamples[verb]),
		Args:    cobra.NoArgs,
		RunE:    runOptions(o),
	}
	fs := cmd.Flags()
	fs.StringVarP(&o.File, "filename", "f", "", "The fleet file")
	_ = cmd.MarkFlagRequired("filename")
	_ = cmd.MarkFlagFilename("filename", "yaml", "yml")
	fs.DurationVar(&o.Timeout, "cluster-timeout", 10*time.Second, "How long one read of a cluster may take before it is reported unreachable")
	switch verb {
	case "plan", "status":
		fs.StringVarP(&o.Output, "output", "o", "", "Output format: json (default: a table)")
	case "start":
		fs.BoolVar(&o.Wait, "wait", false, "Follow the fleet wave by wave until it completes or stops")
		fs.DurationVar(&o.Interval, "interval", 2*time.Second, "With --wait: how often every cluster is read")
	case "pause":
		fs.StringVar(&o.Reason, "reason", "fleet paused", "Why the runs are paused (shown in each cluster's status)")
	case "resume":
		fs.BoolVar(&o.RetryFailed, "retry-failed", false, "Delete the failed Jobs and pods and upgrade those nodes again")
		fs.BoolVar(&o.SkipFailed, "skip-failed", false, "Leave the failed nodes behind; their runs end Incomplete")
		cmd.MarkFlagsMutuallyExclusive("retry-failed", "skip-failed")
	}
	return cmd
}

var fleetExamples = map[string]string{
	"plan":   "# Every cluster's version and pre-check, and what start would do\nkubectl edgeupgrade fleet plan -f fleet.yaml",
	"start":  "# Upgrade the fleet, following it wave by wave\nkubectl edgeupgrade fleet start -f fleet.yaml --wait\n\n# Start what can start now and return; run it again to go on\nkubectl edgeupgrade fleet start -f fleet.yaml",
	"status": "# Where every cluster is\nkubectl edgeupgrade fleet status -f fleet.yaml -o json",
	"pause":  "kubectl edgeupgrade fleet pause -f fleet.yaml --reason \"change freeze\"",
	"resume": "# After fixing a failed node\nkubectl edgeupgrade fleet resume -f fleet.yaml --retry-failed",
}

// Complete reads the fleet file and resolves its clusters' kubeconfigs and contexts.
func (o *FleetOptions) Complete(_ []string) error {
	if o.context != nil && *o.context != "" {
		return errors.New("--context does not apply to fleet commands: the fleet file names each cluster's context")
	}
	f, err := fleet.Read(o.File)
	if err != nil {
		return err
	}
	kc := ""
	if o.kubeconfig != nil {
		kc = *o.kubeconfig
	}
	if o.targets, err = f.Resolve(kc); err != nil {
		return fmt.Errorf("%s: %w", o.File, err)
	}
	o.fleet = f
	return nil
}

// Validate checks the flags.
func (o *FleetOptions) Validate() error {
	if o.Output != "" && o.Output != "json" {
		return fmt.Errorf("unknown -o %q: use json, or omit it for a table", o.Output)
	}
	if o.Timeout <= 0 || (o.Wait && o.Interval <= 0) {
		return errors.New("--cluster-timeout and --interval must be positive")
	}
	return nil
}

// Run runs the verb.
func (o *FleetOptions) Run(ctx context.Context) error { return o.run(ctx) }

// decide reads every cluster and decides; extra overrides what this process learnt
// (a failed start) for clusters that answered.
func (o *FleetOptions) decide(ctx context.Context, extra map[string]string) (fleet.Decision, []fleet.Observed) {
	obs := observeAll(ctx, o.fleet, o.targets, o.Timeout)
	for i, t := range o.targets {
		if msg, ok := extra[t.Name]; ok && obs[i].Err == "" {
			obs[i].StartErr = msg
		}
	}
	return fleet.Decide(o.fleet, o.targets, obs, o.now()), obs
}

// status prints the fleet as every cluster's ConfigMap has it; it writes nothing.
func (o *FleetOptions) status(ctx context.Context) error {
	d, _ := o.decide(ctx, nil)
	if o.Output == "json" {
		return writeJSON(o.streams.Out, o.view(d, nil))
	}
	return o.printTable(o.streams.Out, d, nil)
}

// pause pauses every running cluster of the fleet.
func (o *FleetOptions) pause(ctx context.Context) error {
	d, _ := o.decide(ctx, nil)
	return o.eachIn(ctx, d, fleet.Running, "paused", func(t fleet.Target) []string { return []string{"--reason", o.Reason} }, buildPause)
}

// resume resumes every paused cluster of the fleet, handing each to its in-cluster driver.
func (o *FleetOptions) resume(ctx context.Context) error {
	d, _ := o.decide(ctx, nil)
	return o.eachIn(ctx, d, fleet.Paused, "resumed", func(t fleet.Target) []string {
		a := []string{"--detach"}
		if t.Options.DriverImage != "" {
			a = append(a, "--driver-image", t.Options.DriverImage)
		}
		if t.Options.ImageRegistry != "" {
			a = append(a, "--image-registry", t.Options.ImageRegistry)
		}
		if o.RetryFailed {
			a = append(a, "--retry-failed")
		}
		if o.SkipFailed {
			a = append(a, "--skip-failed")
		}
		return a
	}, buildResume)
}

func buildPause(c connector, s genericiooptions.IOStreams) *cobra.Command  { return newCmdPause(c, s) }
func buildResume(c connector, s genericiooptions.IOStreams) *cobra.Command { return newCmdResume(c, s) }

// eachIn runs a verb on every cluster in phase, at once, and reports each; clusters
// that did not answer are reported and make the exit code ExitUnreachable.
func (o *FleetOptions) eachIn(ctx context.Context, d fleet.Decision, phase fleet.Phase, done string,
	args func(fleet.Target) []string, build func(connector, genericiooptions.IOStreams) *cobra.Command) error {
	var names, lost []string
	for _, c := range d.Clusters {
		switch c.Phase {
		case phase:
			names = append(names, c.Name)
		case fleet.Unreachable:
			lost = append(lost, c.Name)
			_, _ = fmt.Fprintf(o.streams.Out, "%s: unreachable (%s); not %s\n", c.Name, c.Detail, done)
		}
	}
	errs := forEach(o.targets, names, func(t fleet.Target) error {
		cctx, cancel := context.WithTimeout(ctx, startTimeout)
		defer cancel()
		_, err := clusterCommand(cctx, t, build, args(t)...)
		return err
	})
	var failed []string
	for _, n := range names {
		if err := errs[n]; err != nil {
			failed = append(failed, n)
			_, _ = fmt.Fprintf(o.streams.Out, "%s: %v\n", n, oneLineErr(err))
			continue
		}
		_, _ = fmt.Fprintf(o.streams.Out, "%s: %s\n", n, done)
	}
	if len(names) == 0 {
		_, _ = fmt.Fprintf(o.streams.Out, "no cluster is %s: nothing to do\n", strings.ToLower(string(phase)))
	}
	switch {
	case len(failed) > 0:
		return fmt.Errorf("clusters %s were not %s: see the lines above, then retry", strings.Join(failed, ", "), done)
	case len(lost) > 0:
		return &ExitError{Code: ExitUnreachable, Err: fmt.Errorf("clusters %s did not answer and were not %s: retry when they answer", strings.Join(lost, ", "), done)}
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}

// versionErrors lists the clusters whose oldest node is more than one minor below the
// target (or newer than it): the fleet refuses to start at all.
func (o *FleetOptions) versionErrors(d fleet.Decision) []string {
	var out []string
	for _, c := range d.Clusters {
		if c.Phase != fleet.Pending || c.Version == "" {
			continue
		}
		if err := upgrade.CheckStep(c.Version, o.fleet.Spec.TargetVersion); err != nil {
			out = append(out, fmt.Sprintf("cluster %q: %v", c.Name, err))
		}
	}
	return out
}
