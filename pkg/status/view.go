// Package status builds the status view of a run: the stable `status -o json`
// contract (documented in the README) and its human rendering.
package status

import (
	"slices"
	"sort"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/api"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// GroupVersion of the status object (for -o json|yaml consumers): api.GroupVersion.
var GroupVersion = schema.GroupVersion{Group: api.Group, Version: api.Version}

// Status is the JSON contract of `kubectl edgeupgrade status -o json`.
type Status struct {
	metav1.TypeMeta `json:",inline"`
	RunID           string     `json:"runID"`
	Phase           string     `json:"phase"` // PreCheck|Masters|Nodes|Pausing|Paused|Completed|Incomplete|Cancelled
	Stage           string     `json:"stage"` // the phase the run is in, even while paused
	TargetVersion   string     `json:"targetVersion"`
	FromVersion     string     `json:"fromVersion"`
	Mode            string     `json:"mode"`
	StartedAt       time.Time  `json:"startedAt"`
	FinishedAt      *time.Time `json:"finishedAt,omitempty"`
	Elapsed         string     `json:"elapsed"`
	EndReason       string     `json:"endReason,omitempty"`
	Pause           *Pause     `json:"pause,omitempty"`
	Masters         Masters    `json:"masters"`
	Nodes           Nodes      `json:"nodes"`
	CurrentBatch    *Batch     `json:"currentBatch,omitempty"`
	NextBatchSize   int        `json:"nextBatchSize"`
	Cap             int        `json:"cap"`
	Batches         []Batch    `json:"batches"`
	Failures        []Failure  `json:"failures"`
	FailureCount    int        `json:"failureCount"`
	DeferredNodes   []string   `json:"deferredNodes,omitempty"`
	Events          []Event    `json:"events,omitempty"`

	// Edge robustness (docs/design.md §2.11–13, §6).

	// Gate describes the health gate after each master and batch, with the soak.
	Gate string `json:"gate,omitempty"`
	// MaxDeferred is how many offline workers the run defers before it pauses.
	MaxDeferred int `json:"maxDeferred,omitempty"`
	// SkippedNodes are the latest failed nodes skipped by resume --skip-failed.
	SkippedNodes []string `json:"skippedNodes,omitempty"`
	SkippedCount int      `json:"skippedCount,omitempty"`
	// LeftBehind lists the nodes an Incomplete run left below the target, and why.
	LeftBehind      []LeftNode `json:"leftBehind,omitempty"`
	LeftBehindCount int        `json:"leftBehindCount,omitempty"`
	// ETA is the estimated end of a run not ended yet, and its basis (eta.go).
	ETA *Estimate `json:"eta,omitempty"`

	// RunKind is what the run upgrades: kubernetes, daemonset or deployment; Component
	// names the component of the last two ("DaemonSet kube-system/kube-proxy").
	RunKind   string `json:"runKind"`
	Component string `json:"component,omitempty"`
	// Staging is the progress of staging, for a run that stages (stage.go).
	Staging *Staging `json:"staging,omitempty"`

	// Driver says who drives an unfinished run (driver.go).
	Driver *Driver `json:"driver,omitempty"`
}

// LeftNode is a node a run ended without upgrading, and why.
type LeftNode struct {
	Node   string `json:"node"`
	Reason string `json:"reason"`
}

// OfflineNode is a node of the batch in flight that is NotReady.
type OfflineNode struct {
	Node          string    `json:"node"`
	NotReadySince time.Time `json:"notReadySince"`
	// UpgradeRunning is how long its upgrade Job has existed ("" when it has none).
	UpgradeRunning string `json:"upgradeRunning,omitempty"`
	// Progress is how far its upgrade got, as last reported.
	Progress string `json:"progress,omitempty"`
}

// Gate is the state of the health gate of a batch whose nodes are all upgraded.
type Gate struct {
	Since time.Time `json:"since"`
	// SoakUntil is when the soak ends (absent without --soak).
	SoakUntil *time.Time `json:"soakUntil,omitempty"`
}

// Pause is set while pausing or paused.
type Pause struct {
	Reason  string    `json:"reason"`
	Since   time.Time `json:"since"`
	ByError bool      `json:"byError"`
}

// Masters counts control-plane nodes.
type Masters struct {
	Total    int     `json:"total"`
	Upgraded int     `json:"upgraded"`
	Current  *Master `json:"current,omitempty"`
}

// Master is the control-plane node being upgraded, with its serial ("master 2/3").
type Master struct {
	Serial int    `json:"serial"`
	Node   string `json:"node"`
}

// Nodes counts every node in scope (masters included) by where it stands.
type Nodes struct {
	Total      int `json:"total"`
	Upgraded   int `json:"upgraded"`
	InProgress int `json:"inProgress"`
	Pending    int `json:"pending"`
	Failed     int `json:"failed"`
	Deferred   int `json:"deferred"`
}

// Batch is one batch of the run, from its Jobs.
type Batch struct {
	Index      string     `json:"index"`
	Role       string     `json:"role"`
	Pool       string     `json:"pool"`
	Size       int        `json:"size"`
	Nodes      []string   `json:"nodes"`
	StartedAt  *time.Time `json:"startedAt,omitempty"`
	FinishedAt *time.Time `json:"finishedAt,omitempty"`
	Result     string     `json:"result"` // Running|Succeeded|Failed|Pending|Gating
	// Offline lists the NotReady nodes of the batch in flight (currentBatch only).
	Offline []OfflineNode `json:"offline,omitempty"`
	// Gate is set while the finished batch's health gate (and soak) holds the next one.
	Gate *Gate `json:"gate,omitempty"`
}

// Failure is one failed node.
type Failure struct {
	Node      string    `json:"node"`
	Batch     string    `json:"batch"`
	Container string    `json:"container"`
	Reason    string    `json:"reason,omitempty"`
	Message   string    `json:"message"`
	At        time.Time `json:"at"`
}

// Event is a recent Event of the run.
type Event struct {
	Time    time.Time `json:"time"`
	Type    string    `json:"type"`
	Reason  string    `json:"reason"`
	Object  string    `json:"object"`
	Message string    `json:"message"`
}

// DeepCopyObject makes Status a runtime.Object for cli-runtime printers.
func (s *Status) DeepCopyObject() runtime.Object {
	c := *s
	return &c
}

// Build assembles the view. It is pure: events are passed in, newest last.
func Build(st upgrade.State, obs upgrade.Observation, events []Event, now time.Time) *Status {
	s := &Status{
		TypeMeta: metav1.TypeMeta{APIVersion: GroupVersion.String(), Kind: "UpgradeStatus"},
		RunID:    st.RunID, Phase: upgrade.StateName(st, obs), Stage: string(st.Phase),
		TargetVersion: st.Spec.TargetVersion, FromVersion: st.Spec.FromVersion, Mode: string(st.Spec.Mode),
		RunKind: string(upgrade.KindOf(st.Spec)), Component: componentOf(st.Spec),
		StartedAt: st.StartedAt, FinishedAt: st.FinishedAt, EndReason: st.EndReason,
		Cap: st.Cap, FailureCount: st.FailureCount, Events: events,
		Failures: []Failure{}, Batches: []Batch{},
	}
	end := now
	if st.FinishedAt != nil {
		end = *st.FinishedAt
	}
	s.Elapsed = end.Sub(st.StartedAt).Round(time.Second).String()
	if st.Pause != nil {
		s.Pause = &Pause{Reason: st.Pause.Reason, Since: st.Pause.Since, ByError: st.Pause.ByError}
	}
	for _, f := range st.Failures {
		s.Failures = append(s.Failures, Failure{Node: f.Node, Batch: f.Batch, Container: f.Container, Reason: f.Reason, Message: f.Message, At: f.At})
	}
	countNodes(s, st, obs)
	s.Batches = history(st, obs)
	if b := st.Current; b != nil {
		cb := Batch{Index: b.Label(), Role: string(b.Role), Pool: b.Pool, Size: len(b.Nodes), Nodes: slices.Clone(b.Nodes), StartedAt: &b.StartedAt, Result: "Running"}
		cb.Offline = offline(b, obs, now)
		if b.GateSince != nil {
			cb.Result, cb.Gate = "Gating", &Gate{Since: *b.GateSince}
			if soak := st.Spec.Soak.Duration; soak > 0 {
				until := b.GateSince.Add(soak)
				cb.Gate.SoakUntil = &until
			}
		}
		s.CurrentBatch = &cb
		if b.Role == upgrade.RoleMaster {
			s.Masters.Current = &Master{Serial: masterSerial(st, obs, b.Nodes[0]), Node: b.Nodes[0]}
		}
	}
	s.NextBatchSize = upgrade.NextBatchSize(st, obs)
	s.Gate = upgrade.GateText(st.Spec)
	s.MaxDeferred = upgrade.MaxDeferredOf(st.Spec, st.Workers)
	s.SkippedNodes, s.SkippedCount = slices.Clone(st.Skipped), st.SkippedCount
	for _, l := range st.LeftBehind {
		s.LeftBehind = append(s.LeftBehind, LeftNode{Node: l.Node, Reason: l.Reason})
	}
	s.LeftBehindCount = st.LeftBehindCount
	s.Staging = staging(st, obs)
	s.ETA = estimate(s, st, obs, now)
	return s
}

// offline lists the NotReady nodes of the batch in flight, with how long their
// upgrade has been running and how far it got.
func offline(b *upgrade.Batch, obs upgrade.Observation, now time.Time) []OfflineNode {
	var out []OfflineNode
	for _, n := range obs.Nodes {
		if n.Ready || !slices.Contains(b.Nodes, n.Name) {
			continue
		}
		o := OfflineNode{Node: n.Name, NotReadySince: n.NotReadySince}
		if j, ok := obs.Jobs[n.Name]; ok {
			end := now
			if !j.Finished.IsZero() {
				end = j.Finished
			}
			o.UpgradeRunning, o.Progress = end.Sub(j.Created).Round(time.Second).String(), j.Progress
		}
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Node < out[j].Node })
	return out
}

func countNodes(s *Status, st upgrade.State, obs upgrade.Observation) {
	deferred := upgrade.Deferred(st, obs)
	s.DeferredNodes = deferred
	upgraded := UpgradedMemo(st.Spec.TargetVersion)
	for _, n := range obs.Nodes {
		if !upgrade.InMode(st.Spec.Mode, n.Role) {
			continue
		}
		s.Nodes.Total++
		up := upgraded(n.Version)
		if n.Role == upgrade.RoleMaster {
			s.Masters.Total++
			if up {
				s.Masters.Upgraded++
			}
		}
		j, hasJob := obs.Jobs[n.Name]
		switch {
		case up:
			s.Nodes.Upgraded++
		case hasJob && j.Phase == upgrade.JobFailed:
			s.Nodes.Failed++
		case hasJob:
			s.Nodes.InProgress++
		}
	}
	s.Nodes.Deferred = len(deferred)
	s.Nodes.Pending = s.Nodes.Total - s.Nodes.Upgraded - s.Nodes.Failed - s.Nodes.InProgress - s.Nodes.Deferred
}

// masterSerial is the position of node among the masters in upgrade order (1-based).
func masterSerial(st upgrade.State, obs upgrade.Observation, node string) int {
	var names []string
	for _, n := range obs.Nodes {
		if n.Role == upgrade.RoleMaster {
			names = append(names, n.Name)
		}
	}
	sort.Strings(names)
	if i := slices.Index(names, node); i >= 0 {
		return i + 1
	}
	return st.MasterSerial
}

// history rebuilds the batch history from the run's Jobs (docs/design.md §4: per-node
// history is kept in Jobs, not in the ConfigMap). A one-shot command may know a
// finished batch's Jobs without their times (runner/jobtable.go): the state's record
// of the batch gives them.
func history(st upgrade.State, obs upgrade.Observation) []Batch {
	byLabel := map[string]*Batch{}
	for _, j := range obs.Jobs {
		b := byLabel[j.Batch]
		if b == nil {
			b = &Batch{Index: j.Batch, Role: string(j.Role), Pool: j.Pool, Result: "Succeeded"}
			byLabel[j.Batch] = b
		}
		b.Nodes = append(b.Nodes, j.Node)
		b.Size++
		if c := j.Created; !c.IsZero() && (b.StartedAt == nil || c.Before(*b.StartedAt)) {
			b.StartedAt = &c
		}
		switch j.Phase {
		case upgrade.JobActive:
			b.Result = "Running"
		case upgrade.JobFailed:
			if b.Result != "Running" {
				b.Result = "Failed"
			}
		}
		if f := j.Finished; !f.IsZero() && (b.FinishedAt == nil || f.After(*b.FinishedAt)) {
			b.FinishedAt = &f
		}
	}
	out := make([]Batch, 0, len(byLabel))
	for _, b := range byLabel {
		if r, ok := upgrade.RecordOf(st, b.Index); ok && b.StartedAt == nil {
			b.StartedAt, b.FinishedAt = &r.StartedAt, &r.FinishedAt
		}
		if b.Result == "Running" {
			b.FinishedAt = nil
		}
		sort.Strings(b.Nodes)
		out = append(out, *b)
	}
	sort.Slice(out, func(i, j int) bool { return batchLess(out[i].Index, out[j].Index) })
	return out
}

// batchLess orders masters (m1, m2, ...) before worker batches (1, 2, ...).
func batchLess(a, b string) bool {
	am, bm := a != "" && a[0] == 'm', b != "" && b[0] == 'm'
	if am != bm {
		return am
	}
	ai, _ := strconv.Atoi(a[boolInt(am):])
	bi, _ := strconv.Atoi(b[boolInt(bm):])
	return ai < bi
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// componentOf names a component run's component ("" for a Kubernetes run).
func componentOf(sp upgrade.Spec) string {
	switch upgrade.KindOf(sp) {
	case upgrade.KindDaemonSet:
		return "DaemonSet " + sp.Component.Namespace + "/" + sp.Component.Name
	case upgrade.KindDeployment:
		return "Deployment " + sp.Component.Namespace + "/" + sp.Component.Name
	}
	return ""
}
