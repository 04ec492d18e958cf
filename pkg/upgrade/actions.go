package upgrade

// ActionKind names what an adapter must do after the new state is saved.
type ActionKind string

const (
	// CreateJobs creates the node-upgrade Jobs of Batch for Nodes (AlreadyExists: adopt).
	CreateJobs ActionKind = "CreateJobs"
	// Drain cordons every node of Nodes, then evicts their pods (only with --drain).
	Drain ActionKind = "Drain"
	// Uncordon uncordons the nodes of Nodes that this run cordoned.
	Uncordon ActionKind = "Uncordon"
	// DeleteJobs deletes this run's Jobs (and their pods) for Nodes and waits until
	// they are gone, so a retry can reuse the deterministic Job name.
	DeleteJobs ActionKind = "DeleteJobs"
	// DeferJobs deletes the Jobs of Nodes, which went offline before their upgrade
	// started, without waiting for their pods (an unreachable node's pod lingers).
	DeferJobs ActionKind = "DeferJobs"
	// MarkSkipped marks the Jobs of Nodes as skipped (resume --skip-failed).
	MarkSkipped ActionKind = "MarkSkipped"
	// DeleteRun deletes every Job, pod and Event of the run (pause expiry).
	DeleteRun ActionKind = "DeleteRun"
	// CreateStage creates the staging Jobs of Nodes (AlreadyExists: adopt).
	CreateStage ActionKind = "CreateStage"
	// DeleteStage deletes the staging Jobs of Nodes without waiting (a failed pull to
	// retry, or a node gone offline while pulling).
	DeleteStage ActionKind = "DeleteStage"
	// Emit records an Event.
	Emit ActionKind = "Emit"
)

// Action is one side effect decided by the core.
type Action struct {
	Kind  ActionKind
	Batch *Batch
	Nodes []string
	Event *Event
}

// EventType mirrors the Kubernetes Event types.
type EventType string

const (
	Normal  EventType = "Normal"
	Warning EventType = "Warning"
)

// Event reasons, stable for anyone filtering Events.
const (
	ReasonRunStarted    = "UpgradeStarted"
	ReasonPreCheck      = "PreCheckPassed"
	ReasonPhaseStarted  = "PhaseStarted"
	ReasonBatchStarted  = "BatchStarted"
	ReasonBatchFinished = "BatchFinished"
	ReasonNodeUpgraded  = "NodeUpgraded"
	ReasonNodeFailed    = "NodeUpgradeFailed"
	ReasonPaused        = "UpgradePaused"
	ReasonResumed       = "UpgradeResumed"
	ReasonCancelled     = "UpgradeCancelled"
	ReasonCompleted     = "UpgradeCompleted"
	ReasonTampered      = "TamperingDetected"
	ReasonNodesDeferred = "NodesDeferred"
	ReasonNodeNotReady  = "NodeNotReady"
	ReasonIncomplete    = "UpgradeIncomplete"
	ReasonGateFailed    = "HealthGateFailed"
	ReasonNodesSkipped  = "NodesSkipped"
	ReasonStaged        = "ImagesStaged"
	// The driver's own view of the API server, shown in its progress and never
	// written as Events (the API server is what it cannot reach).
	ReasonAPIUnreachable = "APIServerUnreachable"
	ReasonAPIReachable   = "APIServerReachable"
)

// Event is an Event to record on the state ConfigMap, and on Node when set.
type Event struct {
	Type    EventType
	Reason  string
	Message string
	Node    string
}

func emit(t EventType, reason, node, msg string) Action {
	return Action{Kind: Emit, Event: &Event{Type: t, Reason: reason, Node: node, Message: msg}}
}
