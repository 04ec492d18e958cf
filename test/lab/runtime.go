package lab

import (
	"context"

	"github.com/edgeupgrade/kubectl-edgeupgrade/test/lab/sim"
)

// SetContainerRuntime sets the container runtime version a node reports
// (status.nodeInfo.containerRuntimeVersion, e.g. "containerd://1.7.22"; "" reports none):
// what the pre-check and the run's choice of upgrade image read. kwok keeps it.
func (l *Lab) SetContainerRuntime(ctx context.Context, node, version string) error {
	patch := map[string]any{"status": map[string]any{"nodeInfo": map[string]any{"containerRuntimeVersion": version}}}
	return sim.PatchNode(ctx, l.Client, node, patch, "status")
}
