package cmd

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// edgeFlags are the offline and health-gate flags of a run (start and plan;
// docs/design.md §2.13, §6).
type edgeFlags struct {
	MaxDeferred  string
	OfflineGrace time.Duration
	Soak         time.Duration
}

func (e *edgeFlags) add(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&e.MaxDeferred, "max-deferred", upgrade.DefaultMaxDeferred, "Offline (NotReady) workers deferred before the run pauses: a count, or a percentage of the workers")
	fs.DurationVar(&e.OfflineGrace, "offline-grace", upgrade.DefaultOfflineGrace, "How long a node may be NotReady during its upgrade, and the health gate may wait for upgraded nodes and their DaemonSet pods to be Ready, before the run pauses")
	fs.DurationVar(&e.Soak, "soak", 0, "How long the health gate must hold after each batch and master before the next starts")
}

func (e *edgeFlags) spec(sp *upgrade.Spec) {
	sp.MaxDeferred, sp.OfflineGrace.Duration, sp.Soak.Duration = e.MaxDeferred, e.OfflineGrace, e.Soak
}
