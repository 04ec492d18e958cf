package runner

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	listersbatchv1 "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/store"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// staleJobs gives the fixture's runner a Jobs watch that has not delivered anything
// yet, like a one-shot command's that listed just before the driver created a batch.
func staleJobs(f *fixture) cache.Indexer {
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	f.runner.cache.jobs = listersbatchv1.NewJobLister(idx)
	return idx
}

// recordFirstBatch steps the run until its first batch's Job is created and recorded.
func recordFirstBatch(t *testing.T, f *fixture) {
	t.Helper()
	eventually(t, func() bool {
		st, _, err := f.runner.Mutate(context.Background(), upgrade.Tick{})
		return err == nil && st.Current != nil && st.Current.JobsCreated
	})
	// The fake API server sets no resourceVersion: wait until the cache holds the save.
	eventually(t, func() bool {
		st, err := store.Decode(f.runner.cache.StateConfigMap())
		return err == nil && st.Current != nil && st.Current.JobsCreated
	})
}

// A recorded Job that exists on the API server but not yet in this process's cache is
// waited for, never reported as tampering (the watchdog's pass while the driver runs).
func TestStaleJobsWatchIsNotTampering(t *testing.T) {
	f := setup(t, 3)
	ctx := context.Background()
	recordFirstBatch(t, f)
	idx := staleJobs(f)
	go func() { // the watch catches up a little later
		time.Sleep(200 * time.Millisecond)
		j, err := f.cs.BatchV1().Jobs(job.Namespace).Get(ctx, job.Name("run1", "master-1"), metav1.GetOptions{})
		if err == nil {
			_ = idx.Add(j)
		}
	}()
	st, _, err := f.runner.Mutate(ctx, upgrade.Tick{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Pause != nil || st.Current == nil || len(f.jobs(t)) != 1 {
		t.Fatalf("a lagging watch was taken for a deleted Job: pause %+v, batch %+v", st.Pause, st.Current)
	}
}

// A watch that never catches up is an error that names the Job; nothing is saved.
func TestStaleJobsWatchThatNeverCatchesUpIsAnError(t *testing.T) {
	f := setup(t, 3)
	ctx := context.Background()
	recordFirstBatch(t, f)
	staleJobs(f)
	defer func(d time.Duration) { staleJobsWait = d }(staleJobsWait)
	staleJobsWait = 100 * time.Millisecond
	_, _, err := f.runner.Mutate(ctx, upgrade.Tick{})
	if err == nil || !strings.Contains(err.Error(), job.Name("run1", "master-1")+" exists but this process's watch has not seen it") {
		t.Fatalf("error %v", err)
	}
	saved, _, err := f.runner.store.Get(ctx)
	if err != nil || saved.Pause != nil {
		t.Fatalf("a stale observation was saved: %v %+v", err, saved.Pause)
	}
}
