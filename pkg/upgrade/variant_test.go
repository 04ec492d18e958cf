package upgrade

import (
	"strings"
	"testing"
)

// Which upgrade image a node's Jobs run: the run's runtime choice (none, auto resolved
// to none or to a version, an explicit version) × the containerd the node reports ×
// an explicit --upgrade-image (one image for every node: no RuntimeImage).
func TestNodeVariant(t *testing.T) {
	const base, rt = "registry.local/up:v1.36.3", "registry.local/up:v1.36.3-containerd-v2.2.9"
	specs := map[string]Spec{
		"none":                   {UpgradeImage: base},                                             // --runtime-version none, or auto resolved to none
		"auto-v2.2.9":            {UpgradeImage: base, RuntimeVersion: "v2.2.9", RuntimeImage: rt}, // auto resolved to the default
		"explicit-v2.3.0":        {UpgradeImage: base, RuntimeVersion: "v2.3.0", RuntimeImage: rt}, // --runtime-version v2.3.0
		"explicit-upgrade-image": {UpgradeImage: "mirror/mine:1", RuntimeVersion: "v2.2.9"},        // --upgrade-image: for every node
		"old-state":              {UpgradeImage: base, RuntimeVersion: "v2.2.9"},                   // written before the variants
		"bad-runtime-version":    {UpgradeImage: base, RuntimeVersion: "latest", RuntimeImage: rt}, // never validated this far; safe side
	}
	for _, tc := range []struct {
		spec, node string
		want       Variant
	}{
		{"none", "containerd://1.6.20", VariantBase},
		{"none", "containerd://2.2.9", VariantBase},
		{"none", "", VariantBase},
		{"auto-v2.2.9", "containerd://1.6.20~ds1", VariantRuntime},
		{"auto-v2.2.9", "containerd://1.7.22", VariantRuntime},
		{"auto-v2.2.9", "containerd://2.0.5", VariantRuntime}, // older than the target: the agent upgrades it
		{"auto-v2.2.9", "containerd://2.2.9", VariantBase},
		{"auto-v2.2.9", "containerd://v2.2.9", VariantBase},
		{"auto-v2.2.9", "containerd://2.3.0-rc.1", VariantBase},
		{"auto-v2.2.9", "containerd://3.0.0", VariantBase},
		{"auto-v2.2.9", "", VariantRuntime},               // unknown
		{"auto-v2.2.9", "cri-o://1.30.0", VariantRuntime}, // not containerd: the agent refuses on the node
		{"auto-v2.2.9", "containerd://unknown", VariantRuntime},
		{"explicit-v2.3.0", "containerd://2.2.9", VariantRuntime},
		{"explicit-v2.3.0", "containerd://2.3.0", VariantBase},
		{"explicit-upgrade-image", "containerd://1.6.20", VariantBase},
		{"explicit-upgrade-image", "", VariantBase},
		{"old-state", "containerd://1.6.20", VariantBase},
		{"bad-runtime-version", "containerd://2.2.9", VariantRuntime},
	} {
		sp := specs[tc.spec]
		if got := NodeVariant(sp, tc.node); got != tc.want {
			t.Errorf("NodeVariant(%s, %q) = %s, want %s", tc.spec, tc.node, got, tc.want)
		}
		// What staging pulls is what the node Job runs, by tag until a digest is known.
		_, staged := StageImages(State{Spec: sp}, tc.node)
		_, runs := NodeImages(State{Spec: sp}, tc.node)
		if want := UpgradeImageOf(sp, tc.want); staged != want || runs != want {
			t.Errorf("%s, %q: staging pulls %s and the node Job runs %s, want %s", tc.spec, tc.node, staged, runs, want)
		}
	}
}

// Node Jobs run each variant by the digest its own staging recorded; a variant not yet
// recorded runs by tag; a state from before the variants keeps its one digest.
func TestNodeImagesByDigest(t *testing.T) {
	const base, rt = "r.local/up:v1.36.3", "r.local/up:v1.36.3-containerd-v2.2.9"
	sum := func(c string) string { return "@sha256:" + strings.Repeat(c, 64) }
	sp := Spec{PreprocessImage: "r.local/pre:1", UpgradeImage: base, RuntimeVersion: "v2.2.9", RuntimeImage: rt}
	for _, tc := range []struct {
		name         string
		digests      *Digests
		node         string
		wantPre, up  string
		baseRecorded bool
		rtRecorded   bool
	}{
		{"nothing staged", nil, "containerd://1.6.20", "r.local/pre:1", rt, false, false},
		{"base staged, runtime node", &Digests{Preprocess: "r.local/pre" + sum("a"), Upgrade: "r.local/up" + sum("b"), Recorded: []Variant{VariantBase}},
			"containerd://1.6.20", "r.local/pre" + sum("a"), rt, true, false},
		{"base staged, base node", &Digests{Preprocess: "r.local/pre" + sum("a"), Upgrade: "r.local/up" + sum("b"), Recorded: []Variant{VariantBase}},
			"containerd://2.2.9", "r.local/pre" + sum("a"), "r.local/up" + sum("b"), true, false},
		{"both staged, runtime node", &Digests{Preprocess: "r.local/pre" + sum("a"), Upgrade: "r.local/up" + sum("b"), Runtime: "r.local/up" + sum("c"), Recorded: []Variant{VariantBase, VariantRuntime}},
			"containerd://1.6.20", "r.local/pre" + sum("a"), "r.local/up" + sum("c"), true, true},
		{"runtime staged from local images (no digest)", &Digests{Recorded: []Variant{VariantRuntime}},
			"containerd://1.6.20", "r.local/pre:1", rt, false, true},
		{"a state before the variants", &Digests{Preprocess: "r.local/pre" + sum("a"), Upgrade: "r.local/up" + sum("b")},
			"containerd://2.2.9", "r.local/pre" + sum("a"), "r.local/up" + sum("b"), true, false},
	} {
		s := State{Spec: sp, Digests: tc.digests}
		pre, up := NodeImages(s, tc.node)
		if pre != tc.wantPre || up != tc.up {
			t.Errorf("%s: node Job runs %s and %s, want %s and %s", tc.name, pre, up, tc.wantPre, tc.up)
		}
		if DigestRecorded(s, VariantBase) != tc.baseRecorded || DigestRecorded(s, VariantRuntime) != tc.rtRecorded {
			t.Errorf("%s: recorded base %v runtime %v, want %v %v", tc.name,
				DigestRecorded(s, VariantBase), DigestRecorded(s, VariantRuntime), tc.baseRecorded, tc.rtRecorded)
		}
	}
}
