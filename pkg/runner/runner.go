package runner

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/store"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// Runner reconciles one run: observe → decide (pkg/upgrade) → save → act.
type Runner struct {
	Client kubernetes.Interface
	Store  store.Store
	Cache  *Cache
	Now    func() time.Time
	// OnEvent, when set, sees every Event the run records (progress output).
	OnEvent func(upgrade.Event)
	// RunID of the run this runner drives; a different run in the ConfigMap stops it.
	RunID string

	// events, while Drive runs, hands Events to background writers (events.go).
	events *eventWriter
}

// ErrRunReplaced means the ConfigMap now holds another run.
var ErrRunReplaced = errors.New("another upgrade run replaced this one in kube-upgrade/edgeupgrade; check kubectl edgeupgrade status")

// maxConflicts bounds re-read-and-re-decide rounds for one reconcile.
const maxConflicts = 10

// Reconcile brings the run one step forward and returns the saved state and the
// observation it was decided on. Safe to call from several processes at once:
// every write is conditional, and a conflict re-reads and re-decides.
func (r *Runner) Reconcile(ctx context.Context) (upgrade.State, upgrade.Observation, error) {
	created := false
	decide := func(st upgrade.State, obs upgrade.Observation) (upgrade.State, []upgrade.Action, error) {
		next, acts := upgrade.Reconcile(st, obs, r.Now())
		created = slices.ContainsFunc(acts, func(a upgrade.Action) bool { return a.Kind == upgrade.CreateJobs })
		return next, acts, nil
	}
	st, obs, err := r.Mutate(ctx, decide)
	if err == nil && created {
		// Record at once that the new Jobs exist: from then on a missing Job is
		// tampering, not a crash to repair.
		return r.Mutate(ctx, decide)
	}
	return st, obs, err
}

// Decide is a state transition: a verb or the reconcile.
type Decide func(upgrade.State, upgrade.Observation) (upgrade.State, []upgrade.Action, error)

// Mutate applies decide to the freshest state and saves it conditionally. Actions that
// must happen before the state may say so (DeleteJobs for a retry) run first; the
// others run after the save, so a crash in between is repaired by the next reconcile.
func (r *Runner) Mutate(ctx context.Context, decide Decide) (upgrade.State, upgrade.Observation, error) {
	forceGet := false
	for range maxConflicts {
		st, fresh, err := r.load(ctx, forceGet)
		if err != nil {
			return st, upgrade.Observation{}, err
		}
		obs, err := r.Cache.Observe(st)
		if err != nil {
			return st, obs, err
		}
		next, acts, verbErr := decide(st, obs)
		if verbErr != nil && !errors.Is(verbErr, upgrade.ErrNoop) {
			return st, obs, verbErr
		}
		before, after := split(acts)
		if err := r.act(ctx, next, fresh, before); err != nil {
			return st, obs, err
		}
		if !reflect.DeepEqual(next, st) {
			saved, err := r.Store.Update(ctx, fresh, next)
			if apierrors.IsConflict(err) {
				forceGet = true // someone else advanced the run: re-read and re-decide
				continue
			}
			if err != nil {
				return st, obs, err
			}
			fresh = saved
			r.Cache.WaitFor(ctx, func() bool {
				cm := r.Cache.StateConfigMap()
				return cm != nil && cm.ResourceVersion == saved.ResourceVersion
			})
		}
		if err := r.act(ctx, next, fresh, after); err != nil {
			var de *DrainError
			if errors.As(err, &de) {
				return r.Mutate(ctx, func(st upgrade.State, _ upgrade.Observation) (upgrade.State, []upgrade.Action, error) {
					s, acts := upgrade.PauseForError(st, de.Msg, r.Now())
					return s, acts, nil
				})
			}
			return next, obs, err
		}
		return next, obs, verbErr
	}
	return upgrade.State{}, upgrade.Observation{}, fmt.Errorf("the state ConfigMap kept changing under %d attempts; another process is writing it, retry", maxConflicts)
}

// load returns the state from the watch cache (fresh enough: a stale copy fails its
// conditional update), or from a GET after a conflict.
func (r *Runner) load(ctx context.Context, forceGet bool) (upgrade.State, *corev1.ConfigMap, error) {
	var cm *corev1.ConfigMap
	if !forceGet {
		cm = r.Cache.StateConfigMap()
	}
	var st upgrade.State
	var err error
	if cm == nil {
		st, cm, err = r.Store.Get(ctx)
	} else {
		st, err = store.Decode(cm)
	}
	if err != nil {
		return st, cm, err
	}
	if r.RunID != "" && st.RunID != r.RunID {
		return st, cm, ErrRunReplaced
	}
	return st, cm, nil
}

func split(acts []upgrade.Action) (before, after []upgrade.Action) {
	for _, a := range acts {
		if a.Kind == upgrade.DeleteJobs {
			before = append(before, a)
		} else {
			after = append(after, a)
		}
	}
	return before, after
}
