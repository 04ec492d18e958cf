package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/components/podstep"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/runner"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/store"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// DefaultPodTimeout is how long a node's new pod may take to become Ready.
const DefaultPodTimeout = 5 * time.Minute

// ComponentUpgradeOptions are the inputs of `components upgrade`.
type ComponentUpgradeOptions struct {
	Namespace    string
	Name         string
	Images       []string
	Filename     string
	MaxBatchSize int
	PoolLabel    string
	MaxDeferred  string
	OfflineGrace time.Duration
	Soak         time.Duration
	PodTimeout   time.Duration
	PauseExpiry  time.Duration
	Settle       time.Duration
	Wait         bool
	drive        driveFlags

	images  map[string]string
	kind    upgrade.RunKind
	connect connector
	client  kubernetes.Interface
	streams genericiooptions.IOStreams
	now     func() time.Time
}

var _ commandOptions = (*ComponentUpgradeOptions)(nil)

func newCmdComponentsUpgrade(connect connector, streams genericiooptions.IOStreams, now func() time.Time) *cobra.Command {
	o := &ComponentUpgradeOptions{connect: connect, streams: streams, now: now}
	cmd := &cobra.Command{
		Use:   "upgrade (daemonset|deployment)/NAME (--image CONTAINER=IMAGE ... | --filename FILE)",
		Short: "Upgrade a DaemonSet node by node, or a Deployment with a verified rollout, with pause, resume and cancel",
		Long: templates.LongDesc(`Upgrade a DaemonSet to new images (or to the pod template of a DaemonSet in
			a file) as an edgeupgrade run: control-plane nodes one at a time, then workers pool
			by pool in batches of 1, 2, 4, ... up to the cap, under the same rules, state and
			verbs (status, pause, resume, cancel) as a Kubernetes upgrade. The node step deletes
			the node's pod and waits until its replacement is Ready; a pod that crash-loops or
			is not Ready within --pod-timeout pauses the run naming the node and the pod.
			Offline nodes are deferred and caught up when back. The DaemonSet is held on
			updateStrategy OnDelete for the run; its strategy is restored when the run ends,
			and a cancel restores its previous template too (nodes not started keep their
			pods).

			A Deployment gets its native rollout: the run sets its new template and the
			Deployment controller rolls it; the run then verifies the rollout's health and
			completes when the rollout is complete, every node is Ready, and the Deployment's
			pods stay Running and Ready for --settle. A rollout not complete within
			--pod-timeout, a crash-looping pod, or a node NotReady while settling pauses the
			run naming the pod or node; resume checks again; cancel rolls the Deployment back
			to its previous template. One run at a time per cluster.`),
		Example: templates.Examples(`
			# Upgrade flannel's agent, following the run to its end
			kubectl edgeupgrade components upgrade daemonset/kube-flannel-ds -n kube-flannel \
			  --image kube-flannel=ghcr.io/flannel-io/flannel:v0.26.2 --wait

			# Upgrade CoreDNS, waiting five minutes of health after its rollout
			kubectl edgeupgrade components upgrade deployment/coredns -n kube-system \
			  --image coredns=registry.k8s.io/coredns/coredns:v1.12.1 --wait`),
		Args: cobra.ExactArgs(1),
		RunE: runOptions(o),
	}
	f := cmd.Flags()
	f.StringVarP(&o.Namespace, "namespace", "n", "kube-system", "namespace of the DaemonSet or Deployment")
	f.StringArrayVar(&o.Images, "image", nil, "CONTAINER=IMAGE: the new image of a container (repeatable)")
	f.StringVarP(&o.Filename, "filename", "f", "", "a DaemonSet or Deployment manifest whose pod template replaces the current one")
	f.IntVar(&o.MaxBatchSize, "max-batch-size", 0, "largest worker batch (0: 10% of the workers, at least 1)")
	f.StringVar(&o.PoolLabel, "pool-label", "", "node label that names pools (default: the OpenYurt and ACK pool labels)")
	f.StringVar(&o.MaxDeferred, "max-deferred", upgrade.DefaultMaxDeferred, "offline workers deferred before the run pauses: a count or a percentage")
	f.DurationVar(&o.OfflineGrace, "offline-grace", upgrade.DefaultOfflineGrace, "how long a node may be NotReady during its step, and the health gate waits")
	f.DurationVar(&o.Soak, "soak", 0, "how long the health gate must hold after each batch")
	f.DurationVar(&o.PodTimeout, "pod-timeout", DefaultPodTimeout, "how long a node's new pod (a Deployment: its whole rollout) may take to become Ready")
	f.DurationVar(&o.Settle, "settle", DefaultSettle, "a Deployment: how long its rollout must stay healthy before the run completes")
	f.DurationVar(&o.PauseExpiry, "pause-expiry", upgrade.DefaultPauseExpiry, "a run paused longer is cancelled")
	f.BoolVar(&o.Wait, "wait", false, "keep driving the run until it completes or pauses")
	o.drive.add(cmd, true)
	return cmd
}

// Complete reads the DaemonSet's name and the images, and connects.
func (o *ComponentUpgradeOptions) Complete(args []string) error {
	kind, name, ok := strings.Cut(args[0], "/")
	if !ok || name == "" {
		return fmt.Errorf("name the component as daemonset/NAME or deployment/NAME, got %q", args[0])
	}
	switch strings.ToLower(kind) {
	case "daemonset", "daemonsets", "ds":
		o.kind = upgrade.KindDaemonSet
	case "deployment", "deployments", "deploy":
		o.kind = upgrade.KindDeployment
	default:
		return fmt.Errorf("unknown kind %q: use daemonset/NAME or deployment/NAME", kind)
	}
	o.Name = name
	o.images = map[string]string{}
	for _, ci := range o.Images {
		c, img, ok := strings.Cut(ci, "=")
		if !ok || c == "" || img == "" {
			return fmt.Errorf("--image %q: want CONTAINER=IMAGE", ci)
		}
		o.images[c] = img
	}
	c, err := o.connect()
	o.client = c.Kube
	return err
}

// Validate checks the flags alone.
func (o *ComponentUpgradeOptions) Validate() error {
	if (len(o.images) == 0) == (o.Filename == "") {
		return errors.New("give the new images with --image CONTAINER=IMAGE, or a new template with --filename, not both")
	}
	if o.PodTimeout <= 0 || o.PauseExpiry <= 0 || o.MaxBatchSize < 0 || o.OfflineGrace < 0 || o.Soak < 0 || o.Settle < 0 {
		return errors.New("--pod-timeout and --pause-expiry must be positive; --max-batch-size, --offline-grace, --soak and --settle must not be negative")
	}
	if o.drive.Output != "" && !o.Wait {
		return fmt.Errorf("-o json streams the status while driving: add --wait")
	}
	if _, _, err := upgrade.ParseMaxDeferred(o.MaxDeferred); err != nil {
		return err
	}
	return o.drive.validate()
}

// Run refuses while a run is live, records the run with the new template and starts
// it; its first reconcile switches the DaemonSet or Deployment (runner.switchPending).
func (o *ComponentUpgradeOptions) Run(ctx context.Context) error {
	prev, prevCM, err := runner.Load(ctx, o.client)
	switch {
	case errors.Is(err, store.ErrNoRun):
	case err != nil:
		return err
	case !prev.Phase.Terminal():
		return fmt.Errorf("a run is already in progress (run %s, %s to %s, %s); follow it with kubectl edgeupgrade status, or pause and cancel it first",
			prev.RunID, upgrade.KindOf(prev.Spec), prev.Spec.TargetVersion, prev.Phase)
	}
	if o.kind == upgrade.KindDeployment {
		return o.runDeployment(ctx, prev, prevCM)
	}
	ds, err := o.client.AppsV1().DaemonSets(o.Namespace).Get(ctx, o.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("read DaemonSet %s/%s: %w", o.Namespace, o.Name, err)
	}
	sp, err := o.plan(ctx, ds)
	if err != nil || sp.Component.Name == "" {
		return err
	}
	first, err := o.firstState(ctx, sp)
	if err != nil {
		if errors.Is(err, upgrade.ErrNothingToDo) {
			_, err = fmt.Fprintln(o.streams.Out, err.Error())
		}
		return err
	}
	return o.begin(ctx, prev, prevCM, first)
}

func (o *ComponentUpgradeOptions) begin(ctx context.Context, prev upgrade.State, prevCM *corev1.ConfigMap, first upgrade.State) error {
	out := o.streams.Out
	if o.drive.Output != "" {
		out = o.streams.ErrOut
	}
	opts := runner.SessionOptions{Now: o.now, OnEvent: progressPrinter(out)}
	p := o.drive.progress(o.streams.Out, o.now)
	if o.Wait {
		opts.OnEvent = p.OnEvent
	}
	prevRunID := ""
	if prevCM != nil {
		prevRunID = prev.RunID
	}
	s, cm, err := runner.Begin(ctx, o.client, prevCM, prevRunID, first, opts)
	if cm == nil {
		// Nothing to undo: a workload is switched only after its run is recorded.
		if apierrors.IsAlreadyExists(err) || apierrors.IsConflict(err) {
			return fmt.Errorf("another run was started at the same time; see kubectl edgeupgrade status")
		}
		return err
	}
	what := kindName(first.Spec)
	_, _ = fmt.Fprintf(out, "upgrade %s of %s %s/%s started: %s → %s (%s)\n", first.RunID, what, first.Spec.Component.Namespace,
		first.Spec.Component.Name, first.Spec.FromVersion, first.Spec.TargetVersion, first.Spec.Component.Images)
	if err != nil {
		return err
	}
	defer s.Close()
	s.Emit(ctx, cm, upgrade.Event{Type: upgrade.Normal, Reason: upgrade.ReasonRunStarted,
		Message: fmt.Sprintf("upgrade %s started: %s %s/%s %s to %s (%s), cap %d", first.RunID, what, first.Spec.Component.Namespace,
			first.Spec.Component.Name, first.Spec.FromVersion, first.Spec.TargetVersion, first.Spec.Component.Images, first.Cap)})
	if !o.Wait {
		_, _, err := s.Reconcile(ctx)
		if err == nil {
			_, _ = fmt.Fprintln(o.streams.Out, "follow it with: kubectl edgeupgrade status --watch")
		}
		return err
	}
	return driveToEnd(ctx, s, p)
}

// plan is the run's spec: the DaemonSet's strategy, its current revision and the new
// template, kept in the state. The DaemonSet is not touched here: the run is recorded
// first, and its first reconcile holds the DaemonSet on OnDelete with the new template
// (runner.SwitchDaemonSet), so that no crash leaves a DaemonSet switched with no run
// that knows how to restore it. A zero spec: nothing to do (said on the output).
func (o *ComponentUpgradeOptions) plan(ctx context.Context, ds *appsv1.DaemonSet) (upgrade.Spec, error) {
	fromRev, fromHash, err := runner.CurrentRevision(ctx, o.client, ds)
	if err != nil {
		return upgrade.Spec{}, err
	}
	strategy, err := json.Marshal(ds.Spec.UpdateStrategy)
	if err != nil {
		return upgrade.Spec{}, err
	}
	if ds.Spec.UpdateStrategy.Type == appsv1.OnDeleteDaemonSetStrategyType {
		strategy = nil // nothing to restore beyond what it is
	}
	next := ds.DeepCopy()
	if err := o.newTemplate(ds.Namespace, ds.Name, &next.Spec.Template); err != nil {
		return upgrade.Spec{}, err
	}
	if apiequality.Semantic.DeepEqual(next.Spec.Template, ds.Spec.Template) {
		_, err := fmt.Fprintf(o.streams.Out, "DaemonSet %s/%s already has this template (%s): %s\n", ds.Namespace, ds.Name,
			upgrade.RevisionVersion(fromRev), upgrade.ErrNothingToDo)
		return upgrade.Spec{}, err
	}
	tmpl, err := json.Marshal(next.Spec.Template)
	if err != nil {
		return upgrade.Spec{}, err
	}
	return upgrade.Spec{
		Kind: upgrade.KindDaemonSet, Mode: upgrade.ModeAll, MaxBatchSize: o.MaxBatchSize, PoolLabel: o.PoolLabel,
		MaxDeferred: o.MaxDeferred, OfflineGrace: upgrade.Duration{Duration: o.OfflineGrace}, Soak: upgrade.Duration{Duration: o.Soak},
		PauseExpiry: upgrade.Duration{Duration: o.PauseExpiry}, FromVersion: upgrade.RevisionVersion(fromRev),
		// The controller numbers the new template's revision next (reusing an equal older
		// one renumbers it too); the switch records the revision it made.
		TargetVersion: upgrade.RevisionVersion(fromRev + 1),
		Component: upgrade.ComponentSpec{Namespace: ds.Namespace, Name: ds.Name, FromHash: fromHash, UpdateStrategy: string(strategy),
			NewTemplate: string(tmpl), Images: strings.Join(containerImages(next.Spec.Template.Spec.Containers), ", "),
			PodTimeout: upgrade.Duration{Duration: o.PodTimeout}},
	}, nil
}

func containerImages(cs []corev1.Container) []string {
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.Name+"="+c.Image)
	}
	return out
}

// newTemplate puts the new images, or the file's template, into the pod template t of
// the workload ns/name.
func (o *ComponentUpgradeOptions) newTemplate(ns, name string, t *corev1.PodTemplateSpec) error {
	if o.Filename != "" {
		data, err := os.ReadFile(o.Filename)
		if err != nil {
			return err
		}
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(data, nil, nil)
		if err != nil {
			return fmt.Errorf("%s: %w", o.Filename, err)
		}
		switch from := obj.(type) {
		case *appsv1.DaemonSet:
			*t = from.Spec.Template
		case *appsv1.Deployment:
			*t = from.Spec.Template
		default:
			return fmt.Errorf("%s holds a %T, not a DaemonSet or a Deployment", o.Filename, obj)
		}
		return nil
	}
	for c, img := range o.images {
		found := false
		for _, list := range [][]corev1.Container{t.Spec.Containers, t.Spec.InitContainers} {
			for i := range list {
				if list[i].Name == c {
					list[i].Image, found = img, true
				}
			}
		}
		if !found {
			return fmt.Errorf("%s/%s has no container %q: its containers are %s", ns, name, c,
				strings.Join(containerImages(t.Spec.Containers), ", "))
		}
	}
	return nil
}

// firstState builds the run over the nodes the DaemonSet runs on.
func (o *ComponentUpgradeOptions) firstState(ctx context.Context, sp upgrade.Spec) (upgrade.State, error) {
	ds, err := o.client.AppsV1().DaemonSets(sp.Component.Namespace).Get(ctx, sp.Component.Name, metav1.GetOptions{})
	if err != nil {
		return upgrade.State{}, err
	}
	sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil {
		return upgrade.State{}, err
	}
	pods, err := o.client.CoreV1().Pods(ds.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return upgrade.State{}, err
	}
	byNode := map[string][]podstep.Pod{}
	for i := range pods.Items {
		p := &pods.Items[i]
		if ref := metav1.GetControllerOf(p); ref != nil && ref.UID == ds.UID && p.Spec.NodeName != "" {
			byNode[p.Spec.NodeName] = append(byNode[p.Spec.NodeName], podstep.PodOf(p))
		}
	}
	list, err := o.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return upgrade.State{}, err
	}
	var nodes []upgrade.Node
	for i := range list.Items {
		n := &list.Items[i]
		if ps, ok := byNode[n.Name]; ok {
			un := runner.ToNode(n, sp.PoolLabel)
			un.Version = podstep.Version(sp, ps)
			nodes = append(nodes, un)
		}
	}
	return upgrade.NewComponentState(sp, runner.NewRunID(o.now()), nodes, o.now().UTC())
}
