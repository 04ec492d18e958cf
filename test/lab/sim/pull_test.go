package sim

import (
	"testing"
	"time"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

func TestParseLinkSpeed(t *testing.T) {
	for in, want := range map[string]float64{"1Mbit": 1e6, "10Mbit": 1e7, "512kbit": 512e3, "1Gbit": 1e9, "2000": 2000, "1.5Mbit/s": 1.5e6} {
		if got, err := ParseLinkSpeed(in); err != nil || got != want {
			t.Errorf("ParseLinkSpeed(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "fast", "-1Mbit", "0"} {
		if _, err := ParseLinkSpeed(bad); err == nil {
			t.Errorf("ParseLinkSpeed(%q): no error", bad)
		}
	}
}

// 64 MiB over 1 Mbit/s is about nine minutes; over 100 Mbit/s about five seconds.
func TestPullDuration(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		bps  float64
		want time.Duration
	}{{1e6, 536870912 * time.Microsecond}, {1e8, 5368709120 * time.Nanosecond}, {0, 0}} {
		if got := PullDuration(64*mib, tc.bps); got != tc.want {
			t.Errorf("PullDuration(64Mi, %v) = %v, want %v", tc.bps, got, tc.want)
		}
	}
}

// The simulated runtime reports a repository digest the plugin resolves (the rule of
// upgrade.DigestRef), and a digest reference is its own ID: the staged image is found.
func TestImageIDIsADigestThePluginResolves(t *testing.T) {
	tag := "registry.local/edgeupgrade/upgrade:v1.36.3"
	ref := upgrade.DigestRef(tag, imageID(tag))
	if ref == "" || imageID(ref) != ref || imageID(tag) != ref {
		t.Fatalf("imageID(%q) = %q, digest reference %q", tag, imageID(tag), ref)
	}
}
