package runner

import (
	"context"
	"errors"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/components/rollout"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/store"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

const (
	// resync re-decides without a watch event: the version grace and pause expiry
	// are clocks, not events.
	resync = 10 * time.Second
	// settle coalesces a burst of watch events (a batch finishing) into one decision.
	settle = 20 * time.Millisecond
	// maxBackoff bounds the wait between retries after API errors on a weak network.
	maxBackoff = 30 * time.Second
)

// Drive reconciles until the run completes, is cancelled, or is fully paused, calling
// show after every reconcile. Transient API errors are retried with backoff.
func (r *Runner) Drive(ctx context.Context, show func(upgrade.State, upgrade.Observation)) (upgrade.State, error) {
	tick := time.NewTicker(resync)
	defer tick.Stop()
	stopEvents := r.startEvents(ctx)
	defer stopEvents() // every Event is written before Drive returns
	backoff := time.Second
	var prev upgrade.State // the state the next step starts from
	for {
		// A batch finished in the cache before the step is one the step sees finished
		// (held by its gate, say): later changes are gathered as usual, only the end of
		// a batch is decided at once. Checked before the step, not after: a batch's
		// last pod often finishes while the step runs on the one before.
		sawFinished := r.cache.batchFinished(prev)
		began := time.Now()
		st, obs, err := r.step(ctx)
		cost := time.Since(began)
		prev = st
		r.reportOutage(ctx)
		switch {
		case err != nil && !Transient(err):
			return st, err
		case err != nil:
			if r.onEvent != nil {
				r.onEvent(upgrade.Event{Type: upgrade.Warning, Reason: "Retrying", Message: err.Error()})
			}
			select {
			case <-ctx.Done():
				return st, ctx.Err()
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		backoff = time.Second
		if r.events != nil {
			r.reportEventFailures(r.events)
		}
		if show != nil {
			show(st, obs)
		}
		if st.Phase.Terminal() || upgrade.StateName(st, obs) == "Paused" {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-r.cache.Changed:
			gather(ctx, r.cache.Changed, coalesce(cost), func() bool {
				return endsBatch(sawFinished, r.cache.batchFinished(st))
			})
		case <-tick.C:
		case <-wake(st, obs, r.now()):
		}
	}
}

// reportOutage tells the operator once that the watches fail, and once that the API
// server answers again (outage.go).
func (r *Runner) reportOutage(ctx context.Context) {
	probe := func(ctx context.Context) error {
		_, err := r.client.CoreV1().ConfigMaps(job.Namespace).Get(ctx, store.Name, metav1.GetOptions{})
		return err
	}
	for _, e := range r.cache.outage.report(ctx, r.now(), probe) {
		if r.onEvent != nil {
			r.onEvent(e)
		}
	}
}

// wake fires when the run changes by the clock alone (a soak ends, an offline grace
// runs out: upgrade.NextWake), so that it does not wait for the next resync.
func wake(st upgrade.State, obs upgrade.Observation, now time.Time) <-chan time.Time {
	next := upgrade.NextWake(st, obs, now)
	if isDeploymentRun(st) {
		next = rollout.NextWake(st, now)
	}
	if next.IsZero() || next.Sub(now) >= resync {
		return nil // the resync comes first
	}
	return time.After(next.Sub(now))
}

// gather waits d after a change, so that the changes following it are decided
// together, but returns as soon as ends reports that one of them finished the batch
// the last step left running: the hand-over to the next batch is the orchestration's
// own share of a run's time, and a batch's last pod often arrives a few milliseconds
// after the one before it, within the window that one opened.
func gather(ctx context.Context, changed <-chan struct{}, d time.Duration, ends func() bool) {
	if ends() {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			return
		case <-changed: // the step that follows reads this change from the cache
			if ends() {
				return
			}
		}
	}
}

// endsBatch: a change ends the batch in flight when the cache shows it finished and
// the last step did not already see it so (a batch its health gate holds, or a pause,
// is coalesced like any other change).
func endsBatch(sawFinished, finished bool) bool {
	return finished && !sawFinished
}

// coalesce is how long to gather watch events before the next decision: at least
// settle, and thrice the last reconcile's cost, so that at thousands of nodes (a
// reconcile of ~10 ms, tens of thousands of pod, Job and node updates per run) the
// driver spends at most a quarter of a core deciding, for a reaction still well
// under a second.
func coalesce(lastCost time.Duration) time.Duration {
	return min(max(settle, 3*lastCost), maxCoalesce)
}

// maxCoalesce bounds coalesce when a reconcile was slow for other reasons (a write
// that waited on the API server).
const maxCoalesce = 300 * time.Millisecond

// Transient reports errors worth retrying: the API server was unreachable, slow or
// overloaded. Bad state and refused transitions are not.
func Transient(err error) bool {
	var corrupt *store.CorruptError
	switch {
	case errors.As(err, &corrupt), errors.Is(err, ErrRunReplaced), errors.Is(err, store.ErrNoRun):
		return false
	case errors.Is(err, context.Canceled):
		return false
	case apierrors.IsForbidden(err), apierrors.IsUnauthorized(err), apierrors.IsInvalid(err), apierrors.IsBadRequest(err):
		return false
	}
	return true
}

// step reconciles when this process may act (acting), and otherwise only reads the
// run from the watch cache, as another driver advances it.
func (r *Runner) step(ctx context.Context) (upgrade.State, upgrade.Observation, error) {
	if r.acting != nil && !r.acting() {
		st, _, err := r.load(ctx, false)
		if err != nil {
			return st, upgrade.Observation{}, err
		}
		// A follower decides nothing: the gate's DaemonSet pods are not its to read
		// (a read-only viewer may not).
		obs, err := r.cache.observe(st, false)
		return st, obs, err
	}
	st, obs, err := r.Reconcile(ctx)
	if err == nil {
		r.lastReconcile.Store(r.now().UnixNano())
	}
	return st, obs, err
}

// LastReconcile is when Drive last reconciled (zero before the first time).
func (r *Runner) LastReconcile() time.Time {
	n := r.lastReconcile.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}
