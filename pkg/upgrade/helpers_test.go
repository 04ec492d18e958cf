package upgrade

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

const (
	from   = "v1.35.4"
	target = "v1.36.3"
)

// cluster is a tiny fake of what the adapters observe.
type cluster struct {
	nodes []Node
	jobs  map[string]Job
	pods  map[string][]Pod
	stage map[string]StageJob
	// sp is the run's spec, for the upgrade image a staging Job pulls (StageImages).
	sp Spec
}

func newCluster(masters int, pools map[string]int) *cluster {
	c := &cluster{jobs: map[string]Job{}}
	for i := 1; i <= masters; i++ {
		c.nodes = append(c.nodes, Node{Name: fmt.Sprintf("master-%d", i), Role: RoleMaster, Version: from, Ready: true})
	}
	for pool, n := range pools {
		for i := 1; i <= n; i++ {
			c.nodes = append(c.nodes, Node{Name: fmt.Sprintf("w-%s-%04d", pool, i), Role: RoleWorker, Pool: pool, Version: from, Ready: true})
		}
	}
	return c
}

func (c *cluster) obs() Observation {
	jobs := make(map[string]Job, len(c.jobs))
	for k, v := range c.jobs {
		jobs[k] = v
	}
	nodes := append([]Node(nil), c.nodes...)
	pods := make(map[string][]Pod, len(c.pods))
	for k, v := range c.pods {
		pods[k] = append([]Pod(nil), v...)
	}
	stage := make(map[string]StageJob, len(c.stage))
	for k, v := range c.stage {
		stage[k] = v
	}
	return Observation{Nodes: nodes, Jobs: jobs, Pods: pods, Staging: stage}
}

func (c *cluster) node(name string) *Node {
	for i := range c.nodes {
		if c.nodes[i].Name == name {
			return &c.nodes[i]
		}
	}
	return nil
}

// apply performs the CreateJobs actions as Active Jobs.
func (c *cluster) apply(acts []Action, now time.Time) {
	for _, a := range acts {
		if a.Kind == CreateJobs {
			for _, n := range a.Nodes {
				if _, ok := c.jobs[n]; !ok {
					c.jobs[n] = Job{Name: "job-" + n, Node: n, Batch: a.Batch.Label(), Pool: a.Batch.Pool, Role: a.Batch.Role, Phase: JobActive, Created: now, Started: true}
				}
			}
		}
		if a.Kind == DeleteJobs || a.Kind == DeferJobs {
			for _, n := range a.Nodes {
				delete(c.jobs, n)
			}
		}
		if a.Kind == CreateStage {
			if c.stage == nil {
				c.stage = map[string]StageJob{}
			}
			for _, n := range a.Nodes {
				if _, ok := c.stage[n]; !ok {
					_, up := StageImages(State{Spec: c.sp}, c.node(n).Runtime)
					c.stage[n] = StageJob{Phase: JobActive, UpgradeImage: up}
				}
			}
		}
		if a.Kind == DeleteStage {
			for _, n := range a.Nodes {
				delete(c.stage, n)
			}
		}
		if a.Kind == MarkSkipped {
			for _, n := range a.Nodes {
				j := c.jobs[n]
				j.Skipped = true
				c.jobs[n] = j
			}
		}
	}
}

// setPod adds or replaces a DaemonSet pod on node; restarted records a restart at now.
func (c *cluster) setPod(node string, p Pod, restarted bool, now time.Time) {
	if c.pods == nil {
		c.pods = map[string][]Pod{}
	}
	if restarted {
		p.RestartedAt = now
	}
	pods := slices.DeleteFunc(c.pods[node], func(q Pod) bool { return q.Name == p.Name })
	c.pods[node] = append(pods, p)
}

func (c *cluster) succeed(node string, now time.Time) {
	j := c.jobs[node]
	j.Phase, j.Finished = JobSucceeded, now
	c.jobs[node] = j
	c.node(node).Version = target
}

func (c *cluster) fail(node, container, msg string, now time.Time) {
	j := c.jobs[node]
	j.Phase, j.Finished, j.Reason, j.Container, j.Message, j.FailedPods = JobFailed, now, "BackoffLimitExceeded", container, msg, 1
	c.jobs[node] = j
}

// succeedActive finishes every active Job.
func (c *cluster) succeedActive(now time.Time) {
	for n, j := range c.jobs {
		if j.Phase == JobActive {
			c.succeed(n, now)
		}
	}
}

func spec() Spec {
	return Spec{TargetVersion: target, Mode: ModeAll, JobTimeout: Duration{30 * time.Minute},
		DrainTimeout: Duration{5 * time.Minute}, PauseExpiry: Duration{DefaultPauseExpiry},
		PreprocessImage: "registry.local/pre:1", UpgradeImage: "registry.local/up:1"}
}

func mustStart(t *testing.T, sp Spec, c *cluster) State {
	t.Helper()
	st, err := NewState(sp, "run1", Cluster{APIServerVersion: from, Nodes: c.nodes}, t0)
	if err != nil {
		t.Fatalf("NewState: %v", err)
	}
	return st
}

// step reconciles (a Tick) and applies the resulting Job creations.
func step(c *cluster, s State, now time.Time) (State, []Action) {
	next, acts := tick(s, c.obs(), now)
	c.apply(acts, now)
	return next, acts
}

// runToEnd drives a run where every Job succeeds, returning the batches started.
func runToEnd(t *testing.T, c *cluster, s State) (State, []*Batch) {
	t.Helper()
	var batches []*Batch
	now := t0
	for i := 0; i < 10*len(c.nodes)+20; i++ {
		now = now.Add(time.Second)
		var acts []Action
		s, acts = step(c, s, now)
		for _, a := range acts {
			if a.Kind == CreateJobs {
				b := *a.Batch
				batches = append(batches, &b)
			}
		}
		if s.Phase.Terminal() || s.Pause != nil {
			return s, batches
		}
		c.succeedActive(now)
	}
	t.Fatalf("run did not end")
	return s, batches
}

// tick is Step with a Tick, which is never refused.
func tick(s State, obs Observation, now time.Time) (State, []Action) {
	next, acts, _ := Step(s, obs, Tick{}, now)
	return next, acts
}

func kinds(acts []Action) map[ActionKind]int {
	m := map[ActionKind]int{}
	for _, a := range acts {
		m[a.Kind]++
	}
	return m
}

func reasons(acts []Action) []string {
	var out []string
	for _, a := range acts {
		if a.Kind == Emit {
			out = append(out, a.Event.Reason)
		}
	}
	return out
}
