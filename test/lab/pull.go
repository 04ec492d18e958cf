package lab

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/edgeupgrade/kubectl-edgeupgrade/test/lab/sim"
)

// SetLinkSpeed sets the node's link speed ("1Mbit"): the simulator then pulls an image
// missing on it in size ÷ speed. "" removes it (pulls take no time).
func (l *Lab) SetLinkSpeed(ctx context.Context, node, speed string) error {
	var v *string
	if speed != "" {
		if _, err := sim.ParseLinkSpeed(speed); err != nil {
			return err
		}
		v = strPtr(speed)
	}
	return l.annotate(ctx, node, map[string]*string{sim.AnnotationLinkSpeed: v})
}

// SetPullFail makes the node's staging pulls fail with msg ("" clears it).
func (l *Lab) SetPullFail(ctx context.Context, node, msg string) error {
	var v *string
	if msg != "" {
		v = strPtr(msg)
	}
	return l.annotate(ctx, node, map[string]*string{sim.AnnotationPullFail: v})
}

// SetImageSizes sets the compressed sizes of the upgrade and preprocess images
// ("64Mi"; "" for no pull time).
func (l *Lab) SetImageSizes(ctx context.Context, upgrade, preprocess string) error {
	patch := fmt.Sprintf(`{"data":{%q:%q,%q:%q}}`, sim.KeyUpgradeImageSize, upgrade, sim.KeyPreprocessImageSize, preprocess)
	_, err := l.Client.CoreV1().ConfigMaps(sim.ConfigMapNamespace).Patch(ctx, sim.ConfigMapName,
		"application/merge-patch+json", []byte(patch), metav1.PatchOptions{})
	return err
}

// Share is one part of a link speed distribution: Percent of the nodes at Speed.
type Share struct {
	Percent int
	Speed   string
}

// ParseLinkSpeeds reads a distribution such as "10%=1Mbit,60%=10Mbit,30%=100Mbit"
// (the percentages add up to 100).
func ParseLinkSpeeds(v string) ([]Share, error) {
	var out []Share
	total := 0
	for part := range strings.SplitSeq(v, ",") {
		pct, speed, ok := strings.Cut(strings.TrimSpace(part), "=")
		n, err := strconv.Atoi(strings.TrimSuffix(pct, "%"))
		if !ok || err != nil || n < 0 || !strings.HasSuffix(pct, "%") {
			return nil, fmt.Errorf("--link-speeds %q: want shares such as 10%%=1Mbit,90%%=100Mbit", v)
		}
		if _, err := sim.ParseLinkSpeed(speed); err != nil {
			return nil, fmt.Errorf("--link-speeds %q: %w", v, err)
		}
		out = append(out, Share{Percent: n, Speed: speed})
		total += n
	}
	if total != 100 {
		return nil, fmt.Errorf("--link-speeds %q: the percentages add up to %d, not 100", v, total)
	}
	return out, nil
}

// AssignLinkSpeeds spreads the shares over nodes: exactly each share of them (rounded),
// chosen by a hash of the name so that every pool and batch gets a mix and the same
// nodes always get the same speed.
func AssignLinkSpeeds(nodes []string, shares []Share) map[string]string {
	order := slices.Clone(nodes)
	key := func(n string) string { s := sha256.Sum256([]byte(n)); return string(s[:]) }
	slices.SortFunc(order, func(a, b string) int { return strings.Compare(key(a), key(b)) })
	out := make(map[string]string, len(nodes))
	cum, i := 0, 0
	for _, s := range shares {
		cum += s.Percent
		for end := (len(order)*cum + 50) / 100; i < end; i++ {
			out[order[i]] = s.Speed
		}
	}
	return out
}

// SetLinkSpeeds sets each node's link speed from a distribution over nodes.
func (l *Lab) SetLinkSpeeds(ctx context.Context, nodes []string, shares []Share) error {
	for node, speed := range AssignLinkSpeeds(nodes, shares) {
		if err := l.SetLinkSpeed(ctx, node, speed); err != nil {
			return err
		}
	}
	return nil
}
