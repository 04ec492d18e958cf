package upgrade

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/version"
)

// ParseVersion parses a Kubernetes release version ("v1.36.3" or "1.36.3").
func ParseVersion(s string) (*version.Version, error) {
	v, err := version.ParseSemantic(s)
	if err != nil {
		return nil, fmt.Errorf("invalid version %q: use a release version like v1.36.3", s)
	}
	return v, nil
}

// CanonicalVersion returns "vMAJOR.MINOR.PATCH" (pre-release kept) for a valid version.
func CanonicalVersion(s string) (string, error) {
	v, err := ParseVersion(s)
	if err != nil {
		return "", err
	}
	return "v" + v.String(), nil
}

// CheckStep enforces docs/design.md §2.8 for an upgrade from `from` to `to`: one minor at
// a time, patch upgrades within a minor allowed, no downgrade, no no-op.
func CheckStep(from, to string) error {
	f, err := ParseVersion(from)
	if err != nil {
		return fmt.Errorf("current cluster version: %w", err)
	}
	t, err := ParseVersion(to)
	if err != nil {
		return err
	}
	switch {
	case t.Major() != f.Major():
		return fmt.Errorf("cannot upgrade from v%s to v%s: major version changes are not supported", f, t)
	case t.LessThan(f):
		return fmt.Errorf("cannot upgrade from v%s to v%s: downgrades are not supported; choose a version at or above v%d.%d", f, t, f.Major(), f.Minor())
	case t.Minor() > f.Minor()+1:
		return fmt.Errorf("cannot upgrade from v%s to v%s: upgrade one minor version at a time; upgrade to v%d.%d first", f, t, f.Major(), f.Minor()+1)
	}
	return nil
}

// Upgraded reports whether a kubelet version is at or above the target: such a node
// needs no work (upgrading a node already at target is a no-op; newer is never touched).
// A component run's target is a revision ("revision 3", RevisionVersion): a node is
// there when it runs exactly that revision.
func Upgraded(kubelet, target string) bool {
	if strings.HasPrefix(target, "revision ") {
		return kubelet == target
	}
	k, err1 := version.ParseGeneric(kubelet)
	t, err2 := version.ParseGeneric(target)
	return err1 == nil && err2 == nil && !k.LessThan(t)
}
