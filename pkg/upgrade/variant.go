package upgrade

import (
	"cmp"
	"slices"
	"strings"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/internal/containerd"
)

// What each node pulls (docs/design.md §8): the upgrade image comes in two variants that
// share every layer but containerd's. A run that upgrades the runtime gives the variant
// with containerd (Spec.RuntimeImage) only to the nodes whose containerd is older than
// the runtime target; every other node, and every node of a run that leaves the runtime
// alone, pulls the base image (Spec.UpgradeImage), 28.5 MiB lighter for amd64.

// Variant names which upgrade image a node's Jobs run.
type Variant string

const (
	// VariantBase is Spec.UpgradeImage: the agent and the Kubernetes binaries.
	VariantBase Variant = "base"
	// VariantRuntime is Spec.RuntimeImage: the same plus containerd's binaries.
	VariantRuntime Variant = "runtime"
)

// NodeVariant decides which upgrade image a node needs, from the containerd version it
// reports (status.nodeInfo.containerRuntimeVersion, "containerd://1.6.20"). The base
// image when the run has one image for every node (no runtime upgrade, or an explicit
// --upgrade-image: Spec.RuntimeImage is empty) or when the node's containerd is at or
// above Spec.RuntimeVersion, as the agent decides (it never downgrades); the runtime
// variant otherwise, also when the version is unknown or not containerd's: the agent
// then finds what to do on the node, and needs the binaries if it upgrades.
func NodeVariant(sp Spec, runtime string) Variant {
	if sp.RuntimeImage == "" || sp.RuntimeVersion == "" {
		return VariantBase
	}
	want, err := containerd.ParseVersion(sp.RuntimeVersion)
	if err != nil {
		return VariantRuntime
	}
	name, ver, ok := strings.Cut(runtime, "://")
	if !ok || name != "containerd" {
		return VariantRuntime
	}
	if have, err := containerd.ParseVersion(ver); err == nil && have.AtLeast(want) {
		return VariantBase
	}
	return VariantRuntime
}

// UpgradeImageOf is the upgrade image of a variant as the operator named it (by tag).
func UpgradeImageOf(sp Spec, v Variant) string {
	if v == VariantRuntime && sp.RuntimeImage != "" {
		return sp.RuntimeImage
	}
	return sp.UpgradeImage
}

// VariantOf tells which variant an upgrade image reference is (a staging Job's). An
// empty reference (a Job of an older plugin) is the base image, the only one then.
func VariantOf(sp Spec, image string) Variant {
	if sp.RuntimeImage != "" && image == sp.RuntimeImage {
		return VariantRuntime
	}
	return VariantBase
}

// StageImages are the images the staging Job of a node pulls, by tag: the preprocess
// image and the node's upgrade variant.
func StageImages(s State, runtime string) (preprocess, upgrade string) {
	return s.Spec.PreprocessImage, UpgradeImageOf(s.Spec, NodeVariant(s.Spec, runtime))
}

// NodeImages are the images the upgrade Job of a node runs: those its staging Job
// pulled (StageImages), by digest once a staging pod of the same variant reported it.
func NodeImages(s State, runtime string) (preprocess, upgrade string) {
	return variantImages(s, NodeVariant(s.Spec, runtime))
}

// variantImages are the images the node Jobs of variant v run.
func variantImages(s State, v Variant) (preprocess, upgrade string) {
	preprocess, upgrade = s.Spec.PreprocessImage, UpgradeImageOf(s.Spec, v)
	if d := s.Digests; d != nil {
		preprocess = cmp.Or(d.Preprocess, preprocess)
		if v == VariantRuntime && s.Spec.RuntimeImage != "" {
			upgrade = cmp.Or(d.Runtime, upgrade)
		} else {
			upgrade = cmp.Or(d.Upgrade, upgrade)
		}
	}
	return preprocess, upgrade
}

// DigestRecorded reports whether the digest of variant v was recorded (from a staging
// pod that ran it): until then, the first such pod that succeeds is read for it.
func DigestRecorded(s State, v Variant) bool {
	d := s.Digests
	switch {
	case d == nil:
		return false
	case len(d.Recorded) == 0: // written before the variants: one upgrade image
		return v == VariantBase
	}
	return slices.Contains(d.Recorded, v)
}
