// Package upgrade is the pure core of kubectl-edgeupgrade: the upgrade state, the batch
// policy and every transition of docs/design.md §2 as functions of (state, observation,
// time). It decides; adapters act. No client, no clock, no I/O.
package upgrade

import (
	"time"
)

// SchemaVersion is the version of the persisted State encoding.
const SchemaVersion = 1

// Phase is where the run is. Pausing and Paused are not phases: a run keeps its phase
// while paused (see State.Pause), and the view derives "Pausing"/"Paused" from it.
type Phase string

const (
	PhasePreCheck  Phase = "PreCheck"
	PhaseMasters   Phase = "Masters"
	PhaseNodes     Phase = "Nodes"
	PhaseCompleted Phase = "Completed"
	PhaseCancelled Phase = "Cancelled"
	// PhaseIncomplete ends a run that has nothing left to do but left in-scope nodes
	// below the target (offline, failed and skipped): State.LeftBehind says which and
	// why (docs/design.md §2.12). Completed means every in-scope node is at the target.
	PhaseIncomplete Phase = "Incomplete"
)

// Terminal reports whether no further transition can happen.
func (p Phase) Terminal() bool {
	return p == PhaseCompleted || p == PhaseCancelled || p == PhaseIncomplete
}

func (p Phase) valid() bool {
	switch p {
	case PhasePreCheck, PhaseMasters, PhaseNodes, PhaseCompleted, PhaseCancelled, PhaseIncomplete:
		return true
	}
	return false
}

// Mode selects what the run upgrades.
type Mode string

const (
	ModeAll          Mode = "all"
	ModeControlPlane Mode = "control-plane"
	ModeNodes        Mode = "nodes"
)

// Modes lists the valid modes, for help and errors.
var Modes = []Mode{ModeAll, ModeControlPlane, ModeNodes}

// Role of a node in the upgrade.
type Role string

const (
	RoleMaster Role = "master"
	RoleWorker Role = "worker"
)

// Duration is a time.Duration that encodes as a Go duration string ("15m0s").
type Duration struct{ time.Duration }

// Spec is what the operator asked for at start; it never changes during a run.
type Spec struct {
	// Kind is what the run upgrades ("" in states written before it: kubernetes).
	Kind RunKind `json:"kind,omitempty"`
	// Component is what a daemonset or deployment run upgrades.
	Component ComponentSpec `json:"component,omitzero"`

	TargetVersion   string   `json:"targetVersion"`
	FromVersion     string   `json:"fromVersion"`
	Mode            Mode     `json:"mode"`
	MaxBatchSize    int      `json:"maxBatchSize,omitempty"`
	PoolLabel       string   `json:"poolLabel,omitempty"`
	Selector        string   `json:"selector,omitempty"`
	Drain           bool     `json:"drain,omitempty"`
	DrainTimeout    Duration `json:"drainTimeout"`
	JobTimeout      Duration `json:"jobTimeout"`
	PauseExpiry     Duration `json:"pauseExpiry"`
	PreprocessImage string   `json:"preprocessImage"`
	UpgradeImage    string   `json:"upgradeImage"`
	SkipUnready     bool     `json:"skipUnready,omitempty"`
	SkipChecks      []string `json:"skipChecks,omitempty"`
	// RuntimeVersion is the containerd version the node step installs before the
	// kubelet ("" leaves the runtime alone): --runtime-version as the pre-check resolved it.
	RuntimeVersion string `json:"runtimeVersion,omitempty"`
	// RuntimeImage is the upgrade image with containerd's binaries (variant.go), for
	// the nodes whose containerd is older than RuntimeVersion; UpgradeImage, without
	// them, is every other node's. "" when every node runs UpgradeImage: the run
	// leaves the runtime alone, or --upgrade-image named one image for all.
	RuntimeImage string `json:"runtimeImage,omitempty"`

	// Edge robustness (docs/design.md §6). Zero values, as in states written before
	// these fields existed, mean the defaults (OfflineGraceOf, MaxDeferredOf).

	// MaxDeferred bounds the offline workers a run defers before it pauses: a count
	// ("5") or a percentage of the workers in scope at start ("20%").
	MaxDeferred string `json:"maxDeferred,omitempty"`
	// OfflineGrace is how long a node may be NotReady while its upgrade runs, and how
	// long the health gate waits for upgraded nodes and their DaemonSet pods to be Ready.
	OfflineGrace Duration `json:"offlineGrace,omitzero"`
	// Soak is how long the health gate must hold after each batch before the next.
	Soak Duration `json:"soak,omitzero"`

	// Stage pulls the images on every in-scope node before its batch (stage.go);
	// false in states written before staging existed, and with --no-stage.
	Stage bool `json:"stage,omitempty"`
	// MaxConcurrentPulls bounds the nodes pulling at once while staging, cluster-wide
	// (0: the batch cap, MaxPullsOf).
	MaxConcurrentPulls int `json:"maxConcurrentPulls,omitempty"`
}

// State is the whole persisted state of one run. Its size is bounded independently of
// the node count: per-node history lives in Jobs and Events, only the current batch's
// node names are kept here.
type State struct {
	SchemaVersion int       `json:"schemaVersion"`
	RunID         string    `json:"runID"`
	Spec          Spec      `json:"spec"`
	Phase         Phase     `json:"phase"`
	StartedAt     time.Time `json:"startedAt"`
	// FinishedAt is set when the phase becomes terminal.
	FinishedAt *time.Time `json:"finishedAt,omitempty"`
	// EndReason says why a run was cancelled ("cancelled by user", "expired ...").
	EndReason string `json:"endReason,omitempty"`

	// Workers and Masters are the in-scope node counts when the run started; Cap is
	// the batch cap derived from them (docs/design.md §2.3).
	Workers int `json:"workers"`
	Masters int `json:"masters"`
	Cap     int `json:"cap"`

	// Ramp is the size the next worker batch would have before the cap and the
	// pool's remaining nodes clamp it: 1, 2, 4, ... Reset to 1 per pool and on resume.
	Ramp int `json:"ramp"`
	// Pool is the pool of the latest worker batch (a change of pool resets Ramp).
	Pool string `json:"pool,omitempty"`
	// Batches counts worker batches started; MasterSerial counts masters started.
	Batches      int `json:"batches"`
	MasterSerial int `json:"masterSerial"`

	Current *Batch `json:"current,omitempty"`
	Pause   *Pause `json:"pause,omitempty"`

	// Failures keeps the most recent MaxFailures failures; FailureCount counts all.
	Failures     []Failure `json:"failures,omitempty"`
	FailureCount int       `json:"failureCount,omitempty"`

	// DeferredAccepted is the count of offline workers the operator accepted by
	// resuming a run that --max-deferred paused; the bound then applies above it.
	DeferredAccepted int `json:"deferredAccepted,omitempty"`
	// Skipped keeps the latest MaxFailures nodes skipped by `resume --skip-failed`;
	// SkippedCount counts all (the Jobs carry the mark: job.AnnotationSkipped).
	Skipped      []string `json:"skipped,omitempty"`
	SkippedCount int      `json:"skippedCount,omitempty"`
	// LeftBehind lists (at most MaxFailures of) the in-scope nodes an Incomplete run
	// left below the target, and why; LeftBehindCount counts all.
	LeftBehind      []LeftNode `json:"leftBehind,omitempty"`
	LeftBehindCount int        `json:"leftBehindCount,omitempty"`

	// Digests are the image digests the first staging pods of each upgrade image
	// reported (stage.go): node Jobs then run exactly the images staging pulled.
	Digests *Digests `json:"digests,omitempty"`

	// History records when each finished batch ran, oldest first (history.go), while
	// HistoryKept: set at start, cleared past MaxHistory batches. A state written
	// before it existed has neither, and status then reads every Job's metadata.
	History     []BatchRecord `json:"history,omitempty"`
	HistoryKept bool          `json:"historyKept,omitempty"`
}

// LeftNode is a node a run ended without upgrading, and why.
type LeftNode struct {
	Node   string `json:"node"`
	Reason string `json:"reason"`
}

// Reasons a node is left behind.
const (
	LeftOffline = "offline (NotReady)"                     // deferred, never back in time
	LeftSkipped = "failed, skipped (resume --skip-failed)" // the operator's choice
	LeftFailed  = "failed"                                 // a failed Job neither retried nor skipped
	LeftOther   = "not upgraded"                           // anything else (e.g. left the selector)
)

// MaxFailures bounds State.Failures.
const MaxFailures = 20

// Batch is the batch in flight. It is written to the state before its Jobs are
// created (write-ahead); JobsCreated records that every Job was seen afterwards.
type Batch struct {
	// Index is the worker batch number (1-based), or the master serial for masters.
	Index       int       `json:"index"`
	Role        Role      `json:"role"`
	Pool        string    `json:"pool,omitempty"`
	Nodes       []string  `json:"nodes"`
	StartedAt   time.Time `json:"startedAt"`
	JobsCreated bool      `json:"jobsCreated,omitempty"`
	// Failed lists nodes of this batch whose failure is already recorded.
	Failed []string `json:"failed,omitempty"`
	// MasterFirst marks the master batch that runs `kubeadm upgrade apply`.
	MasterFirst bool `json:"masterFirst,omitempty"`
	// GateSince is set when every node of the batch has upgraded: the health gate
	// (and the soak) run from then, and again from a resume (docs/design.md §2.13).
	GateSince *time.Time `json:"gateSince,omitempty"`
	// RestartsSince is when a DaemonSet container restart starts to fail the gate: the
	// batch's start, or the resume that accepted earlier restarts.
	RestartsSince *time.Time `json:"restartsSince,omitempty"`
	// Offline lists the nodes of this batch seen NotReady while their upgrade ran (their
	// NodeNotReady Event is recorded), each since the earliest NotReady this run saw
	// with no Ready in between: a kubelet that reports NotReady and then stops
	// reporting at all (Unknown) moves the condition's transition time.
	Offline []OfflineMark `json:"offline,omitempty"`
}

// OfflineMark is a node of the batch in flight seen NotReady since Since.
type OfflineMark struct {
	Node  string    `json:"node"`
	Since time.Time `json:"since"`
}

// Gating reports whether the batch is done and only its health gate (or soak) holds
// the next one back.
func (b *Batch) Gating() bool { return b != nil && b.GateSince != nil }

// Label is the value of the Job batch label: "m<serial>" for masters, "<index>" else.
func (b *Batch) Label() string { return BatchLabel(b.Role, b.Index) }

// Pause is set while the run is pausing or paused.
type Pause struct {
	Reason  string    `json:"reason"`
	Since   time.Time `json:"since"`
	ByError bool      `json:"byError"`
}

// Failure is one failed node upgrade.
type Failure struct {
	Node      string    `json:"node"`
	Batch     string    `json:"batch"`
	Container string    `json:"container,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	Message   string    `json:"message"`
	At        time.Time `json:"at"`
}
