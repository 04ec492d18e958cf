package runner

import "github.com/edgeupgrade/kubectl-edgeupgrade/pkg/nodes"

// The labels the runner's tests build Nodes with; the rules that read them are in
// pkg/nodes.
const (
	LabelControlPlane = nodes.LabelControlPlane
	LabelOpenYurtPool = nodes.LabelOpenYurtPool
)
