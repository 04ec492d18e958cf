package runner

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listersbatchv1 "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// stageCache watches the staging Jobs of a run that stages (docs/design.md §8). It
// keeps their metadata and status only: the pod template of a thousand Jobs is
// memory no decision reads.
type stageCache struct {
	jobs listersbatchv1.JobLister
	inf  cache.SharedIndexInformer
}

// newStageCache starts the staging Jobs' informer (nil when the run does not stage);
// listen wires its changes and watch errors to the cache (Cache.listen). The caller
// waits for it to sync.
func newStageCache(ctx context.Context, client kubernetes.Interface, st upgrade.State, listen func(cache.SharedIndexInformer, func(old, cur any) bool) error) (*stageCache, error) {
	if !st.Spec.Stage {
		return nil, nil
	}
	f := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(job.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = job.StageSelector(st.RunID) }))
	inf := f.Batch().V1().Jobs().Informer()
	if err := inf.SetTransform(trimStageJob); err != nil {
		return nil, err
	}
	if err := listen(inf, stageJobChanged); err != nil {
		return nil, err
	}
	f.Start(ctx.Done())
	return &stageCache{jobs: f.Batch().V1().Jobs().Lister(), inf: inf}, nil
}

// trimStageJob drops what ToStageJob does not read.
func trimStageJob(obj any) (any, error) {
	if j, ok := obj.(*batchv1.Job); ok {
		j.ManagedFields = nil
		j.Spec = batchv1.JobSpec{}
	}
	return obj, nil
}

// stageJobChanged: the Job finished, or is being deleted.
func stageJobChanged(old, cur any) bool {
	o, ok1 := old.(*batchv1.Job)
	n, ok2 := cur.(*batchv1.Job)
	if !ok1 || !ok2 {
		return true
	}
	return ToStageJob(o).Phase != ToStageJob(n).Phase || !o.DeletionTimestamp.Equal(n.DeletionTimestamp)
}

// ToStageJob converts a staging Job for the core (its image IDs come from its pod,
// read once per upgrade image: stageImageIDs).
func ToStageJob(j *batchv1.Job) upgrade.StageJob {
	out := upgrade.StageJob{Phase: upgrade.JobActive, UpgradeImage: j.Annotations[job.AnnotationUpgradeImage]}
	for _, c := range j.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			out.Phase, out.Finished = upgrade.JobSucceeded, c.LastTransitionTime.Time
		case batchv1.JobFailed:
			out.Phase, out.Finished = upgrade.JobFailed, c.LastTransitionTime.Time
		}
	}
	return out
}

// observe returns the run's staging Jobs by node. Until the state records the digest
// of an upgrade image (each variant: upgrade.DigestRecorded), it reads the pod of the
// first succeeded Job that pulled it for its image IDs: a read per variant and run,
// not a watch of every staging pod.
func (sc *stageCache) observe(ctx context.Context, client kubernetes.Interface, st upgrade.State) (map[string]upgrade.StageJob, error) {
	out := map[string]upgrade.StageJob{}
	if sc == nil {
		return out, nil
	}
	jobs, err := sc.jobs.Jobs(job.Namespace).List(labels.Everything())
	if err != nil {
		return out, err
	}
	slices.SortFunc(jobs, func(a, b *batchv1.Job) int { return strings.Compare(a.Name, b.Name) })
	read := map[upgrade.Variant]bool{}
	for _, j := range jobs {
		if j.Labels[job.LabelComponent] != job.ComponentStage {
			continue // a watch that ignores its label selector (client-go's fake)
		}
		sj := ToStageJob(j)
		if v := upgrade.VariantOf(st.Spec, sj.UpgradeImage); sj.Phase == upgrade.JobSucceeded && !read[v] && !upgrade.DigestRecorded(st, v) {
			read[v] = true
			sj.PreprocessID, sj.UpgradeID, err = stageImageIDs(ctx, client, j.Name)
			if err != nil {
				return out, err
			}
			sj.Reported = true
		}
		out[j.Annotations[job.AnnotationNode]] = sj
	}
	return out, nil
}

// stageImageIDs reads the image IDs a staging pod reported for its two containers.
func stageImageIDs(ctx context.Context, client kubernetes.Interface, jobName string) (pre, up string, err error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	pods, err := client.CoreV1().Pods(job.Namespace).List(ctx, metav1.ListOptions{LabelSelector: batchv1.JobNameLabel + "=" + jobName})
	if err != nil {
		return "", "", fmt.Errorf("read the staging pod of Job %s for its image digests: %w", jobName, err)
	}
	for _, p := range pods.Items {
		for _, cs := range p.Status.ContainerStatuses {
			switch cs.Name {
			case job.ContainerPreprocess:
				pre = cs.ImageID
			case job.ContainerUpgrade:
				up = cs.ImageID
			}
		}
	}
	return pre, up, nil
}

// hasStageJobs reports whether every named staging Job is in the cache.
func (sc *stageCache) hasJobs(names []string) bool {
	for _, n := range names {
		if _, err := sc.jobs.Jobs(job.Namespace).Get(n); err != nil {
			return false
		}
	}
	return true
}

// createStage creates the staging Jobs of a.Nodes and waits until the cache holds
// them, so that the next decision counts them against --max-concurrent-pulls. Each
// pulls the upgrade image its node needs (upgrade.StageImages), the one its node Job
// will run.
func (r *Runner) createStage(ctx context.Context, st upgrade.State, cm *corev1.ConfigMap, a upgrade.Action) error {
	nodes := r.cache.nodeInfo(st, a.Nodes)
	names := make([]string, len(a.Nodes))
	jobs := make([]*batchv1.Job, len(a.Nodes))
	for i, node := range a.Nodes {
		p := job.Params{
			RunID: st.RunID, TargetVersion: st.Spec.TargetVersion,
			TimeoutSeconds: int64(st.Spec.JobTimeout.Seconds()),
			OwnerName:      cm.Name, OwnerUID: cm.UID,
		}
		p.PreprocessImage, p.UpgradeImage = upgrade.StageImages(st, nodes[node].Runtime)
		jobs[i] = job.BuildStage(p, node, nodes[node].Pool)
		names[i] = jobs[i].Name
	}
	errs := forEachLimit(len(jobs), createParallelism, func(i int) error {
		_, err := r.client.BatchV1().Jobs(job.Namespace).Create(ctx, jobs[i], metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create the staging Job of node %q: %w", a.Nodes[i], err)
		}
		return nil
	})
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	if sc := r.cache.stage; sc != nil {
		r.cache.WaitFor(ctx, func() bool { return sc.hasJobs(names) })
	}
	return nil
}

// deleteStage deletes the staging Jobs of nodes (a failed pull to retry, a node
// offline while pulling) with their pods in the background, without waiting: the
// name is free again once the Job is gone, and the core recreates it then.
func (r *Runner) deleteStage(ctx context.Context, runID string, nodes []string) error {
	return r.deleteNodeJobs(ctx, nodes, func(n string) string { return job.StageName(runID, n) }, "the staging Job %s of node %q")
}

// nodeInfo maps the named nodes to what their Jobs are built from: the pool (the
// Jobs' annotation) and the container runtime (which upgrade image); a batch's nodes,
// looked up by name, not every cached node. A node not in the cache has no pool and
// an unknown runtime (the image with containerd).
func (c *Cache) nodeInfo(st upgrade.State, names []string) map[string]upgrade.Node {
	out := make(map[string]upgrade.Node, len(names))
	for _, name := range names {
		if n, err := c.nodes.Get(name); err == nil {
			out[name] = ToNode(n, st.Spec.PoolLabel)
		}
	}
	return out
}

// isNodeUpgrade tells a node-upgrade Job from the run's other Jobs (staging).
func isNodeUpgrade(m *metav1.ObjectMeta) bool {
	return m.Labels[job.LabelComponent] == job.ComponentNodeUpgrade
}
