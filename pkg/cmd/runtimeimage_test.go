package cmd

import "testing"

// The runtime variant's reference: beside the base upgrade image, only for a run that
// upgrades containerd, and never when --upgrade-image names the one image of all nodes.
func TestRuntimeImage(t *testing.T) {
	for _, tc := range []struct {
		registry, upgradeImage, to, rv, want string
	}{
		{"ghcr.io/edgeupgrade", "", "v1.36.3", "v2.2.9", "ghcr.io/edgeupgrade/upgrade:v1.36.3-containerd-v2.2.9"},
		{"mirror.local/eu/", "", "1.36.3", "v2.3.0", "mirror.local/eu/upgrade:v1.36.3-containerd-v2.3.0"},
		{"ghcr.io/edgeupgrade", "", "v1.36.3", "", ""},
		{"ghcr.io/edgeupgrade", "mirror.local/mine:1", "v1.36.3", "v2.2.9", ""},
	} {
		u := upgradeFlags{UpgradeImage: tc.upgradeImage}
		u.ImageRegistry, u.To = tc.registry, tc.to
		if got := u.runtimeImage(tc.rv); got != tc.want {
			t.Errorf("registry %q, --upgrade-image %q, --to %s, runtime %q: %q, want %q", tc.registry, tc.upgradeImage, tc.to, tc.rv, got, tc.want)
		}
	}
}
