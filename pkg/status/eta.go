package status

import (
	"fmt"
	"time"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/internal/words"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// Estimate is when a run is expected to end, and what the estimate rests on. Batches
// run one after the other and the nodes of a batch in parallel, so a batch takes
// about as long whatever its size: the time left is the batches left times the mean
// duration of the finished batches of the same role (masters run kubeadm's control
// plane upgrade and take longer than workers).
type Estimate struct {
	// CompletesAt is unset while the run is paused or before any batch finished.
	CompletesAt *time.Time `json:"completesAt,omitempty"`
	// Remaining is the work left as a duration ("4m10s"), unset without a basis.
	Remaining string `json:"remaining,omitempty"`
	// BatchesLeft counts the batches still to start, plus the one in flight.
	BatchesLeft int `json:"batchesLeft"`
	// MeanMasterBatch and MeanWorkerBatch are the mean durations the estimate uses.
	MeanMasterBatch string `json:"meanMasterBatch,omitempty"`
	MeanWorkerBatch string `json:"meanWorkerBatch,omitempty"`
	// FinishedBatches is how many finished batches the means come from.
	FinishedBatches int `json:"finishedBatches"`
	// Basis says the above in one sentence.
	Basis string `json:"basis"`
}

// estimate is nil for a run that ended.
func estimate(s *Status, st upgrade.State, obs upgrade.Observation, now time.Time) *Estimate {
	if st.Phase.Terminal() {
		return nil
	}
	mean, finished := meanDurations(s.Batches)
	left := batchesLeft(st, obs)
	e := &Estimate{BatchesLeft: left.masters + left.workers, FinishedBatches: finished}
	flying := ""
	if st.Current != nil && upgrade.InFlight(st, obs) > 0 {
		e.BatchesLeft++
		flying = "1 in flight, "
	}
	if finished == 0 {
		e.Basis = fmt.Sprintf("%d %s left; no batch has finished yet", e.BatchesLeft, words.Plural(e.BatchesLeft, "batch", "batches"))
		return e
	}
	m, w := mean[upgrade.RoleMaster], mean[upgrade.RoleWorker]
	if m == 0 {
		m = w
	}
	if w == 0 {
		w = m
	}
	rest := time.Duration(left.masters)*m + time.Duration(left.workers)*w
	if b := st.Current; b != nil && upgrade.InFlight(st, obs) > 0 {
		per := w
		if b.Role == upgrade.RoleMaster {
			per = m
		}
		rest += max(0, per-now.Sub(b.StartedAt))
	}
	rest = rest.Round(time.Second)
	e.Remaining = rest.String()
	if mean[upgrade.RoleMaster] > 0 {
		e.MeanMasterBatch = mean[upgrade.RoleMaster].Round(time.Second).String()
	}
	if mean[upgrade.RoleWorker] > 0 {
		e.MeanWorkerBatch = mean[upgrade.RoleWorker].Round(time.Second).String()
	}
	e.Basis = fmt.Sprintf("%d %s left (%s%d master, %d worker) at the mean duration of %d finished %s",
		e.BatchesLeft, words.Plural(e.BatchesLeft, "batch", "batches"), flying, left.masters, left.workers, finished, words.Plural(finished, "batch", "batches"))
	if st.Pause != nil {
		e.Basis += "; paused: no completion time until the run is resumed"
		return e
	}
	at := now.Add(rest).UTC()
	e.CompletesAt = &at
	return e
}

// meanDurations is the mean duration of the finished batches per role, and their count.
func meanDurations(batches []Batch) (map[upgrade.Role]time.Duration, int) {
	sum, n := map[upgrade.Role]time.Duration{}, map[upgrade.Role]int{}
	total := 0
	for _, b := range batches {
		if b.StartedAt == nil || b.FinishedAt == nil || b.StartedAt.IsZero() || b.FinishedAt.Before(*b.StartedAt) {
			continue // a Job without its times says nothing of how long a batch takes
		}
		r := upgrade.Role(b.Role)
		sum[r] += b.FinishedAt.Sub(*b.StartedAt)
		n[r]++
		total++
	}
	mean := map[upgrade.Role]time.Duration{}
	for r, d := range sum {
		mean[r] = d / time.Duration(n[r])
	}
	return mean, total
}

type leftCount struct{ masters, workers int }

// batchesLeft counts the batches not started yet, by the batch policy (docs/design.md
// §2.3): masters one at a time, then each pool's pending workers in batches that
// double from the current ramp (1 in a pool not started yet) up to the cap.
func batchesLeft(st upgrade.State, obs upgrade.Observation) leftCount {
	var left leftCount
	inBatch := map[string]bool{}
	if st.Current != nil {
		for _, n := range st.Current.Nodes {
			inBatch[n] = true
		}
	}
	deferred := map[string]bool{}
	for _, n := range upgrade.Deferred(st, obs) {
		deferred[n] = true
	}
	perPool := map[string]int{}
	var workers []upgrade.Node
	upgraded := UpgradedMemo(st.Spec.TargetVersion)
	for _, n := range obs.Nodes {
		if !upgrade.InMode(st.Spec.Mode, n.Role) || inBatch[n.Name] || deferred[n.Name] || upgraded(n.Version) {
			continue
		}
		if _, has := obs.Jobs[n.Name]; has {
			continue
		}
		if n.Role == upgrade.RoleMaster {
			left.masters++
			continue
		}
		if perPool[n.Pool] == 0 {
			workers = append(workers, n)
		}
		perPool[n.Pool]++
	}
	limit := max(1, st.Cap)
	for _, pool := range upgrade.PoolOrder(workers) {
		ramp := 1
		if st.Batches > 0 && pool == st.Pool && st.Ramp > 0 {
			ramp = st.Ramp
		}
		for n := perPool[pool]; n > 0; {
			n -= min(ramp, limit, n)
			ramp = min(ramp*2, limit)
			left.workers++
		}
	}
	return left
}

// UpgradedMemo is upgrade.Upgraded for one target, memoized per version: thousands
// of nodes share a handful of versions, and parsing one costs far more than a lookup
// (the view is rebuilt after every reconcile of a driver).
func UpgradedMemo(target string) func(string) bool {
	memo := map[string]bool{}
	return func(v string) bool {
		up, ok := memo[v]
		if !ok {
			up = upgrade.Upgraded(v, target)
			memo[v] = up
		}
		return up
	}
}

// BatchLess orders batch labels as the run does: masters (m1, m2, ...) first, then
// worker batches by number.
func BatchLess(a, b string) bool { return batchLess(a, b) }
