package runner

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// A decision needs an observation at least as new as the state it decides on: the
// core takes a Job the state recorded as created (Batch.JobsCreated) and the
// observation lacks for deleted by someone else, and pauses the run for tampering.
// The state and the Jobs come from different watches, though, and after a conflict
// the state is a fresh GET: a one-shot command (the watchdog's pass, status, pause)
// that opened its cache just before the driver created a batch's Jobs can read a
// state that records them while its Jobs watch has not delivered them yet.
//
// awaitRecordedJobs closes that window. Before the core decides, a recorded Job
// missing from the cache is looked up on the API server; when it exists, the cache is
// behind: wait for it (at most staleJobsWait), then observe again. A lagging watch
// misses the newest Jobs, the whole batch's, so the first staleProbes missing Jobs
// settle it: a genuine deletion of many Jobs costs that many GETs per decision.
func (r *Runner) awaitRecordedJobs(ctx context.Context, st upgrade.State, obs upgrade.Observation) (upgrade.Observation, error) {
	missing := recordedMissing(st, obs)
	if len(missing) == 0 {
		return obs, nil
	}
	exists, err := r.anyJobExists(ctx, missing)
	if err != nil || exists == "" {
		return obs, err
	}
	deadline := time.Now().Add(staleJobsWait)
	for !r.cache.HasJobs([]string{exists}) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return obs, fmt.Errorf("watch the run's Jobs: Job %s/%s exists but this process's watch has not seen it after %s; retry, and check the connection to the API server",
				job.Namespace, exists, staleJobsWait)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return r.cache.Observe(st)
}

var (
	// staleJobsWait bounds the wait for a watch that is behind the API server.
	staleJobsWait = 30 * time.Second
	// staleProbes is how many missing Jobs are looked up before they count as deleted.
	staleProbes = 3
)

// recordedMissing names the Jobs of the current batch that the state records as
// created and the observation lacks.
func recordedMissing(st upgrade.State, obs upgrade.Observation) []string {
	b := st.Current
	if b == nil || !b.JobsCreated || isDaemonSetRun(st) || isDeploymentRun(st) {
		return nil
	}
	var names []string
	for _, n := range b.Nodes {
		if _, ok := obs.Jobs[n]; !ok {
			names = append(names, job.Name(st.RunID, n))
		}
	}
	return names
}

// anyJobExists returns the first of the (at most staleProbes) named Jobs that exists
// on the API server, or "" when none does.
func (r *Runner) anyJobExists(ctx context.Context, names []string) (string, error) {
	for i, name := range names {
		if i == staleProbes {
			break
		}
		_, err := r.client.BatchV1().Jobs(job.Namespace).Get(ctx, name, metav1.GetOptions{})
		switch {
		case err == nil:
			return name, nil
		case !apierrors.IsNotFound(err):
			return "", fmt.Errorf("read Job %s/%s: %w", job.Namespace, name, err)
		}
	}
	return "", nil
}
