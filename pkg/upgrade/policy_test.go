package upgrade

import (
	"fmt"
	"math/rand"
	"reflect"
	"testing"
)

func TestCapFor(t *testing.T) {
	for _, tc := range []struct{ workers, max, want int }{
		{0, 0, 1}, {1, 0, 1}, {9, 0, 1}, {10, 0, 1}, {19, 0, 1}, {20, 0, 2}, {99, 0, 9}, {100, 0, 10},
		{1000, 0, 100}, {3000, 0, 300}, {60, 3, 3}, {5, 10, 10},
	} {
		if got := CapFor(tc.workers, tc.max); got != tc.want {
			t.Errorf("CapFor(%d, %d) = %d, want %d", tc.workers, tc.max, got, tc.want)
		}
	}
}

func TestPoolOrder(t *testing.T) {
	nodes := []Node{{Name: "a", Role: RoleWorker, Pool: "zeta"}, {Name: "b", Role: RoleWorker, Pool: ""},
		{Name: "c", Role: RoleWorker, Pool: "alpha"}, {Name: "m", Role: RoleMaster, Pool: "x"}, {Name: "d", Role: RoleWorker, Pool: "cloud"}}
	got := PoolOrder(nodes)
	want := []string{"alpha", "cloud", "zeta", ""}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("PoolOrder = %q, want %q", got, want)
	}
}

// expectedSizes is the ramp of docs/design.md §2.3 for one pool of n nodes.
func expectedSizes(n, limit int) []int {
	var out []int
	ramp := 1
	for n > 0 {
		s := min(ramp, limit, n)
		out = append(out, s)
		n -= s
		ramp = min(ramp*2, limit)
	}
	return out
}

// TestBatchPolicyProperties checks, for worker counts 1..3000 and random pool splits,
// that per pool the batches follow 1, 2, 4, ... capped at max(1, 10% of W), that
// every node is in exactly one batch, pools are never mixed and the plan is
// deterministic.
func TestBatchPolicyProperties(t *testing.T) {
	rng := rand.New(rand.NewSource(42))
	var ws []int
	for w := 1; w <= 100; w++ {
		ws = append(ws, w)
	}
	for w := 101; w <= 3000; w += 211 {
		ws = append(ws, w)
	}
	ws = append(ws, 3000)
	for _, w := range ws {
		pools := splitPools(rng, w)
		maxBatch := 0
		if rng.Intn(4) == 0 {
			maxBatch = 1 + rng.Intn(20)
		}
		t.Run(fmt.Sprintf("W=%d/pools=%d/max=%d", w, len(pools), maxBatch), func(t *testing.T) {
			checkPlan(t, w, pools, maxBatch)
		})
	}
}

func splitPools(rng *rand.Rand, w int) map[string]int {
	n := 1 + rng.Intn(min(w, 6))
	pools := map[string]int{}
	left := w
	for i := 0; i < n-1 && left > 1; i++ {
		k := 1 + rng.Intn(left-1)
		pools[fmt.Sprintf("p%d", i)] += k
		left -= k
	}
	pools[fmt.Sprintf("p%d", n-1)] += left
	return pools
}

func checkPlan(t *testing.T, w int, pools map[string]int, maxBatch int) {
	c := newCluster(3, pools)
	sp := spec()
	sp.MaxBatchSize = maxBatch
	st := mustStart(t, sp, c)
	limit := CapFor(w, maxBatch)
	if st.Cap != limit {
		t.Fatalf("cap = %d, want %d", st.Cap, limit)
	}
	plan := PlanRun(st, c.nodes)
	again := PlanRun(st, newCluster(3, pools).nodes)
	if !reflect.DeepEqual(plan, again) {
		t.Fatal("plan is not deterministic")
	}
	seen := map[string]int{}
	sizesByPool := map[string][]int{}
	var poolSeq []string
	for i, b := range plan.Batches {
		if b.Role == RoleMaster {
			if len(b.Nodes) != 1 || i >= 3 {
				t.Fatalf("master batch %d has %d nodes at position %d", b.Index, len(b.Nodes), i)
			}
		} else {
			if len(b.Nodes) > limit {
				t.Fatalf("batch %d has %d nodes, cap %d", b.Index, len(b.Nodes), limit)
			}
			if n := len(poolSeq); n == 0 || poolSeq[n-1] != b.Pool {
				poolSeq = append(poolSeq, b.Pool)
			}
			sizesByPool[b.Pool] = append(sizesByPool[b.Pool], len(b.Nodes))
		}
		for _, n := range b.Nodes {
			seen[n]++
			if node := c.node(n); b.Role == RoleWorker && node.Pool != b.Pool {
				t.Fatalf("batch %d of pool %s holds node %s of pool %s", b.Index, b.Pool, n, node.Pool)
			}
		}
	}
	for _, n := range c.nodes {
		if seen[n.Name] != 1 {
			t.Fatalf("node %s is in %d batches", n.Name, seen[n.Name])
		}
	}
	if len(poolSeq) != len(pools) {
		t.Fatalf("pools visited %v: a pool was split or revisited", poolSeq)
	}
	for pool, n := range pools {
		if want := expectedSizes(n, limit); !reflect.DeepEqual(sizesByPool[pool], want) {
			t.Fatalf("pool %s (%d nodes, cap %d): sizes %v, want %v", pool, n, limit, sizesByPool[pool], want)
		}
	}
}

func TestNextBatchSize(t *testing.T) {
	c := newCluster(1, map[string]int{"a": 40})
	st := mustStart(t, spec(), c)
	st, _ = step(c, st, t0) // master-1
	c.succeedActive(t0)
	st, _ = step(c, st, t0) // closes the master batch, starts batch 1 of size 1
	if got := NextBatchSize(st, c.obs()); got != 2 {
		t.Fatalf("after the first batch of 1 the next is %d, want 2", got)
	}
}
