package runner

import (
	"context"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listersbatchv1 "k8s.io/client-go/listers/batch/v1"
	listerscorev1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/store"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// Cache watches what one run needs: its state ConfigMap, the Nodes in scope, and the
// run's Jobs and pods. Watches keep API load flat however long the run takes, and
// every change wakes the driver at once (no polling).
type Cache struct {
	cm    listerscorev1.ConfigMapLister
	nodes listerscorev1.NodeLister
	jobs  listersbatchv1.JobLister
	pods  listerscorev1.PodLister
	// Changed receives a value (non-blocking) whenever anything watched changes.
	Changed chan struct{}
	cancel  context.CancelFunc
}

// CacheOptions tune what a Cache watches.
type CacheOptions struct {
	// SkipSucceededPods leaves succeeded pods out (a field selector on the API server):
	// a one-shot command at thousands of nodes then lists only the pods that matter
	// (running and failed ones). Without them a Job counts as done only once the job
	// controller marks it Complete (about a second later), which only a driver minds.
	SkipSucceededPods bool
}

// NewCache starts the informers for a run and waits for their first list.
func NewCache(ctx context.Context, client kubernetes.Interface, st upgrade.State, opts CacheOptions) (*Cache, error) {
	ctx, cancel := context.WithCancel(ctx)
	c := &Cache{Changed: make(chan struct{}, 1), cancel: cancel}
	nodeF := informers.NewSharedInformerFactoryWithOptions(client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = st.Spec.Selector }))
	runF := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(job.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = job.NodeUpgradeSelector(st.RunID) }))
	podF := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(job.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.LabelSelector = job.NodeUpgradeSelector(st.RunID)
			if opts.SkipSucceededPods {
				o.FieldSelector = fields.OneTermNotEqualSelector("status.phase", string(corev1.PodSucceeded)).String()
			}
		}))
	cmF := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(job.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", store.Name).String()
		}))
	infs := []cache.SharedIndexInformer{
		cmF.Core().V1().ConfigMaps().Informer(),
		nodeF.Core().V1().Nodes().Informer(),
		runF.Batch().V1().Jobs().Informer(),
		podF.Core().V1().Pods().Informer(),
	}
	pool := st.Spec.PoolLabel
	relevant := []func(old, cur any) bool{
		func(_, _ any) bool { return true },
		func(old, cur any) bool { return nodeChanged(old, cur, pool) },
		jobChanged,
		podChanged,
	}
	for i, inf := range infs {
		if _, err := inf.AddEventHandler(c.handler(relevant[i])); err != nil {
			cancel()
			return nil, err
		}
	}
	c.cm = cmF.Core().V1().ConfigMaps().Lister()
	c.nodes = nodeF.Core().V1().Nodes().Lister()
	c.jobs = runF.Batch().V1().Jobs().Lister()
	c.pods = podF.Core().V1().Pods().Lister()
	for _, f := range []informers.SharedInformerFactory{cmF, nodeF, runF, podF} {
		f.Start(ctx.Done())
	}
	if !synced(ctx, infs, 2*time.Minute) {
		cancel()
		return nil, fmt.Errorf("watch the cluster: caches did not sync within 2m; check connectivity to the API server")
	}
	return c, nil
}

// synced waits for every informer's first list. It polls every 5 ms, not
// cache.WaitForCacheSync's 100 ms: one-shot commands pay this wait on every call.
func synced(ctx context.Context, infs []cache.SharedIndexInformer, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for _, inf := range infs {
		for !inf.HasSynced() {
			if ctx.Err() != nil || time.Now().After(deadline) {
				return false
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return true
}

// handler wakes the driver on every add and delete, and on the updates that change
// what the core reads: node heartbeats and pod/Job bookkeeping (most notifications at
// thousands of nodes) would otherwise cost a full observe and reconcile each.
func (c *Cache) handler(changed func(old, cur any) bool) cache.ResourceEventHandlerFuncs {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { c.poke() },
		UpdateFunc: func(old, cur any) {
			if changed(old, cur) {
				c.poke()
			}
		},
		DeleteFunc: func(any) { c.poke() },
	}
}

// nodeChanged: anything ToNode reads, or the cordon the drain step sets.
func nodeChanged(old, cur any, poolLabel string) bool {
	o, ok1 := old.(*corev1.Node)
	n, ok2 := cur.(*corev1.Node)
	if !ok1 || !ok2 {
		return true
	}
	return ToNode(o, poolLabel) != ToNode(n, poolLabel) || o.Spec.Unschedulable != n.Spec.Unschedulable
}

// jobChanged: anything ToJob reads of the Job itself.
func jobChanged(old, cur any) bool {
	o, ok1 := old.(*batchv1.Job)
	n, ok2 := cur.(*batchv1.Job)
	if !ok1 || !ok2 {
		return true
	}
	a, b := ToJob(o, nil), ToJob(n, nil)
	return a.Phase != b.Phase || a.Reason != b.Reason || !a.Finished.Equal(b.Finished) ||
		a.Container != b.Container || a.Message != b.Message || !o.DeletionTimestamp.Equal(n.DeletionTimestamp)
}

// podChanged: the pod's phase, a container that terminated, or its deletion.
func podChanged(old, cur any) bool {
	o, ok1 := old.(*corev1.Pod)
	n, ok2 := cur.(*corev1.Pod)
	if !ok1 || !ok2 {
		return true
	}
	return o.Status.Phase != n.Status.Phase || terminated(o) != terminated(n) || !o.DeletionTimestamp.Equal(n.DeletionTimestamp)
}

func terminated(p *corev1.Pod) int {
	n := 0
	for _, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
		for _, cs := range list {
			if cs.State.Terminated != nil {
				n++
			}
		}
	}
	return n
}

// Stop ends the watches.
func (c *Cache) Stop() { c.cancel() }

func (c *Cache) poke() {
	select {
	case c.Changed <- struct{}{}:
	default:
	}
}

// State returns the cached state ConfigMap (nil if absent).
func (c *Cache) StateConfigMap() *corev1.ConfigMap {
	cm, err := c.cm.ConfigMaps(job.Namespace).Get(store.Name)
	if err != nil {
		return nil
	}
	return cm
}

// Observe builds the core's observation from the caches.
func (c *Cache) Observe(st upgrade.State) (upgrade.Observation, error) {
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return upgrade.Observation{}, err
	}
	obs := upgrade.Observation{Nodes: make([]upgrade.Node, 0, len(nodes)), Jobs: map[string]upgrade.Job{}}
	for _, n := range nodes {
		obs.Nodes = append(obs.Nodes, ToNode(n, st.Spec.PoolLabel))
	}
	jobs, err := c.jobs.Jobs(job.Namespace).List(labels.Everything())
	if err != nil {
		return obs, err
	}
	pods, err := c.pods.Pods(job.Namespace).List(labels.Everything())
	if err != nil {
		return obs, err
	}
	byJob := map[string][]*corev1.Pod{}
	for _, p := range pods {
		byJob[p.Labels[batchv1.JobNameLabel]] = append(byJob[p.Labels[batchv1.JobNameLabel]], p)
	}
	for _, j := range jobs {
		uj := ToJob(j, byJob[j.Name])
		obs.Jobs[uj.Node] = uj
	}
	return obs, nil
}

// NodeUID returns the UID of a cached node ("" if unknown).
func (c *Cache) NodeUID(name string) types.UID {
	if name == "" {
		return ""
	}
	n, err := c.nodes.Get(name)
	if err != nil {
		return ""
	}
	return n.UID
}

// WaitFor waits (at most cacheLag) until cond holds on the cache, so the next
// decision sees this process's own writes.
func (c *Cache) WaitFor(ctx context.Context, cond func() bool) {
	deadline := time.Now().Add(cacheLag)
	for !cond() && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
}

// cacheLag bounds how long a process waits to see its own write in its watch cache.
const cacheLag = 3 * time.Second

// HasJobs reports whether every named Job is in the cache.
func (c *Cache) HasJobs(names []string) bool {
	for _, n := range names {
		if _, err := c.jobs.Jobs(job.Namespace).Get(n); err != nil {
			return false
		}
	}
	return true
}
