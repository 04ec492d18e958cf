package status

import (
	"fmt"
	"strings"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// Staging is the progress of staging (docs/design.md §8): how many in-scope nodes have
// the run's images, in all and by pool (the masters as pool "control-plane").
type Staging struct {
	MaxConcurrentPulls int `json:"maxConcurrentPulls"`
	// Staged counts the nodes whose images are on them (or that are past staging:
	// their Job exists or they are at the target), of Total in scope.
	Staged  int                 `json:"staged"`
	Pulling int                 `json:"pulling"`
	Failed  int                 `json:"failed"`
	Offline int                 `json:"offline"`
	Total   int                 `json:"total"`
	Pools   []upgrade.PoolStage `json:"pools"`
	// Images are the images node Jobs run: by digest once staging resolved them.
	Images []string `json:"images,omitempty"`
}

// staging builds the staging progress (nil when the run does not stage).
func staging(st upgrade.State, obs upgrade.Observation) *Staging {
	pools := upgrade.StageProgress(st, obs)
	if pools == nil {
		return nil
	}
	s := &Staging{MaxConcurrentPulls: upgrade.MaxPullsOf(st), Pools: pools}
	for _, p := range pools {
		s.Staged += p.Staged
		s.Pulling += p.Pulling
		s.Failed += p.Failed
		s.Offline += p.Offline
		s.Total += p.Total
	}
	if st.Digests != nil {
		pre, up := upgrade.ImagesOf(st)
		s.Images = []string{pre, up}
	}
	return s
}

// stagingLine is the human line of the staging progress.
func stagingLine(s *Staging) string {
	line := fmt.Sprintf("%d/%d nodes staged, %d pulling (at most %d at once)", s.Staged, s.Total, s.Pulling, s.MaxConcurrentPulls)
	if s.Failed > 0 {
		line += fmt.Sprintf(", %d failed (retried)", s.Failed)
	}
	if s.Offline > 0 {
		line += fmt.Sprintf(", %d offline (deferred)", s.Offline)
	}
	if len(s.Pools) > 1 {
		items := make([]string, 0, len(s.Pools))
		for _, p := range s.Pools {
			name := p.Pool
			if name == "" {
				name = "(no pool)"
			}
			items = append(items, fmt.Sprintf("%s %d/%d", name, p.Staged, p.Total))
		}
		line += "; by pool: " + strings.Join(items, ", ")
	}
	return line
}
