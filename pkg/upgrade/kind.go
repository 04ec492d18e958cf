package upgrade

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// RunKind is what a run upgrades: the Kubernetes version of the nodes, or a system
// component beside the kubelet, under the same state machine and rules.
type RunKind string

const (
	KindKubernetes RunKind = "kubernetes"
	// KindDaemonSet replaces a DaemonSet's pod node by node: the node step deletes the
	// node's pod and waits until the new one is Ready.
	KindDaemonSet RunKind = "daemonset"
	// KindDeployment is a Deployment's native rollout plus a health check.
	KindDeployment RunKind = "deployment"
)

// KindOf is the run's kind; states written before runs had a kind are Kubernetes runs.
func KindOf(sp Spec) RunKind {
	if sp.Kind == "" {
		return KindKubernetes
	}
	return sp.Kind
}

// ComponentSpec is what a component run upgrades. Its versions are revisions, not
// Kubernetes versions: Spec.FromVersion and Spec.TargetVersion read "revision N" and a
// node is at the target when it says exactly the target (Upgraded).
type ComponentSpec struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// TargetHash and FromHash are the controller-revision-hash labels of the new and
	// the previous template's pods (a cancel restores the previous template).
	TargetHash string `json:"targetHash"`
	FromHash   string `json:"fromHash,omitempty"`
	// Images are the new template's containers, "name=image, …", for people.
	Images string `json:"images,omitempty"`
	// UpdateStrategy is the DaemonSet's updateStrategy before the run, as JSON: the run
	// holds the DaemonSet on OnDelete and restores this when it ends, however it ends.
	UpdateStrategy string `json:"updateStrategy,omitempty"`
	// PodTimeout is how long a node's new pod may take to become Ready before the node
	// fails.
	PodTimeout Duration `json:"podTimeout,omitzero"`
	// Settle is how long a Deployment run's rollout must stay healthy (every node
	// Ready, every pod Running and Ready) before the run completes.
	Settle Duration `json:"settle,omitzero"`
	// Template is a Deployment run's pod template before the run, as JSON: a cancel
	// patches it back.
	Template string `json:"template,omitempty"`
	// NewTemplate is a component run's new pod template, as JSON. The run is recorded
	// before its workload is touched, with no TargetHash: the adapter then sets this
	// template (a DaemonSet also held on OnDelete) and records the revision the
	// controller made of it (TargetHash, Spec.TargetVersion) before any decision. A run
	// that stopped in between is switched by whoever drives it next; a cancel restores
	// the DaemonSet's strategy above, or the Deployment's Template if it was switched.
	NewTemplate string `json:"newTemplate,omitempty"`
}

// SwitchPending reports whether a component run is recorded but its DaemonSet or
// Deployment not yet switched to the new template: nothing is decided before the switch.
func SwitchPending(s State) bool {
	k := KindOf(s.Spec)
	return (k == KindDaemonSet || k == KindDeployment) && s.Spec.Component.TargetHash == "" && s.Spec.Component.NewTemplate != "" && !s.Phase.Terminal()
}

// RevisionVersion is how a component run names a revision of its template.
func RevisionVersion(revision int64) string { return fmt.Sprintf("revision %d", revision) }

// NewComponentState returns the first state of a component run over nodes (those the
// component runs on). Masters go first, one at a time, then the workers pool by pool
// in batches, as in a Kubernetes run.
func NewComponentState(sp Spec, runID string, nodes []Node, now time.Time) (State, error) {
	var errs []string
	if sp.Kind != KindDaemonSet && sp.Kind != KindDeployment {
		errs = append(errs, fmt.Sprintf("unknown run kind %q", sp.Kind))
	}
	if sp.Component.Namespace == "" || sp.Component.Name == "" || (sp.Component.TargetHash == "" && sp.Component.NewTemplate == "") {
		errs = append(errs, "the component's namespace, name and target revision must be set")
	}
	if !strings.HasPrefix(sp.TargetVersion, "revision ") || sp.TargetVersion == sp.FromVersion {
		errs = append(errs, fmt.Sprintf("target %q must be a new revision (from %q)", sp.TargetVersion, sp.FromVersion))
	}
	if sp.MaxBatchSize < 0 || sp.PauseExpiry.Duration <= 0 || sp.Component.PodTimeout.Duration <= 0 {
		errs = append(errs, "--max-batch-size must not be negative, --pause-expiry and --pod-timeout must be positive")
	}
	if sp.MaxDeferred != "" {
		if _, _, err := ParseMaxDeferred(sp.MaxDeferred); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return State{}, errors.New(strings.Join(errs, "; "))
	}
	sp.Mode = ModeAll
	workers, masters, pending := 0, 0, 0
	for _, n := range nodes {
		if n.Role == RoleMaster {
			masters++
		} else {
			workers++
		}
		if !Upgraded(n.Version, sp.TargetVersion) {
			pending++
		}
	}
	if pending == 0 {
		return State{}, fmt.Errorf("every node of %s/%s already runs %s: %w", sp.Component.Namespace, sp.Component.Name, sp.TargetVersion, ErrNothingToDo)
	}
	return State{
		SchemaVersion: SchemaVersion, RunID: runID, Spec: sp, Phase: PhasePreCheck, StartedAt: now,
		Workers: workers, Masters: masters, Cap: CapFor(workers, sp.MaxBatchSize), Ramp: 1,
	}, nil
}
