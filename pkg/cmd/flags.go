package cmd

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/version"
)

// Default image repositories; --image-registry replaces "ghcr.io/edgeupgrade".
const (
	defaultRegistry = "ghcr.io/edgeupgrade"
	preprocessRepo  = "node-preprocess"
	upgradeRepo     = "upgrade"
)

// upgradeFlags are the flags that define a run (start and plan).
type upgradeFlags struct {
	To              string
	Mode            string
	MaxBatchSize    int
	PoolLabel       string
	Selector        string
	Drain           bool
	DrainTimeout    time.Duration
	JobTimeout      time.Duration
	PauseExpiry     time.Duration
	ImageRegistry   string
	PreprocessImage string
	UpgradeImage    string
	SkipUnready     bool
	SkipChecks      []string
}

func (u *upgradeFlags) add(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&u.To, "to", "", "Target Kubernetes version, e.g. v1.36.3 (one minor above the cluster at most)")
	fs.StringVar(&u.Mode, "mode", string(upgrade.ModeAll), "What to upgrade: all, control-plane or nodes")
	fs.IntVar(&u.MaxBatchSize, "max-batch-size", 0, "Largest worker batch (default: 10% of the workers, at least 1)")
	fs.StringVar(&u.PoolLabel, "pool-label", "", "Node label that names node pools (default: apps.openyurt.io/nodepool or alibabacloud.com/nodepool-id)")
	fs.StringVarP(&u.Selector, "selector", "l", "", "Label selector of the nodes to upgrade (default: all nodes)")
	fs.BoolVar(&u.Drain, "drain", false, "Cordon and drain each batch before upgrading it (off: in-place upgrades keep pods running)")
	fs.DurationVar(&u.DrainTimeout, "drain-timeout", upgrade.DefaultDrainTimeout, "How long a batch's drain may take before the run pauses")
	fs.DurationVar(&u.JobTimeout, "job-timeout", upgrade.DefaultJobTimeout, "How long one node's upgrade Job may run before it fails and the run pauses")
	fs.DurationVar(&u.PauseExpiry, "pause-expiry", upgrade.DefaultPauseExpiry, "A run paused for longer is cancelled and its Jobs, pods and Events deleted")
	fs.StringVar(&u.ImageRegistry, "image-registry", defaultRegistry, "Registry and path of the edgeupgrade images (for air-gapped mirrors)")
	fs.StringVar(&u.PreprocessImage, "preprocess-image", "", "Image of the preprocess init container (default: <registry>/node-preprocess:<plugin version>)")
	fs.StringVar(&u.UpgradeImage, "upgrade-image", "", "Image of the upgrade container (default: <registry>/upgrade:<target version>)")
	fs.BoolVar(&u.SkipUnready, "skip-unready", false, "Defer NotReady nodes to a later run instead of refusing to start")
	fs.StringSliceVar(&u.SkipChecks, "skip-check", nil, "Pre-check IDs to skip (repeatable)")
	_ = cmd.MarkFlagRequired("to")
	_ = cmd.RegisterFlagCompletionFunc("mode", completeModes)
	_ = cmd.RegisterFlagCompletionFunc("skip-check", completeCheckIDs)
}

func (u *upgradeFlags) preprocessImage() string {
	if u.PreprocessImage != "" {
		return u.PreprocessImage
	}
	return fmt.Sprintf("%s/%s:%s", strings.TrimSuffix(u.ImageRegistry, "/"), preprocessRepo, imageTag(version.Get().Version))
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

// imageTag makes a plugin version usable as an image tag.
func imageTag(v string) string {
	if v == "" {
		return "latest"
	}
	return strings.NewReplacer("+", "-", "/", "-").Replace(v)
}

func (u *upgradeFlags) spec() upgrade.Spec {
	return upgrade.Spec{
		TargetVersion: u.To, Mode: upgrade.Mode(u.Mode), MaxBatchSize: u.MaxBatchSize,
		PoolLabel: u.PoolLabel, Selector: u.Selector, Drain: u.Drain,
		DrainTimeout: upgrade.Duration{Duration: u.DrainTimeout}, JobTimeout: upgrade.Duration{Duration: u.JobTimeout},
		PauseExpiry:     upgrade.Duration{Duration: u.PauseExpiry},
		PreprocessImage: u.preprocessImage(), UpgradeImage: u.upgradeImage(),
		SkipUnready: u.SkipUnready, SkipChecks: u.SkipChecks,
	}
}
