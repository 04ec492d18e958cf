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

// NewCache starts the informers for a run and waits for their first list.
func NewCache(ctx context.Context, client kubernetes.Interface, st upgrade.State) (*Cache, error) {
	ctx, cancel := context.WithCancel(ctx)
	c := &Cache{Changed: make(chan struct{}, 1), cancel: cancel}
	nodeF := informers.NewSharedInformerFactoryWithOptions(client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = st.Spec.Selector }))
	runF := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(job.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			if o.FieldSelector == "" {
				o.LabelSelector = job.NodeUpgradeSelector(st.RunID)
			}
		}))
	cmF := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(job.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", store.Name).String()
		}))
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { c.poke() },
		UpdateFunc: func(any, any) { c.poke() },
		DeleteFunc: func(any) { c.poke() },
	}
	infs := []cache.SharedIndexInformer{
		cmF.Core().V1().ConfigMaps().Informer(),
		nodeF.Core().V1().Nodes().Informer(),
		runF.Batch().V1().Jobs().Informer(),
		runF.Core().V1().Pods().Informer(),
	}
	for _, inf := range infs {
		if _, err := inf.AddEventHandler(handler); err != nil {
			cancel()
			return nil, err
		}
	}
	c.cm = cmF.Core().V1().ConfigMaps().Lister()
	c.nodes = nodeF.Core().V1().Nodes().Lister()
	c.jobs = runF.Batch().V1().Jobs().Lister()
	c.pods = runF.Core().V1().Pods().Lister()
	for _, f := range []informers.SharedInformerFactory{cmF, nodeF, runF} {
		f.Start(ctx.Done())
	}
	syncCtx, syncCancel := context.WithTimeout(ctx, 2*time.Minute)
	defer syncCancel()
	for _, inf := range infs {
		if !cache.WaitForCacheSync(syncCtx.Done(), inf.HasSynced) {
			cancel()
			return nil, fmt.Errorf("watch the cluster: caches did not sync within 2m; check connectivity to the API server")
		}
	}
	return c, nil
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
