package cmd

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/precheck"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/version"
)

// Default image repositories; --image-registry replaces "ghcr.io/edgeupgrade".
const (
	defaultRegistry = "ghcr.io/edgeupgrade"
	preprocessRepo  = "node-preprocess"
	upgradeRepo     = "upgrade"
)

// scopeFlags say what an upgrade would touch and with which agent image: the flags
// check and start (and plan) share, so that one check predicts one start.
type scopeFlags struct {
	To              string
	Mode            string
	Selector        string
	Drain           bool
	SkipUnready     bool
	SkipChecks      []string
	ImageRegistry   string
	PreprocessImage string
	// RuntimeVersion: auto, none or the containerd version the node step installs
	// before the kubelet (see precheck.PlannedRuntime).
	RuntimeVersion string
}

// scopeHelp is the help of the scope flags, which check words for a prediction.
type scopeHelp struct{ to, mode, drain, skipUnready, skipCheck, preprocessImage string }

var (
	startScopeHelp = scopeHelp{
		to:              "Target Kubernetes version, e.g. v1.36.3 (one minor above the cluster at most)",
		mode:            "What to upgrade: all, control-plane or nodes",
		drain:           "Cordon and drain each batch before upgrading it (off: in-place upgrades keep pods running)",
		skipUnready:     "Let the pre-check accept NotReady workers at start (the run defers offline workers either way)",
		skipCheck:       "Pre-check IDs to skip (repeatable)",
		preprocessImage: "Image of the preprocess init container (default: <registry>/node-preprocess:<plugin version>)",
	}
	checkScopeHelp = scopeHelp{
		to:              "Target Kubernetes version, e.g. v1.36.3 (checks that need one are skipped without it)",
		mode:            "What the upgrade would touch: all, control-plane or nodes",
		drain:           "Check as for an upgrade with --drain (budgets allowing no disruption become errors)",
		skipUnready:     "Report NotReady workers as deferred (warning) instead of an error",
		skipCheck:       "Check IDs to skip (repeatable; a trailing * matches a prefix, e.g. host-*)",
		preprocessImage: "Image of the deep-check Jobs (default: <registry>/node-preprocess:<plugin version>)",
	}
)

func (s *scopeFlags) add(cmd *cobra.Command, h scopeHelp) {
	fs := cmd.Flags()
	fs.StringVar(&s.To, "to", "", h.to)
	fs.StringVar(&s.Mode, "mode", string(upgrade.ModeAll), h.mode)
	fs.StringVarP(&s.Selector, "selector", "l", "", "Label selector of the nodes in scope (default: all nodes)")
	fs.BoolVar(&s.Drain, "drain", false, h.drain)
	fs.BoolVar(&s.SkipUnready, "skip-unready", false, h.skipUnready)
	fs.StringSliceVar(&s.SkipChecks, "skip-check", nil, h.skipCheck)
	fs.StringVar(&s.ImageRegistry, "image-registry", defaultRegistry, "Registry and path of the edgeupgrade images (for air-gapped mirrors)")
	fs.StringVar(&s.PreprocessImage, "preprocess-image", "", h.preprocessImage)
	fs.StringVar(&s.RuntimeVersion, "runtime-version", precheck.RuntimeAuto, "containerd version the node step installs before the kubelet, from the upgrade image: auto (only when a node's containerd is too old for --to, to "+precheck.DefaultRuntimeVersion+"), none, or a version such as "+precheck.DefaultRuntimeVersion)
	_ = cmd.RegisterFlagCompletionFunc("mode", completeModes)
	_ = cmd.RegisterFlagCompletionFunc("skip-check", completeCheckIDs)
}

// upgradeFlags are the flags that define a run (start and plan).
type upgradeFlags struct {
	scopeFlags
	MaxBatchSize int
	PoolLabel    string
	DrainTimeout time.Duration
	JobTimeout   time.Duration
	PauseExpiry  time.Duration
	UpgradeImage string
	edgeFlags
	stageFlags
}

func (u *upgradeFlags) add(cmd *cobra.Command) {
	u.scopeFlags.add(cmd, startScopeHelp)
	fs := cmd.Flags()
	fs.IntVar(&u.MaxBatchSize, "max-batch-size", 0, "Largest worker batch (default: 10% of the workers, at least 1)")
	fs.StringVar(&u.PoolLabel, "pool-label", "", "Node label that names node pools (default: apps.openyurt.io/nodepool or alibabacloud.com/nodepool-id)")
	fs.DurationVar(&u.DrainTimeout, "drain-timeout", upgrade.DefaultDrainTimeout, "How long a batch's drain may take before the run pauses")
	fs.DurationVar(&u.JobTimeout, "job-timeout", upgrade.DefaultJobTimeout, "How long one node's upgrade Job may run before it fails and the run pauses")
	fs.DurationVar(&u.PauseExpiry, "pause-expiry", upgrade.DefaultPauseExpiry, "A run paused for longer is cancelled and its Jobs, pods and Events deleted")
	fs.StringVar(&u.UpgradeImage, "upgrade-image", "", "Image of the upgrade container (default: <registry>/upgrade:<target version>)")
	u.edgeFlags.add(cmd)
	u.stageFlags.add(cmd)
	_ = cmd.MarkFlagRequired("to")
}

func (s *scopeFlags) preprocessImage() string {
	if s.PreprocessImage != "" {
		return s.PreprocessImage
	}
	return fmt.Sprintf("%s/%s:%s", strings.TrimSuffix(s.ImageRegistry, "/"), preprocessRepo, imageTag(version.Get().Version))
}

func (u *upgradeFlags) upgradeImage() string {
	if u.UpgradeImage != "" {
		return u.UpgradeImage
	}
	to, err := upgrade.CanonicalVersion(u.To)
	if err != nil {
		to = u.To
	}
	return fmt.Sprintf("%s/%s:%s", strings.TrimSuffix(u.ImageRegistry, "/"), upgradeRepo, to)
}

// runtimeImage is the upgrade image with containerd for a run that upgrades the
// runtime to rv: <registry>/upgrade:<target>-containerd-<rv>, beside the base
// <registry>/upgrade:<target> (make images builds both). "" when the run leaves the
// runtime alone, or when --upgrade-image names the one image of every node.
func (u *upgradeFlags) runtimeImage(rv string) string {
	if rv == "" || u.UpgradeImage != "" {
		return ""
	}
	return u.upgradeImage() + "-containerd-" + imageTag(rv)
}

// imageTag makes a plugin version usable as an image tag.
func imageTag(v string) string {
	if v == "" {
		return "latest"
	}
	return strings.NewReplacer("+", "-", "/", "-").Replace(v)
}

func (u *upgradeFlags) spec() upgrade.Spec {
	sp := upgrade.Spec{
		TargetVersion: u.To, Mode: upgrade.Mode(u.Mode), MaxBatchSize: u.MaxBatchSize,
		PoolLabel: u.PoolLabel, Selector: u.Selector, Drain: u.Drain,
		DrainTimeout: upgrade.Duration{Duration: u.DrainTimeout}, JobTimeout: upgrade.Duration{Duration: u.JobTimeout},
		PauseExpiry:     upgrade.Duration{Duration: u.PauseExpiry},
		PreprocessImage: u.preprocessImage(), UpgradeImage: u.upgradeImage(),
		SkipUnready: u.SkipUnready, SkipChecks: u.SkipChecks,
	}
	u.edgeFlags.spec(&sp)
	u.stageFlags.spec(&sp)
	return sp
}
