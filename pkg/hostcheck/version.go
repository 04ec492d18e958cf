package hostcheck

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/version"
)

// ParseKubeletVersion reads the output of `kubelet --version` ("Kubernetes v1.35.4").
func ParseKubeletVersion(out string) (*version.Version, error) {
	s := strings.TrimSpace(out)
	s = strings.TrimPrefix(s, "Kubernetes ")
	if f := strings.Fields(s); len(f) > 0 {
		s = f[0]
	}
	v, err := version.ParseSemantic(s)
	if err != nil {
		return nil, fmt.Errorf("read kubelet version from %q: %w", strings.TrimSpace(out), err)
	}
	return v, nil
}

// PolicyError is a refusal of a version change; nothing on the node is touched.
type PolicyError struct{ msg string }

func (e *PolicyError) Error() string { return e.msg }

// CheckUpgradePath applies the one-minor-at-a-time rule to a node: the target must
// not be older than the installed kubelet (no downgrades) and must not skip a minor.
// Equal versions are allowed (the caller treats them as "nothing to do").
func CheckUpgradePath(installed, target *version.Version) error {
	switch {
	case installed.Major() != target.Major():
		return &PolicyError{fmt.Sprintf("kubelet v%s and target v%s differ in major version: not supported", installed, target)}
	case target.LessThan(installed):
		return &PolicyError{fmt.Sprintf("kubelet v%s is newer than the target v%s: downgrades are not supported", installed, target)}
	case target.Minor() > installed.Minor()+1:
		return &PolicyError{fmt.Sprintf("kubelet v%s to v%s skips a minor version: upgrade to v%d.%d first", installed, target, installed.Major(), installed.Minor()+1)}
	}
	return nil
}
