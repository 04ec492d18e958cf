package e2e

// Staging through the binary (docs/design.md §8): the images are pulled on every node
// before anything is disrupted, at most --max-concurrent-pulls nodes at once; an
// offline node's staging is deferred without holding the others back; node Jobs run
// the staged images by digest; --no-stage skips it.

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/test/lab"
)

// stageWatch samples, at every Job event, how many staging Jobs are pulling, and
// checks that no node gets its upgrade Job (the start of its disruption: drain and
// upgrade follow it) before its staging Job finished.
type stageWatch struct {
	mu         sync.Mutex
	maxPulling int
	samples    int
	early      []string // nodes whose upgrade Job came before their staging finished
	staged     map[string]bool
	nodeImages []string
}

func (e *env) watchStaging() *stageWatch {
	w := &stageWatch{staged: map[string]bool{}}
	ctx, cancel := context.WithCancel(context.Background())
	e.t.Cleanup(cancel)
	f := informers.NewSharedInformerFactoryWithOptions(e.lab.Client, 0, informers.WithNamespace(job.Namespace))
	inf := f.Batch().V1().Jobs().Informer()
	store := inf.GetStore()
	sample := func(o any) {
		j, ok := o.(*batchv1.Job)
		if !ok {
			return
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		pulling := 0
		for _, x := range store.List() {
			s := x.(*batchv1.Job)
			if s.Labels[job.LabelComponent] != job.ComponentStage {
				continue
			}
			if finished(s) {
				w.staged[s.Annotations[job.AnnotationNode]] = true
			} else {
				pulling++
			}
		}
		w.maxPulling, w.samples = max(w.maxPulling, pulling), w.samples+1
		if j.Labels[job.LabelComponent] == job.ComponentNodeUpgrade && !w.staged[j.Annotations[job.AnnotationNode]] {
			w.early = append(w.early, j.Annotations[job.AnnotationNode])
		}
		if j.Labels[job.LabelComponent] == job.ComponentNodeUpgrade {
			w.nodeImages = append(w.nodeImages, j.Spec.Template.Spec.InitContainers[0].Image, j.Spec.Template.Spec.Containers[0].Image)
		}
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: sample, UpdateFunc: func(_, o any) { sample(o) }})
	f.Start(ctx.Done())
	cache.WaitForCacheSync(ctx.Done(), inf.HasSynced)
	return w
}

func finished(j *batchv1.Job) bool {
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func TestStaging(t *testing.T) {
	t.Parallel()
	began := time.Now()
	e := startLab(t, lab.Config{Workers: 6, Pools: 1, Unready: []string{"edge-a-002"}, JobDuration: 200 * time.Millisecond})
	ctx := context.Background()
	// 1 MiB images over 8 Mbit/s: about a second a node; edge-a-006 takes four.
	if err := e.lab.SetImageSizes(ctx, "1Mi", "256Ki"); err != nil {
		t.Fatal(err)
	}
	for _, n := range e.lab.Topology.Workers() {
		speed := "8Mbit"
		if n == "edge-a-006" {
			speed = "2Mbit"
		}
		if err := e.lab.SetLinkSpeed(ctx, n, speed); err != nil {
			t.Fatal(err)
		}
	}
	w := e.watchStaging()
	r := e.run(startArgs("--mode", "nodes", "--skip-unready", "--max-concurrent-pulls", "2", "--max-batch-size", "2", "--wait")...)
	if r.code != exitIncomplete || !contains(r.err, "edge-a-002 (offline") {
		t.Fatalf("start --wait with staging and an offline node: %s", r)
	}
	w.mu.Lock()
	if len(w.early) > 0 || w.maxPulling > 2 || w.maxPulling < 1 || w.samples < 10 {
		t.Errorf("upgrade Jobs before staging finished: %v; at most %d pulling at once in %d samples (--max-concurrent-pulls 2)",
			w.early, w.maxPulling, w.samples)
	}
	if w.staged["edge-a-002"] {
		t.Error("the offline node edge-a-002 was staged")
	}
	for _, img := range w.nodeImages {
		if !strings.HasPrefix(img, "lab/pre@sha256:") && !strings.HasPrefix(img, "lab/up@sha256:") {
			t.Errorf("a node Job runs %s, not the staged image by digest", img)
		}
	}
	w.mu.Unlock()
	s := e.status()
	if s.Nodes.Upgraded != 5 || s.Staging == nil || s.Staging.Staged != 5 || s.Staging.Offline != 1 || s.Staging.Total != 6 ||
		s.Staging.MaxConcurrentPulls != 2 || len(s.Staging.Pools) != 1 {
		t.Fatalf("after the run: nodes %+v, staging %+v", s.Nodes, s.Staging)
	}

	// The offline node is back: --no-stage upgrades it with no staging Job (once the
	// job controller has recorded the last Jobs, which the pre-check reads).
	e.waitJobsFinished(30 * time.Second)
	if err := e.lab.SetReady(ctx, "edge-a-002", true); err != nil {
		t.Fatal(err)
	}
	r = e.run(startArgs("--mode", "nodes", "--no-stage", "--wait")...)
	if r.code != 0 {
		t.Fatalf("start --no-stage --wait: %s", r)
	}
	s = e.status()
	if n := e.jobCount(job.StageSelector(s.RunID)); n != 0 || s.Staging != nil || e.versions()["edge-a-002"] != target {
		t.Fatalf("--no-stage: %d staging Jobs, staging %+v, edge-a-002 at %s", n, s.Staging, e.versions()["edge-a-002"])
	}
	t.Logf("staging e2e took %s (lab start included)", time.Since(began).Round(100*time.Millisecond))
}
