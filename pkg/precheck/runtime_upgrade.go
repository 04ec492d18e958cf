package precheck

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/version"
)

// The container runtime upgrade of a run (`--runtime-version`): the node step upgrades
// containerd in place before the kubelet, from the binaries the upgrade image carries.
const (
	// DefaultRuntimeVersion is the containerd version `make images` puts into the
	// upgrade image (CONTAINERD_VERSION in mk/images.mk).
	DefaultRuntimeVersion = "v2.2.9"
	// RuntimeAuto upgrades containerd to DefaultRuntimeVersion only on runs whose
	// target needs a newer containerd than a node in scope runs.
	RuntimeAuto = "auto"
	// RuntimeNone never upgrades the runtime.
	RuntimeNone = "none"
)

// containerdFloor is the oldest containerd that runs Kubernetes 1.minor (nil: no floor
// the pre-check knows).
func containerdFloor(minor int) *version.Version {
	switch {
	case minor >= 36:
		return version.MustParseSemantic("2.0.0") // 1.35 was the last release on containerd 1.x
	case minor >= 26:
		return version.MustParseSemantic("1.6.0") // the CRI v1 API
	}
	return nil
}

// nodeContainerd returns the containerd version a node reports, if it runs containerd.
func nodeContainerd(runtimeVersion string) (*version.Version, bool) {
	name, ver, ok := strings.Cut(runtimeVersion, "://")
	if !ok || name != "containerd" {
		return nil, false
	}
	rt, err := version.ParseGeneric(ver)
	return rt, err == nil
}

// PlannedRuntime is the containerd version the run upgrades its nodes to ("" for
// none), from Options.RuntimeVersion: none (or "") → ""; a version → that version;
// auto → DefaultRuntimeVersion when a node in scope runs a containerd older than the
// target needs, else "".
func PlannedRuntime(v *View) string {
	switch flag := v.Options.RuntimeVersion; flag {
	case RuntimeNone, "":
		return ""
	case RuntimeAuto:
	default:
		return flag
	}
	if v.Target == nil {
		return ""
	}
	floor := containerdFloor(int(v.Target.Minor()))
	if floor == nil {
		return ""
	}
	for i := range v.Nodes {
		n := &v.Nodes[i]
		if !v.Upgrades(n) {
			continue
		}
		if rt, ok := nodeContainerd(n.Status.NodeInfo.ContainerRuntimeVersion); ok && rt.LessThan(floor) {
			return DefaultRuntimeVersion
		}
	}
	return ""
}

// plannedRuntimeFits reports whether the run's containerd upgrade (planned, "" for
// none) lifts a node to at least floor.
func plannedRuntimeFits(planned string, floor *version.Version) bool {
	if planned == "" || floor == nil {
		return false
	}
	p, err := version.ParseGeneric(strings.TrimPrefix(planned, "v"))
	return err == nil && p.AtLeast(floor)
}

// ValidateRuntimeVersion accepts --runtime-version auto, none (or empty) or a containerd
// release version such as v2.2.9.
func ValidateRuntimeVersion(v string) error {
	switch v {
	case RuntimeAuto, RuntimeNone, "":
		return nil
	}
	if _, err := version.ParseSemantic(v); err != nil || !strings.HasPrefix(v, "v") {
		return fmt.Errorf("invalid --runtime-version %q: use auto, none or a containerd version such as %s", v, DefaultRuntimeVersion)
	}
	return nil
}
