package upgrade

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Staging (docs/design.md §8): from the start of the run, in parallel with the masters,
// every in-scope node not yet at the target gets the run's images pulled by a staging
// Job (a pod that runs the images and does nothing), at most MaxPullsOf nodes at once
// across the cluster, in the order the run upgrades them. Nothing is cordoned or
// restarted. A node joins a batch only once its staging finished, so no node is
// disrupted before its images are on it; a node whose staging is still pulling yields
// its place to the next staged node of its pool. The state keeps nothing per node: the
// staging Jobs are the record, like the node Jobs.

// StageJob is what the core needs of one node's staging Job.
type StageJob struct {
	Phase    JobPhase
	Finished time.Time
	// UpgradeImage is the upgrade image the Job pulls, as it was created (a
	// variant's tag; "" for a Job of a plugin before the variants).
	UpgradeImage string
	// Reported: the adapter read the image IDs the staging pod reported for the two
	// images (status.containerStatuses[].imageID) into PreprocessID and UpgradeID.
	// It reads them of one succeeded Job per variant whose digest is not recorded yet
	// (DigestRecorded).
	Reported                bool
	PreprocessID, UpgradeID string
}

// Digests are the digest references of the run's images ("repo@sha256:…"), each ""
// when the image reference has no known digest.
type Digests struct {
	Preprocess string `json:"preprocess,omitempty"`
	Upgrade    string `json:"upgrade,omitempty"`
	// Runtime is the runtime variant's (Spec.RuntimeImage).
	Runtime string `json:"runtime,omitempty"`
	// Recorded lists the variants whose staging pod reported (DigestRecorded), whether
	// or not it gave a digest: an image imported with no registry has none.
	Recorded []Variant `json:"recorded,omitempty"`
}

// StageRetry is how long a failed pull waits before its staging Job is deleted and
// the node staged again. Until then the node is not held back: its own Job pulls.
const StageRetry = time.Minute

// MaxPullsOf is how many nodes may pull at once while staging: --max-concurrent-pulls,
// else the batch cap. Without staging a batch already pulls on up to a cap of nodes at
// once, so by default staging loads the registry no more than one batch does.
func MaxPullsOf(s State) int {
	if s.Spec.MaxConcurrentPulls > 0 {
		return s.Spec.MaxConcurrentPulls
	}
	return max(1, s.Cap)
}

// stage decides the staging Jobs to create and delete; it runs after the batch
// decisions of a reconcile, on every reconcile of an unfinished run that stages.
func stage(s *State, obs Observation, now time.Time) []Action {
	if !stages(*s) || s.Phase.Terminal() {
		return nil
	}
	acts := recordDigests(s, obs)
	ready := make(map[string]bool, len(obs.Nodes))
	for _, n := range obs.Nodes {
		ready[n.Name] = n.Ready
	}
	inBatch := func(n string) bool { return s.Current != nil && slices.Contains(s.Current.Nodes, n) }
	active := 0
	var drop []string
	for _, node := range sortedKeys(obs.Staging) {
		sj := obs.Staging[node]
		_, hasJob := obs.Jobs[node]
		switch {
		case sj.Phase == JobActive && !ready[node]:
			drop = append(drop, node) // offline while pulling: deferred, staged when back
		case sj.Phase == JobActive:
			active++
		case sj.Phase == JobFailed && ready[node] && !hasJob && !inBatch(node) && now.Sub(sj.Finished) >= StageRetry:
			drop = append(drop, node) // retried once its Job is gone
		}
	}
	if len(drop) > 0 {
		acts = append(acts, Action{Kind: DeleteStage, Nodes: drop})
	}
	if s.Pause != nil {
		return acts // no new pull while paused; pulls running finish
	}
	free := MaxPullsOf(*s) - active
	var create []string
	for _, n := range stageOrder(*s, obs) {
		if len(create) >= free {
			break
		}
		if _, has := obs.Staging[n.Name]; !has && n.Ready && !inBatch(n.Name) {
			create = append(create, n.Name)
		}
	}
	if len(create) > 0 {
		acts = append(acts, Action{Kind: CreateStage, Nodes: create})
	}
	return acts
}

// stages reports whether the run stages: a Kubernetes run without --no-stage (the
// images of a DaemonSet or Deployment run are its pods').
func stages(s State) bool { return s.Spec.Stage && KindOf(s.Spec) == KindKubernetes }

// stageOrder lists the nodes to stage in the order the run upgrades them: masters,
// then workers pool by pool; those with a Job or at the target need no staging.
func stageOrder(s State, obs Observation) []Node {
	var out []Node
	if InMode(s.Spec.Mode, RoleMaster) {
		out = candidates(obs.Nodes, RoleMaster, s.Spec.TargetVersion, obs.Jobs)
	}
	if !InMode(s.Spec.Mode, RoleWorker) {
		return out
	}
	workers := candidates(obs.Nodes, RoleWorker, s.Spec.TargetVersion, obs.Jobs)
	for _, pool := range PoolOrder(workers) {
		for _, n := range workers {
			if n.Pool == pool {
				out = append(out, n)
			}
		}
	}
	return out
}

// staged reports whether staging no longer holds a node back from a batch: the run
// does not stage, or the node's staging Job finished. A failed pull does not hold it
// back either: its node Job then pulls the images itself, as without staging.
func staged(s State, obs Observation, node string) bool {
	if !stages(s) {
		return true
	}
	sj, ok := obs.Staging[node]
	return ok && sj.Phase != JobActive
}

// pickStaged takes the first size staged nodes of ready (in order). It returns nil
// when fewer are staged: the batch waits for staging rather than start smaller,
// except at the end of a pool, where every ready node must be staged.
func pickStaged(s State, obs Observation, ready []string, size int) []string {
	var out []string
	for _, n := range ready {
		if staged(s, obs, n) {
			out = append(out, n)
			if len(out) == size {
				return out
			}
		}
	}
	return nil
}

// recordDigests keeps the digests of the run's images from the first staging pod of
// each upgrade image that reported them, once per variant: from then on node Jobs name
// the images by digest (NodeImages), so the image staging pulled is the one that runs.
// The preprocess image's comes with the first pod of either variant.
func recordDigests(s *State, obs Observation) []Action {
	var acts []Action
	for _, node := range sortedKeys(obs.Staging) {
		sj := obs.Staging[node]
		v := VariantOf(s.Spec, sj.UpgradeImage)
		if sj.Phase != JobSucceeded || !sj.Reported || DigestRecorded(*s, v) {
			continue
		}
		d := Digests{Preprocess: DigestRef(s.Spec.PreprocessImage, sj.PreprocessID)}
		if s.Digests != nil {
			d = *s.Digests
			d.Recorded = slices.Clone(d.Recorded)
		}
		ref := DigestRef(UpgradeImageOf(s.Spec, v), sj.UpgradeID)
		if v == VariantRuntime {
			d.Runtime = ref
		} else {
			d.Upgrade = ref
		}
		d.Recorded = append(d.Recorded, v)
		s.Digests = &d
		acts = append(acts, emit(Normal, ReasonStaged, node, stagedMessage(*s, node, v)))
	}
	return acts
}

// stagedMessage says which images the node Jobs of variant v run from now on.
func stagedMessage(s State, node string, v Variant) string {
	pre, up := variantImages(s, v)
	switch {
	case v == VariantRuntime:
		return fmt.Sprintf("images staged on node %s first of the nodes whose containerd the run upgrades; their node Jobs run %s and %s", node, pre, up)
	case s.Spec.RuntimeImage != "":
		return fmt.Sprintf("images staged on node %s first of the nodes whose containerd is current; their node Jobs run %s and %s", node, pre, up)
	}
	return fmt.Sprintf("images staged on node %s first; node Jobs run %s and %s", node, pre, up)
}

// DigestRef is the digest reference of image given the image ID a pod reported for
// it: "repo@sha256:…" when image is a tag and the ID is a repository digest of the
// same repository; "" otherwise. An image already named by digest needs none, and an
// ID that is only a local image ID ("sha256:…", an image imported with no registry)
// is no reference a node could pull, so the tag stays.
func DigestRef(image, imageID string) string {
	if strings.Contains(image, "@") {
		return ""
	}
	repo, digest, ok := strings.Cut(strings.TrimPrefix(imageID, "docker-pullable://"), "@")
	if !ok || !strings.HasPrefix(digest, "sha256:") || len(digest) != len("sha256:")+64 {
		return ""
	}
	if name := repository(image); name != repo && "docker.io/"+name != repo && "docker.io/library/"+name != repo {
		return ""
	}
	return repository(image) + "@" + digest
}

// repository is an image reference without its tag.
func repository(image string) string {
	slash := strings.LastIndex(image, "/")
	if colon := strings.LastIndex(image, ":"); colon > slash {
		return image[:colon]
	}
	return image
}

// ImagesOf returns the images the node Jobs of the base variant run (every node's
// when the run has one upgrade image): by digest once staging reported one, else as
// the operator named them. NodeImages says which a given node runs.
func ImagesOf(s State) (preprocess, upgrade string) { return variantImages(s, VariantBase) }

// StageWake is when a failed pull is next retried (zero if none): drivers wake then.
func StageWake(s State, obs Observation, now time.Time) time.Time {
	if !s.Spec.Stage || s.Phase.Terminal() {
		return time.Time{}
	}
	var next time.Time
	for _, sj := range obs.Staging {
		if t := sj.Finished.Add(StageRetry); sj.Phase == JobFailed && t.After(now) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	return next
}

// PoolStage is the staging progress of one pool ("control-plane" for the masters).
type PoolStage struct {
	Pool string `json:"pool"`
	// Staged counts the nodes whose images are on them (staged, or past staging: a
	// Job of theirs exists or they are at the target); Total the nodes in scope.
	Staged  int `json:"staged"`
	Pulling int `json:"pulling"`
	Failed  int `json:"failed,omitempty"`
	Offline int `json:"offline,omitempty"`
	Total   int `json:"total"`
}

// PoolControlPlane names the masters' line of StageProgress.
const PoolControlPlane = "control-plane"

// StageProgress is the staging progress by pool, masters first (nil when the run does
// not stage).
func StageProgress(s State, obs Observation) []PoolStage {
	if !s.Spec.Stage {
		return nil
	}
	by := map[string]*PoolStage{}
	upgraded := upgradedMemo(s.Spec.TargetVersion)
	for _, n := range obs.Nodes {
		if !InMode(s.Spec.Mode, n.Role) {
			continue
		}
		pool := n.Pool
		if n.Role == RoleMaster {
			pool = PoolControlPlane
		}
		p := by[pool]
		if p == nil {
			p = &PoolStage{Pool: pool}
			by[pool] = p
		}
		p.Total++
		sj, has := obs.Staging[n.Name]
		_, hasJob := obs.Jobs[n.Name]
		switch {
		case hasJob || upgraded(n.Version) || (has && sj.Phase == JobSucceeded):
			p.Staged++
		case !n.Ready:
			p.Offline++
		case has && sj.Phase == JobActive:
			p.Pulling++
		case has && sj.Phase == JobFailed:
			p.Failed++
		}
	}
	out := make([]PoolStage, 0, len(by))
	for _, p := range by {
		out = append(out, *p)
	}
	slices.SortFunc(out, func(a, b PoolStage) int {
		switch {
		case a.Pool == b.Pool:
			return 0
		case a.Pool == PoolControlPlane:
			return -1
		case b.Pool == PoolControlPlane:
			return 1
		case poolLess(a.Pool, b.Pool):
			return -1
		}
		return 1
	})
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
