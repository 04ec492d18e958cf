package runner

import (
	"context"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	metafake "k8s.io/client-go/metadata/fake"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

func runJobMeta(name, node string, created, statusWrite time.Time) *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{
		TypeMeta: metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: job.Namespace, CreationTimestamp: metav1.NewTime(created),
			Labels:      map[string]string{job.LabelManagedBy: job.ManagedBy, job.LabelRun: "run1", job.LabelComponent: job.ComponentNodeUpgrade, job.LabelBatch: "3", job.LabelRole: "worker"},
			Annotations: map[string]string{job.AnnotationNode: node, job.AnnotationPool: "pool-a"}},
	}
	write := metav1.NewTime(statusWrite)
	m.ManagedFields = []metav1.ManagedFieldsEntry{
		{Manager: "kubectl-edgeupgrade", Operation: metav1.ManagedFieldsOperationUpdate, Time: &m.CreationTimestamp},
		{Manager: "kube-controller-manager", Operation: metav1.ManagedFieldsOperationUpdate, Subresource: "status", Time: &write},
	}
	return m
}

// TestLeanCacheObservesSucceededJobsFromMetadata: a one-shot command lists Jobs that
// have not succeeded in full and the rest as metadata; together they are the same
// observation, the succeeded Job finishing at its last status write.
func TestLeanCacheObservesSucceededJobsFromMetadata(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done, finished := now.Add(-time.Minute), now.Add(-30*time.Second)
	running := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "eu-run1-edge-02", Namespace: job.Namespace, CreationTimestamp: metav1.NewTime(now),
		Labels:      map[string]string{job.LabelManagedBy: job.ManagedBy, job.LabelRun: "run1", job.LabelComponent: job.ComponentNodeUpgrade, job.LabelBatch: "4", job.LabelRole: "worker"},
		Annotations: map[string]string{job.AnnotationNode: "edge-02"}}}
	cs := fake.NewSimpleClientset(node("edge-01", false), node("edge-02", false), running)
	scheme := runtime.NewScheme()
	_ = metav1.AddMetaToScheme(scheme)
	md := metafake.NewSimpleMetadataClient(scheme,
		runJobMeta("eu-run1-edge-01", "edge-01", done, finished),
		runJobMeta("eu-run1-edge-02", "edge-02", now, now))
	st := upgrade.State{RunID: "run1"}
	c, err := NewCache(ctx, cs, st, CacheOptions{Lean: true, Metadata: md})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	obs, err := c.Observe(st)
	if err != nil {
		t.Fatal(err)
	}
	if j := obs.Jobs["edge-01"]; j.Phase != upgrade.JobSucceeded || !j.Finished.Equal(finished) || j.Batch != "3" || j.Pool != "pool-a" || !j.Created.Equal(done) {
		t.Fatalf("succeeded Job from metadata: %+v", j)
	}
	if j := obs.Jobs["edge-02"]; j.Phase != upgrade.JobActive || j.Batch != "4" {
		t.Fatalf("a Job listed in full wins over its metadata: %+v", j)
	}
	if !c.HasJobs([]string{"eu-run1-edge-01", "eu-run1-edge-02"}) || c.HasJobs([]string{"eu-run1-edge-03"}) {
		t.Fatal("HasJobs must see Jobs known only as metadata, and only existing ones")
	}
	if _, err := NewCache(ctx, cs, st, CacheOptions{Lean: true}); err == nil {
		t.Fatal("a lean cache without a metadata client must be refused")
	}
}
