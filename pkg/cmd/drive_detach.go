package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/drive"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/runner"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/status"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/version"
)

// driverRepo is the edgeupgrade image: the lean driver binary (cmd/edgeupgrade-driver)
// the in-cluster driver runs.
const driverRepo = "edgeupgrade"

// followHint is printed when a run is handed to the cluster.
const followHint = "follow it with: kubectl edgeupgrade status --watch --read-only"

// detachFlags are --detach and the driver's image, on every command that can drive.
type detachFlags struct {
	Detach      bool
	DriverImage string
	registry    *string // --image-registry: start's own, or one added with these flags
}

func (d *detachFlags) add(cmd *cobra.Command, registry *string) {
	fs := cmd.Flags()
	fs.BoolVar(&d.Detach, "detach", false, "Hand the run to an in-cluster driver (a Job in kube-upgrade) and exit; "+followHint)
	fs.StringVar(&d.DriverImage, "driver-image", "", "Image of the in-cluster driver (default: <registry>/edgeupgrade:<plugin version>)")
	if registry == nil {
		registry = new(string)
		fs.StringVar(registry, "image-registry", defaultRegistry, "Registry and path of the edgeupgrade images (for air-gapped mirrors)")
	}
	d.registry = registry
}

func (d *detachFlags) image() string {
	if d.DriverImage != "" {
		return d.DriverImage
	}
	return fmt.Sprintf("%s/%s:%s", strings.TrimSuffix(*d.registry, "/"), driverRepo, imageTag(version.Get().Version))
}

// ready refuses --detach when the driver's ServiceAccount is missing, before anything
// is changed.
func (d *detachFlags) ready(ctx context.Context, cs kubernetes.Interface) error {
	if !d.Detach {
		return nil
	}
	return runner.DriverAccountReady(ctx, cs)
}

func (d *detachFlags) check(wait bool) error {
	if d.Detach && wait {
		return errors.New("--detach hands the run to the cluster and --wait drives it from here: choose one")
	}
	return nil
}

// detach hands the session's run to the cluster and says how to follow it.
func (d *detachFlags) detach(ctx context.Context, s *runner.Session, out io.Writer) error {
	created, err := s.Detach(ctx, d.image())
	if err != nil {
		return fmt.Errorf("%w; the run itself is recorded: retry kubectl edgeupgrade drive --detach, or drive it from here with kubectl edgeupgrade status --watch", err)
	}
	what := "driver Job " + job.Namespace + "/" + job.DriverName(s.State().RunID)
	if created {
		what += " created"
	} else {
		what += " already running"
	}
	// The driver exists: lost lines must not report the detach as failed.
	_, _ = fmt.Fprintf(out, "upgrade %s detached: %s, watchdog CronJob %s\n", s.State().RunID, what, job.WatchdogName(s.State().RunID))
	_, _ = fmt.Fprintln(out, followHint)
	return nil
}

// DriveOptions are the inputs of `drive`.
type DriveOptions struct {
	detachFlags
	Once  bool
	RunID string

	connect connector
	streams genericiooptions.IOStreams
}

// NewCmdDrive returns the drive command.
func NewCmdDrive(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	return newCmdDrive(connectWith(f), streams)
}

func newCmdDrive(connect connector, streams genericiooptions.IOStreams) *cobra.Command {
	o := &DriveOptions{connect: connect, streams: streams}
	cmd := &cobra.Command{
		Use:   "drive",
		Short: "Drive the upgrade until it completes, pauses or is cancelled (what the in-cluster driver runs)",
		Long: templates.LongDesc(`Drive the current upgrade run: reconcile, woken by watch events, until it
			completes, pauses or is cancelled, then exit 0 with a last line saying how it ended.
			One driver acts at a time (the holder of the Lease kube-upgrade/edgeupgrade-driver);
			another observes and takes over when the holder stops. This is what the in-cluster
			driver Job of a detached run runs.

			--detach hands the run to an in-cluster driver instead and exits. --once is the
			watchdog's pass: one reconcile (a pause that expired is cancelled), then the driver
			Job is recreated if the run is active and its driver gone.`),
		Example: templates.Examples(`
			# Hand a running upgrade to the cluster (restarts progress when nobody drives it)
			kubectl edgeupgrade drive --detach`),
		Args: cobra.NoArgs,
		RunE: runOptions(o),
	}
	o.add(cmd, nil)
	cmd.Flags().BoolVar(&o.Once, "once", false, "One reconcile pass, replacing a lost driver Job (the watchdog CronJob runs this)")
	cmd.Flags().StringVar(&o.RunID, "run", "", "Drive only this run id; exit 0 when another run replaced it")
	return cmd
}

var _ commandOptions = (*DriveOptions)(nil)

// Complete has nothing to derive.
func (o *DriveOptions) Complete(_ []string) error { return nil }

// Validate refuses contradictory flags.
func (o *DriveOptions) Validate() error {
	if o.Once && o.Detach {
		return errors.New("--once is the watchdog's pass and --detach creates the driver: choose one")
	}
	return nil
}

// Run drives, detaches or makes one watchdog pass.
func (o *DriveOptions) Run(ctx context.Context) error {
	if !o.Detach {
		c, err := o.connect()
		if err != nil {
			return err
		}
		return drive.Run(ctx, drive.Clients{Kube: c.Kube, Rest: c.Rest, Metadata: c.Metadata},
			drive.Options{RunID: o.RunID, Once: o.Once, Image: o.image()}, o.streams.Out)
	}
	s, err := openSessionWith(ctx, o.connect, progressPrinter(o.streams.Out), false)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := o.ready(ctx, s.Client()); err != nil {
		return err
	}
	return o.detachCurrent(ctx, s)
}

// detachCurrent hands an active run to the cluster (drive --detach).
func (o *DriveOptions) detachCurrent(ctx context.Context, s *runner.Session) error {
	st, _, err := s.Apply(ctx, upgrade.Tick{})
	if err != nil {
		return err
	}
	switch {
	case st.Phase.Terminal():
		_, err = fmt.Fprintf(o.streams.Out, "upgrade %s is %s: nothing to drive\n", st.RunID, strings.ToLower(string(st.Phase)))
		return err
	case st.Pause != nil:
		return fmt.Errorf("upgrade %s is paused: resume it with kubectl edgeupgrade resume --detach", st.RunID)
	}
	return o.detach(ctx, s, o.streams.Out)
}

// driverView says who drives an unfinished run, for status (nil once it ended, or
// when the cluster cannot tell).
func driverView(ctx context.Context, s *runner.Session, st upgrade.State, obs upgrade.Observation) *status.Driver {
	if st.Phase.Terminal() {
		return nil
	}
	info, err := runner.ReadDriver(ctx, s.Client(), st.RunID, time.Now())
	if err != nil {
		return nil
	}
	d := &status.Driver{Kind: "none", Detached: info.Detached, DriverJob: info.DriverJob}
	if !info.Held {
		switch {
		case upgrade.StateName(st, obs) == "Paused":
			d.Restart = "kubectl edgeupgrade resume --detach"
		case info.DriverJob == "Active":
			// The driver pod is starting, or the job controller is replacing it after
			// its backoff: a terminal drives meanwhile and hands back when it exits.
			d.Restart = "kubectl edgeupgrade status --watch"
		default:
			d.Restart = "kubectl edgeupgrade drive --detach"
		}
		return d
	}
	d.Kind, d.Holder = info.Holder.Kind, info.Identity
	if info.Holder.Kind == runner.DriverInCluster {
		d.Pod, d.Node = info.Holder.Pod, info.Holder.Node
	}
	if !info.Since.IsZero() {
		d.Since = &info.Since
	}
	if !info.Last.IsZero() {
		d.LastReconcile = &info.Last
	}
	return d
}
