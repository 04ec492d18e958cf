package runner

import (
	"errors"
	"fmt"
	"maps"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// BenchmarkObserveAndDecide: a driver's decision at a hand-over, from its watch
// cache, at 1,000 workers with every worker's Job and pod in the cache (as in a
// run's last batch, the most it converts): Observe alone, and Observe + upgrade.Step.
func BenchmarkObserveAndDecide(b *testing.B) {
	const workers = 1000
	p := job.Params{RunID: "run1", TargetVersion: "v1.36.3", PreprocessImage: "pre", UpgradeImage: "up", TimeoutSeconds: 60}
	var objs []runtime.Object
	for i := 1; i <= workers; i++ {
		n := fmt.Sprintf("edge-%02d", i)
		j := job.Build(p, job.NodeJob{Node: n, Batch: "1", Role: job.RoleWorker})
		podLabels := maps.Clone(j.Spec.Template.Labels) // the job controller's pod: the template's labels and the Job's name
		podLabels[batchv1.JobNameLabel] = j.Name
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: j.Name + "-x", Namespace: job.Namespace, Labels: podLabels},
			Spec: corev1.PodSpec{NodeName: n}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}
		objs = append(objs, j, pod)
	}
	f := setupWith(b, workers, objs)
	st := f.reconcile(b)
	eventually(b, func() bool {
		o, err := f.runner.cache.Observe(st)
		pods, perr := f.runner.cache.pods.Pods(job.Namespace).List(labels.Everything())
		return err == nil && perr == nil && len(o.Jobs) == workers+1 && len(pods) == workers
	})
	b.Run("observe", func(b *testing.B) {
		for b.Loop() {
			if _, err := f.runner.cache.Observe(st); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("observe+step", func(b *testing.B) {
		for b.Loop() {
			obs, err := f.runner.cache.Observe(st)
			if err != nil {
				b.Fatal(err)
			}
			if _, _, err := upgrade.Step(st, obs, upgrade.Tick{}, now); err != nil && !errors.Is(err, upgrade.ErrNoop) {
				b.Fatal(err)
			}
		}
	})
}
