package runner

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/store"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// Runner reconciles one run: observe → decide (pkg/upgrade) → save → act.
type Runner struct {
	client kubernetes.Interface
	store  store.Store
	cache  *Cache
	now    func() time.Time
	// onEvent, when set, sees every Event the run records (progress output).
	onEvent func(upgrade.Event)
	// runID of the run this runner drives; a different run in the ConfigMap stops it.
	runID string
	// acting, when set, says whether Drive may write: this process holds the driver
	// Lease (lease.go). Otherwise Drive only observes.
	acting func() bool
	// lastReconcile is when Drive last reconciled (unix nanoseconds), for the Lease.
	lastReconcile atomic.Int64

	// events, while Drive runs, hands Events to background writers (events.go).
	events *eventWriter
}

// ErrRunReplaced means the ConfigMap now holds another run.
var ErrRunReplaced = errors.New("another upgrade run replaced this one in kube-upgrade/edgeupgrade; check kubectl edgeupgrade status")

// maxConflicts bounds re-read-and-re-decide rounds for one reconcile.
const maxConflicts = 10

// Reconcile brings the run one step forward (a Tick) and returns the saved state and
// the observation it was decided on. Safe to call from several processes at once:
// every write is conditional, and a conflict re-reads and re-decides.
func (r *Runner) Reconcile(ctx context.Context) (upgrade.State, upgrade.Observation, error) {
	return r.Mutate(ctx, upgrade.Tick{})
}

// Mutate steps the freshest state with in (upgrade.Step) and saves the result
// conditionally. Actions that must happen before the state may say so (DeleteJobs
// for a retry) run first; the others run after the save, so a crash in between is
// repaired by the next reconcile. On a conflict it re-reads and decides again; a
// decision is never written over a state it was not made on.
//
// What the reconcile in Step decided is saved and performed even when in is refused
// or has nothing to do; the error returned is then in's (ErrNoop or the refusal). A
// drain that fails becomes the next input, DrainFailed, decided in the same loop on
// a state read again.
//
// Whatever the input, when it created a batch's Jobs, Mutate reconciles once more at
// once to record that every Job exists (Batch.JobsCreated): from then on a missing Job
// is tampering, not a crash to repair (docs/design.md §4). Every command that writes
// goes through here, so a one-shot status or pause is no window for a deleted Job to
// be silently recreated.
func (r *Runner) Mutate(ctx context.Context, in upgrade.Input) (upgrade.State, upgrade.Observation, error) {
	st, obs, created, err := r.mutate(ctx, in)
	if !created {
		return st, obs, err
	}
	st2, obs2, _, err2 := r.mutate(ctx, upgrade.Tick{})
	if err2 != nil {
		return st2, obs2, err2
	}
	return st2, obs2, err
}

func (r *Runner) mutate(ctx context.Context, in upgrade.Input) (upgrade.State, upgrade.Observation, bool, error) {
	forceGet, reported := false, false
	var verdict error // in's outcome, kept when a DrainFailed report follows it
	for range maxConflicts {
		st, fresh, err := r.load(ctx, forceGet)
		if err != nil {
			return st, upgrade.Observation{}, false, err
		}
		if upgrade.SwitchPending(st) {
			// Recorded, not switched yet (a crash in between): switch, then decide.
			if err := r.switchPending(ctx, st, fresh); err != nil && !apierrors.IsConflict(err) {
				return st, upgrade.Observation{}, false, err
			}
			forceGet = true
			continue
		}
		next, obs, acts, err, oerr := r.decide(ctx, st, in)
		if oerr != nil {
			return st, obs, false, oerr
		}
		if !reported {
			verdict = err
		}
		before, after := split(acts)
		loaded := fresh
		fresh, err = r.save(ctx, st, next, fresh, before)
		if apierrors.IsConflict(err) {
			forceGet = true // someone else advanced the run: re-read and re-decide
			continue
		}
		if err != nil {
			return st, obs, false, err
		}
		err = r.act(ctx, next, fresh, after)
		if wrote := fresh != loaded; wrote {
			r.awaitOwnWrite(ctx, fresh)
		}
		if !st.Phase.Terminal() && next.Phase.Terminal() {
			if r.acting == nil {
				// The run just ended: its driver objects go. A driving session
				// tidies once it has released the Lease (Session.driveOnce).
				r.tidyDriver(ctx, next.RunID)
			}
			r.restoreComponent(ctx, next)
		}
		var de *DrainError
		if errors.As(err, &de) {
			// The drain took up to its timeout: decide on a read from the API server.
			in, reported, forceGet = upgrade.DrainFailed{Message: de.Msg}, true, true
			continue
		}
		if err != nil {
			return next, obs, false, err
		}
		return next, obs, r.jobsSeen(next, after), verdict
	}
	return upgrade.State{}, upgrade.Observation{}, false, fmt.Errorf("the state ConfigMap kept changing under %d attempts; another process is writing it, retry", maxConflicts)
}

// decide observes and decides: the node core for node runs, rollout.Step for a
// Deployment run. The first error is the decision's verdict, the second the observation's.
func (r *Runner) decide(ctx context.Context, st upgrade.State, in upgrade.Input) (upgrade.State, upgrade.Observation, []upgrade.Action, error, error) {
	if isDeploymentRun(st) {
		return r.stepDeployment(ctx, st, in)
	}
	obs, err := r.cache.Observe(st)
	if err == nil {
		obs, err = r.awaitRecordedJobs(ctx, st, obs)
	}
	if err != nil {
		return st, obs, nil, nil, err
	}
	next, acts, verdict := upgrade.Step(st, obs, in, r.now())
	return next, obs, acts, verdict, nil
}

// save performs the actions that must come before the state, then writes next if it
// differs from st, and returns the ConfigMap as written. A conflict is returned as is.
func (r *Runner) save(ctx context.Context, st, next upgrade.State, fresh *corev1.ConfigMap, before []upgrade.Action) (*corev1.ConfigMap, error) {
	if err := r.act(ctx, next, fresh, before); err != nil {
		return fresh, err
	}
	if reflect.DeepEqual(next, st) {
		return fresh, nil
	}
	saved, err := r.store.Update(ctx, fresh, next)
	if err != nil {
		return fresh, err
	}
	return saved, nil
}

// awaitOwnWrite waits until the cache holds the state ConfigMap as saved, so that the
// next decision starts from it. It runs after the actions, not before: a batch's Jobs
// need the write on the API server (write-ahead), not in this process's cache, and
// the hand-over to the next batch is one watch delivery shorter.
func (r *Runner) awaitOwnWrite(ctx context.Context, saved *corev1.ConfigMap) {
	r.cache.WaitFor(ctx, func() bool {
		cm := r.cache.StateConfigMap()
		return cm != nil && cm.ResourceVersion == saved.ResourceVersion
	})
}

// load returns the state from the watch cache (fresh enough: a stale copy fails its
// conditional update), or from a GET after a conflict.
func (r *Runner) load(ctx context.Context, forceGet bool) (upgrade.State, *corev1.ConfigMap, error) {
	var cm *corev1.ConfigMap
	if !forceGet {
		cm = r.cache.StateConfigMap()
	}
	var st upgrade.State
	var err error
	if cm == nil {
		st, cm, err = r.store.Get(ctx)
	} else {
		st, err = store.Decode(cm)
	}
	if err != nil {
		return st, cm, err
	}
	if r.runID != "" && st.RunID != r.runID {
		return st, cm, ErrRunReplaced
	}
	return st, cm, nil
}

// jobsSeen reports whether acts created the Jobs of next's batch and this process's
// cache now holds every one of them, so that the next decision records them
// (Batch.JobsCreated). A cache that has not caught up would take them for missing:
// the next reconcile, on a fresh read, records them instead.
func (r *Runner) jobsSeen(next upgrade.State, acts []upgrade.Action) bool {
	b := next.Current
	if b == nil || b.JobsCreated || !slices.ContainsFunc(acts, func(a upgrade.Action) bool { return a.Kind == upgrade.CreateJobs }) {
		return false
	}
	names := make([]string, len(b.Nodes))
	for i, n := range b.Nodes {
		names[i] = job.Name(next.RunID, n)
	}
	return r.cache.HasJobs(names)
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
