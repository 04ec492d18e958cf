package cmd

import (
	"github.com/spf13/cobra"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// stageFlags are the staging flags of a run (start and plan; docs/design.md §8).
type stageFlags struct {
	NoStage            bool
	MaxConcurrentPulls int
}

func (s *stageFlags) add(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.BoolVar(&s.NoStage, "no-stage", false, "Do not pull the images on every node before its batch (each node Job then pulls them during its batch)")
	fs.IntVar(&s.MaxConcurrentPulls, "max-concurrent-pulls", 0, "Nodes pulling the images at once while staging, cluster-wide (default: the batch cap)")
}

func (s *stageFlags) spec(sp *upgrade.Spec) {
	sp.Stage, sp.MaxConcurrentPulls = !s.NoStage, s.MaxConcurrentPulls
}
