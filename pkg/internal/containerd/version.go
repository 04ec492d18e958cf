// Package containerd reads containerd versions, for the node agent (the binary on the
// node) and the core (the version a Node reports), which must agree on them.
package containerd

import (
	"fmt"
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/util/version"
)

var versionRE = regexp.MustCompile(`^v?(\d+\.\d+\.\d+)`)

// ParseVersion parses a containerd version as releases and distributions spell it
// ("v2.2.9", "1.6.20~ds1", "1.7.24-0ubuntu1"), ignoring a packaging suffix.
func ParseVersion(s string) (*version.Version, error) {
	m := versionRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return nil, fmt.Errorf("%q is not a containerd version such as v2.2.9", s)
	}
	return version.ParseSemantic(m[1])
}
