package upgrade

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Validate checks the invariants of a decoded state, so that a hand-edited or
// truncated ConfigMap is reported instead of acted upon (docs/design.md §2.9).
func Validate(s State) error {
	var errs []string
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Sprintf(format, args...))
		}
	}
	check(s.RunID != "", "runID is empty")
	check(s.Phase.valid(), "unknown phase %q", s.Phase)
	switch KindOf(s.Spec) {
	case KindKubernetes:
		_, err := ParseVersion(s.Spec.TargetVersion)
		check(err == nil, "spec.targetVersion %q is not a version", s.Spec.TargetVersion)
	case KindDaemonSet, KindDeployment:
		check(Upgraded(s.Spec.TargetVersion, s.Spec.TargetVersion), "spec.targetVersion %q is not a revision", s.Spec.TargetVersion)
		// No TargetHash: recorded before the switch (SwitchPending), or ended before it.
		check(s.Spec.Component.Name != "" && (s.Spec.Component.TargetHash != "" || s.Spec.Component.NewTemplate != ""), "spec.component names no component or revision")
	default:
		check(false, "unknown spec.kind %q", s.Spec.Kind)
	}
	check(slices.Contains(Modes, s.Spec.Mode), "unknown spec.mode %q", s.Spec.Mode)
	check(s.Cap >= 1, "cap %d is below 1", s.Cap)
	check(s.Workers >= 0 && s.Masters >= 0, "negative node counts")
	check(s.Ramp >= 1, "ramp %d is below 1", s.Ramp)
	check(s.Batches >= 0 && s.MasterSerial >= 0, "negative batch counters")
	check(!s.StartedAt.IsZero(), "startedAt is missing")
	check(s.Phase.Terminal() == (s.FinishedAt != nil), "finishedAt must be set exactly when the run has ended")
	check(len(s.Failures) <= MaxFailures, "more than %d failures kept", MaxFailures)
	check(len(s.Skipped) <= MaxFailures && len(s.Skipped) <= s.SkippedCount, "more skipped nodes kept than %d or than counted", MaxFailures)
	check(len(s.LeftBehind) <= MaxFailures && len(s.LeftBehind) <= s.LeftBehindCount, "more nodes left behind kept than %d or than counted", MaxFailures)
	check(s.Spec.OfflineGrace.Duration >= 0 && s.Spec.Soak.Duration >= 0, "negative offline grace or soak")
	if b := s.Current; b != nil {
		check(!s.Phase.Terminal(), "a finished run has a current batch")
		check(len(b.Nodes) >= 1, "the current batch has no nodes")
		check(b.Role == RoleMaster || b.Role == RoleWorker, "unknown batch role %q", b.Role)
		check(b.Role != RoleMaster || len(b.Nodes) == 1, "a master batch has %d nodes", len(b.Nodes))
		check(b.Role != RoleWorker || len(b.Nodes) <= s.Cap, "the current batch has %d nodes, above the cap of %d", len(b.Nodes), s.Cap)
		check(b.Role != RoleMaster || s.Phase == PhaseMasters, "a master batch outside the Masters phase")
		check(b.Role != RoleWorker || s.Phase == PhaseNodes, "a worker batch outside the Nodes phase")
		check(!hasDuplicates(b.Nodes), "the current batch names a node twice")
		check((b.GateSince == nil) || (b.RestartsSince != nil), "a gated batch has no restart baseline")
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

func hasDuplicates(names []string) bool {
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if seen[n] {
			return true
		}
		seen[n] = true
	}
	return false
}
