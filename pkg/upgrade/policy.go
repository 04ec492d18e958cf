package upgrade

import (
	"slices"
	"sort"
	"strings"
)

// CapFor is the batch cap of docs/design.md §2.3: max(1, floor(10% of the workers in
// scope at start)), or maxBatchSize when the operator set one.
func CapFor(workers, maxBatchSize int) int {
	if maxBatchSize > 0 {
		return maxBatchSize
	}
	return max(1, workers/10)
}

// NoPool is the pool name of nodes without a pool label. It sorts after every named
// pool, so labelled pools go first.
const NoPool = ""

// PoolOrder returns pool names in upgrade order: named pools in ascending byte order,
// then the nodes without a pool.
func PoolOrder(nodes []Node) []string {
	seen := map[string]bool{}
	var pools []string
	for _, n := range nodes {
		if n.Role == RoleWorker && !seen[n.Pool] {
			seen[n.Pool] = true
			pools = append(pools, n.Pool)
		}
	}
	sort.Slice(pools, func(i, j int) bool { return poolLess(pools[i], pools[j]) })
	return pools
}

func poolLess(a, b string) bool {
	if (a == NoPool) != (b == NoPool) {
		return b == NoPool
	}
	return a < b
}

// candidates are nodes not yet upgraded and without a Job in this run, in upgrade order.
// It filters before sorting: it runs on every reconcile, and late in a run few of the
// cluster's nodes are left.
func candidates(nodes []Node, role Role, target string, jobs map[string]Job) []Node {
	var out []Node
	upgraded := upgradedMemo(target)
	for _, n := range nodes {
		if n.Role != role {
			continue
		}
		if _, has := jobs[n.Name]; has || upgraded(n.Version) {
			continue
		}
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b Node) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// upgradedMemo is Upgraded for one target, memoized per version string: thousands of
// nodes share a handful of versions, and parsing one costs far more than a map lookup.
func upgradedMemo(target string) func(string) bool {
	memo := map[string]bool{}
	return func(v string) bool {
		up, ok := memo[v]
		if !ok {
			up = Upgraded(v, target)
			memo[v] = up
		}
		return up
	}
}

// nextRamp doubles the ramp without exceeding the cap.
func nextRamp(ramp, limit int) int { return min(max(1, ramp)*2, limit) }

// NextBatchSize is the size of the next batch to start after the current one: what
// status shows as "next batch". 0 when nothing is left.
func NextBatchSize(s State, obs Observation) int {
	if s.Phase.Terminal() {
		return 0
	}
	inBatch := map[string]bool{}
	if s.Current != nil {
		for _, n := range s.Current.Nodes {
			inBatch[n] = true
		}
	}
	if s.Phase != PhaseNodes {
		for _, n := range candidates(obs.Nodes, RoleMaster, s.Spec.TargetVersion, obs.Jobs) {
			if !inBatch[n.Name] && s.Spec.Mode != ModeNodes {
				return 1
			}
		}
		if s.Spec.Mode == ModeControlPlane {
			return 0
		}
	}
	workers := candidates(obs.Nodes, RoleWorker, s.Spec.TargetVersion, obs.Jobs)
	for _, pool := range PoolOrder(workers) {
		ready := 0
		for _, n := range workers {
			if n.Pool == pool && n.Ready && !inBatch[n.Name] {
				ready++
			}
		}
		if ready == 0 {
			continue
		}
		if s.Phase == PhaseNodes && s.Batches > 0 && pool == s.Pool {
			return min(max(1, s.Ramp), s.Cap, ready)
		}
		return 1
	}
	return 0
}
