package upgrade

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Defaults of the start flags.
const (
	DefaultJobTimeout   = 30 * time.Minute
	DefaultDrainTimeout = 5 * time.Minute
	DefaultPauseExpiry  = 15 * 24 * time.Hour
)

// Cluster is what start needs to know of the cluster besides its nodes.
type Cluster struct {
	APIServerVersion string
	Nodes            []Node // in scope
}

// ErrNothingToDo is returned by NewState when every node in scope is at the target.
var ErrNothingToDo = errors.New("nothing to upgrade")

// ValidateSpec checks the operator's input alone (no cluster knowledge).
func ValidateSpec(sp Spec) error {
	if _, err := ParseVersion(sp.TargetVersion); err != nil {
		return err
	}
	var errs []string
	if err := ValidateMode(sp.Mode); err != nil {
		errs = append(errs, err.Error())
	}
	if sp.MaxConcurrentPulls < 0 {
		errs = append(errs, fmt.Sprintf("--max-concurrent-pulls must be 0 (the batch cap) or more, got %d", sp.MaxConcurrentPulls))
	}
	if sp.MaxBatchSize < 0 {
		errs = append(errs, fmt.Sprintf("--max-batch-size must be 0 (10%% of the workers) or more, got %d", sp.MaxBatchSize))
	}
	for flag, d := range map[string]time.Duration{"--job-timeout": sp.JobTimeout.Duration, "--pause-expiry": sp.PauseExpiry.Duration, "--drain-timeout": sp.DrainTimeout.Duration} {
		if d <= 0 {
			errs = append(errs, fmt.Sprintf("%s must be positive, got %s", flag, d))
		}
	}
	if sp.OfflineGrace.Duration < 0 || sp.Soak.Duration < 0 {
		errs = append(errs, fmt.Sprintf("--offline-grace and --soak must not be negative, got %s and %s", sp.OfflineGrace.Duration, sp.Soak.Duration))
	}
	if sp.MaxDeferred != "" {
		if _, _, err := ParseMaxDeferred(sp.MaxDeferred); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if sp.PreprocessImage == "" || sp.UpgradeImage == "" {
		errs = append(errs, "the preprocess and upgrade images must be set")
	}
	if len(errs) > 0 {
		slices.Sort(errs)
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// ValidateMode refuses a mode that is not one of Modes, in the words every command uses.
func ValidateMode(m Mode) error {
	if slices.Contains(Modes, m) {
		return nil
	}
	return fmt.Errorf("unknown --mode %q: use one of all, control-plane, nodes", m)
}

// NewState validates a start against the cluster and returns the first state of a
// run: version steps (docs/design.md §2.8), the managed control plane (§2.2), the cap.
func NewState(sp Spec, runID string, c Cluster, now time.Time) (State, error) {
	if err := ValidateSpec(sp); err != nil {
		return State{}, err
	}
	target, _ := CanonicalVersion(sp.TargetVersion)
	sp.TargetVersion = target
	if err := checkVersions(sp, c); err != nil {
		return State{}, err
	}
	workers, masters := 0, 0
	pending := 0
	for _, n := range c.Nodes {
		if n.Role == RoleMaster {
			masters++
		} else {
			workers++
		}
		if InMode(sp.Mode, n.Role) && !Upgraded(n.Version, target) {
			pending++
		}
	}
	apiAtTarget := Upgraded(c.APIServerVersion, target)
	if pending == 0 && (apiAtTarget || sp.Mode == ModeNodes) {
		return State{}, fmt.Errorf("every node in scope is already at %s: %w", target, ErrNothingToDo)
	}
	sp.FromVersion = lowestVersion(sp.Mode, c)
	return State{
		SchemaVersion: SchemaVersion, RunID: runID, Spec: sp, Phase: PhasePreCheck, StartedAt: now,
		Workers: workers, Masters: masters, Cap: CapFor(workers, sp.MaxBatchSize), Ramp: 1, HistoryKept: true,
	}, nil
}

// InMode reports whether a node of role r is upgraded in mode m.
func InMode(m Mode, r Role) bool {
	return m == ModeAll || (m == ModeControlPlane && r == RoleMaster) || (m == ModeNodes && r == RoleWorker)
}

func checkVersions(sp Spec, c Cluster) error {
	if err := CheckStep(c.APIServerVersion, sp.TargetVersion); err != nil {
		return err
	}
	api, _ := ParseVersion(c.APIServerVersion)
	t, _ := ParseVersion(sp.TargetVersion)
	apiBehind := api.Minor() < t.Minor()
	hasMasters := slices.ContainsFunc(c.Nodes, func(n Node) bool { return n.Role == RoleMaster })
	switch {
	case sp.Mode == ModeNodes && apiBehind:
		return fmt.Errorf("cannot upgrade nodes to %s: the control plane is at v%s and a kubelet must never be newer than the API server; upgrade the control plane first (--mode all or control-plane)", sp.TargetVersion, api)
	case sp.Mode != ModeNodes && !hasMasters && apiBehind:
		return fmt.Errorf("no control-plane nodes are visible (managed control plane) and the API server is at v%s; upgrade it to v%d.%d with your provider first, then run with --mode nodes", api, t.Major(), t.Minor())
	}
	for _, n := range c.Nodes {
		if !InMode(sp.Mode, n.Role) || Upgraded(n.Version, sp.TargetVersion) {
			continue
		}
		if err := CheckStep(n.Version, sp.TargetVersion); err != nil {
			return fmt.Errorf("node %s: %w", n.Name, err)
		}
	}
	return nil
}

// lowestVersion is the oldest version among the API server and the in-scope kubelets.
func lowestVersion(m Mode, c Cluster) string {
	low, _ := ParseVersion(c.APIServerVersion)
	for _, n := range c.Nodes {
		if !InMode(m, n.Role) {
			continue
		}
		if v, err := ParseVersion(n.Version); err == nil && v.LessThan(low) {
			low = v
		}
	}
	return "v" + low.String()
}
