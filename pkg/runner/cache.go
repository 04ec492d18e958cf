package runner

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listersbatchv1 "k8s.io/client-go/listers/batch/v1"
	listerscorev1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/store"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// Cache watches what one run needs: its state ConfigMap, the Nodes in scope, and the
// run's Jobs and pods. Watches keep API load flat however long the run takes, and
// every change wakes the driver at once (no polling).
type Cache struct {
	client kubernetes.Interface
	cm     listerscorev1.ConfigMapLister
	nodes  listerscorev1.NodeLister
	jobs   listersbatchv1.JobLister
	pods   listerscorev1.PodLister
	// podsByJob indexes the pods by their Job's name (batchFinished).
	podsByJob cache.Indexer
	// meta lists every Job of the run as metadata in lean mode (nil otherwise), or
	// only the batch in flight's when closed holds the finished batches' (jobtable.go);
	// jobs then holds only the Jobs that have not succeeded.
	meta   cache.GenericLister
	closed *closedJobs
	// componentPods are a DaemonSet run's pods (daemonset.go); nil for other runs.
	componentPods listerscorev1.PodLister
	// stage watches the run's staging Jobs (stage.go); nil when the run does not stage.
	stage *stageCache
	// Changed receives a value (non-blocking) whenever anything watched changes.
	Changed chan struct{}
	cancel  context.CancelFunc
	ctx     context.Context
	lean    bool

	// The DaemonSet pods the health gate reads, watched from a driver's first gate on.
	gateOnce sync.Once
	gateInf  cache.SharedIndexInformer
	gateErr  atomic.Pointer[error] // the watch's last error, to fail fast when forbidden

	// outage records the watches' failures for Drive to report (outage.go).
	outage outage
}

// CacheOptions tune what a Cache watches.
type CacheOptions struct {
	// Lean, for one-shot commands, lists what a decision needs and no more. At 5,000
	// nodes a run's Jobs are ~35 MB of JSON, most of it the pod template; lean lists
	// every Job as metadata (node, batch, creation, last status write) and in full
	// only the Jobs that have not succeeded (field selector status.successful=0), and
	// leaves succeeded pods out (status.phase!=Succeeded). A Job then counts as done
	// once the job controller marks it (about a second after its pod), which only a
	// driver minds. Lean needs Metadata.
	Lean     bool
	Metadata metadata.Interface
	// Table, when set with Lean, reads the nodes once as the API server's Table
	// (ListNodesLean) instead of listing them in full: a REST client of core/v1.
	Table rest.Interface
}

// NewCache starts the informers for a run and waits for their first list.
func NewCache(ctx context.Context, client kubernetes.Interface, st upgrade.State, opts CacheOptions) (_ *Cache, err error) {
	if opts.Lean && opts.Metadata == nil {
		return nil, fmt.Errorf("a lean cache needs a metadata client")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer func() {
		if err != nil {
			cancel()
		}
	}()
	c := &Cache{client: client, Changed: make(chan struct{}, 1), cancel: cancel, ctx: ctx, lean: opts.Lean}
	f := newFactories(client, st, opts.Lean)
	// A one-shot command with a Table client reads the nodes once (nodeTable);
	// otherwise the nodes are watched like the rest.
	tableNodes := opts.Lean && opts.Table != nil
	infs, err := c.register(f, st.Spec.PoolLabel, !tableNodes)
	if err != nil {
		return nil, err
	}
	var nodesRead chan error
	if tableNodes {
		nodesRead = make(chan error, 1)
		go func() { nodesRead <- c.readNodes(ctx, opts.Table, st.Spec.Selector) }()
	}
	// Nodes, pods and the ConfigMap list while the Jobs' metadata does (2 cores decode).
	for _, fac := range []informers.SharedInformerFactory{f.cm, f.nodes, f.pods} {
		fac.Start(ctx.Done())
	}
	if opts.Lean {
		if err := c.syncLeanJobs(ctx, opts, st); err != nil {
			return nil, err
		}
	}
	c.cm = f.cm.Core().V1().ConfigMaps().Lister()
	if !tableNodes {
		c.nodes = f.nodes.Core().V1().Nodes().Lister()
	}
	c.jobs = f.jobs.Batch().V1().Jobs().Lister()
	c.pods = f.pods.Core().V1().Pods().Lister()
	if c.stage, err = newStageCache(ctx, client, st, c.listen); err != nil {
		return nil, err
	}
	if c.stage != nil {
		infs = append(infs, c.stage.inf)
	}
	f.jobs.Start(ctx.Done())
	inf, err := c.watchComponent(ctx, st)
	if err != nil {
		return nil, err
	}
	if inf != nil {
		infs = append(infs, inf)
	}
	if !synced(ctx, infs, 2*time.Minute) {
		return nil, errNoSync
	}
	if nodesRead != nil {
		if err := <-nodesRead; err != nil {
			return nil, err
		}
	}
	if c.closed != nil {
		if err := c.closed.resolveNodes(ctx, opts.Metadata, st.RunID, c.nodeNames()); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// factories are the cache's informer factories: the nodes in scope, the run's node
// Jobs and their pods (in a lean cache only the unfinished ones), the state ConfigMap.
type factories struct {
	nodes, jobs, pods, cm informers.SharedInformerFactory
}

func newFactories(client kubernetes.Interface, st upgrade.State, lean bool) factories {
	runSelector := func(field string) informers.SharedInformerOption {
		return informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.LabelSelector = job.NodeUpgradeSelector(st.RunID)
			if lean {
				o.FieldSelector = field
			}
		})
	}
	return factories{
		nodes: informers.NewSharedInformerFactoryWithOptions(client, 0,
			informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = st.Spec.Selector })),
		jobs: informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(job.Namespace),
			runSelector(fields.OneTermEqualSelector("status.successful", "0").String())),
		pods: informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(job.Namespace),
			runSelector(fields.OneTermNotEqualSelector("status.phase", string(corev1.PodSucceeded)).String())),
		cm: informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(job.Namespace),
			informers.WithTweakListOptions(func(o *metav1.ListOptions) {
				o.FieldSelector = fields.OneTermEqualSelector("metadata.name", store.Name).String()
			})),
	}
}

// register creates the informers (the nodes' only with watchNodes), each with the
// transform that trims what the core does not read and a handler that signals Changed
// when a change matters.
func (c *Cache) register(f factories, pool string, watchNodes bool) ([]cache.SharedIndexInformer, error) {
	infs := []cache.SharedIndexInformer{
		f.cm.Core().V1().ConfigMaps().Informer(),
		f.jobs.Batch().V1().Jobs().Informer(),
		f.pods.Core().V1().Pods().Informer(),
	}
	relevant := []func(old, cur any) bool{anyChange, jobChanged, podChanged}
	transforms := []cache.TransformFunc{trimObject, trimJob, trimPod}
	if watchNodes {
		infs = append(infs, f.nodes.Core().V1().Nodes().Informer())
		relevant = append(relevant, func(old, cur any) bool { return nodeChanged(old, cur, pool) })
		transforms = append(transforms, trimNode)
	}
	if err := infs[2].AddIndexers(cache.Indexers{byJobName: podJobName}); err != nil {
		return nil, err
	}
	c.podsByJob = infs[2].GetIndexer()
	for i, inf := range infs {
		if err := inf.SetTransform(transforms[i]); err != nil {
			return nil, err
		}
		if err := c.listen(inf, relevant[i]); err != nil {
			return nil, err
		}
	}
	return infs, nil
}

// syncJobMetadata lists and watches the run's node Jobs that selector picks as
// metadata only (a lean cache). It runs before the Jobs list: that list is then at
// least as new, so a Job in the first and not in the second has succeeded.
func (c *Cache) syncJobMetadata(ctx context.Context, md metadata.Interface, selector string) error {
	metaF := metadatainformer.NewFilteredSharedInformerFactory(md, 0, job.Namespace,
		func(o *metav1.ListOptions) { o.LabelSelector = selector })
	inf := metaF.ForResource(batchv1.SchemeGroupVersion.WithResource("jobs"))
	if err := inf.Informer().SetTransform(trimMeta); err != nil {
		return err
	}
	if err := c.listen(inf.Informer(), anyChange); err != nil {
		return err
	}
	c.meta = inf.Lister()
	metaF.Start(ctx.Done())
	if !synced(ctx, []cache.SharedIndexInformer{inf.Informer()}, 2*time.Minute) {
		return errNoSync
	}
	return nil
}

// readNodes fills the node lister from one Table read (ListNodesLean): a one-shot
// command decides once and never waits for a node to change.
func (c *Cache) readNodes(ctx context.Context, rc rest.Interface, sel string) error {
	list, err := ListNodesLean(ctx, rc, c.client, sel)
	if err != nil {
		return err
	}
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	for _, n := range list {
		if err := idx.Add(n); err != nil {
			return err
		}
	}
	c.nodes = listerscorev1.NewNodeLister(idx)
	return nil
}

var errNoSync = errors.New("watch the cluster: caches did not sync within 2m; check connectivity to the API server")

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
// listen wakes Drive on inf's changes that changed reports, and hands inf's watch
// errors to watchFailed.
func (c *Cache) listen(inf cache.SharedIndexInformer, changed func(old, cur any) bool) error {
	if _, err := inf.AddEventHandler(c.handler(changed)); err != nil {
		return err
	}
	return inf.SetWatchErrorHandlerWithContext(c.watchFailed)
}

// anyChange: every update matters.
func anyChange(_, _ any) bool { return true }

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
		a.Container != b.Container || a.Message != b.Message || !o.DeletionTimestamp.Equal(n.DeletionTimestamp) ||
		a.Skipped != b.Skipped
}

// podChanged: the pod's phase, a container that terminated, or its deletion.
func podChanged(old, cur any) bool {
	o, ok1 := old.(*corev1.Pod)
	n, ok2 := cur.(*corev1.Pod)
	if !ok1 || !ok2 {
		return true
	}
	return o.Status.Phase != n.Status.Phase || terminated(o) != terminated(n) || !o.DeletionTimestamp.Equal(n.DeletionTimestamp) ||
		podStarted(o) != podStarted(n)
}

// podStarted: the pod has a container running or finished (upgrade.Job.Started).
func podStarted(p *corev1.Pod) bool {
	started, _ := progress([]*corev1.Pod{p})
	return started
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

// watchFailed is every watch's error handler: the failure is Drive's to report
// (outage), once, rather than a log line per retry.
func (c *Cache) watchFailed(_ context.Context, _ *cache.Reflector, err error) {
	if watchOutage(err) {
		c.apiFailed(err)
	}
}

// apiFailed records a request the API server did not answer (a watch, the Lease);
// the first of an outage wakes Drive to say so.
func (c *Cache) apiFailed(err error) {
	if c.outage.failed(time.Now(), err) {
		c.poke()
	}
}

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

// Observe builds the core's observation from the caches, with the DaemonSet pods the
// health gate needs.
func (c *Cache) Observe(st upgrade.State) (upgrade.Observation, error) { return c.observe(st, true) }

func (c *Cache) observe(st upgrade.State, gatePods bool) (upgrade.Observation, error) {
	if isDaemonSetRun(st) {
		return c.observeDaemonSet(st, gatePods)
	}
	if isDeploymentRun(st) {
		obs, _, err := c.observeDeployment(context.Background(), st)
		return obs, err
	}
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
	if c.closed != nil {
		c.closed.observe(st, obs.Jobs, jobNames(jobs))
	}
	if c.meta != nil {
		if err := c.observeSucceeded(obs.Jobs); err != nil {
			return obs, err
		}
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
		if !isNodeUpgrade(&j.ObjectMeta) {
			continue // a watch that ignores its label selector (client-go's fake)
		}
		uj := ToJob(j, byJob[j.Name])
		obs.Jobs[uj.Node] = uj
	}
	if obs.Staging, err = c.stage.observe(context.Background(), c.client, st); err != nil {
		return obs, err
	}
	if gate := upgrade.GateNodes(st, obs); gatePods && len(gate) > 0 {
		// The drivers re-check the gate on every reconcile and at least every resync
		// (and when a soak or grace ends, upgrade.NextWake).
		obs.Pods, err = c.daemonPods(gate)
	}
	return obs, err
}

// observeSucceeded adds the Jobs a lean cache knows only as metadata: they have
// succeeded (observeSucceeded runs before the full Jobs overwrite theirs).
func (c *Cache) observeSucceeded(into map[string]upgrade.Job) error {
	metas, err := c.meta.ByNamespace(job.Namespace).List(labels.Everything())
	if err != nil {
		return err
	}
	for _, o := range metas {
		m, ok := o.(*metav1.PartialObjectMetadata)
		if !ok || !isNodeUpgrade(&m.ObjectMeta) {
			continue
		}
		uj := jobFromMeta(m)
		into[uj.Node] = uj
	}
	return nil
}

// jobFromMeta is a succeeded Job seen as metadata. Its finish time is its last
// status write (the job controller recording Complete, to the second), else its
// creation.
func jobFromMeta(m *metav1.PartialObjectMetadata) upgrade.Job {
	finished := m.CreationTimestamp.Time
	for _, f := range m.ManagedFields {
		if f.Subresource == "status" && f.Time != nil && f.Time.After(finished) {
			finished = f.Time.Time
		}
	}
	out := jobOf(&m.ObjectMeta, upgrade.JobSucceeded)
	out.Finished = finished
	return out
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
// decision sees this process's own writes. It polls every millisecond: a hand-over
// between batches waits here once for its state write, and the conditions are a few
// map lookups.
func (c *Cache) WaitFor(ctx context.Context, cond func() bool) {
	deadline := time.Now().Add(cacheLag)
	for !cond() && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
}

// byJobName is the pod index by the name of the Job that owns the pod.
const byJobName = "job-name"

func podJobName(obj any) ([]string, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok || p.Labels[batchv1.JobNameLabel] == "" {
		return nil, nil
	}
	return []string{p.Labels[batchv1.JobNameLabel]}, nil
}

// batchFinished reports whether the cache shows every node of the node batch in
// flight finished (its Job, or the Job's pod, succeeded or failed) before the health
// gate took over: the change just seen may end the batch, and the driver then decides
// at once instead of first gathering more changes (Runner.Drive). A few lookups per
// node of the batch.
func (c *Cache) batchFinished(st upgrade.State) bool {
	b := st.Current
	if b == nil || !b.JobsCreated || b.Gating() || isDaemonSetRun(st) || isDeploymentRun(st) || c.podsByJob == nil {
		return false
	}
	for _, n := range b.Nodes {
		if !c.jobFinished(job.Name(st.RunID, n)) {
			return false
		}
	}
	return true
}

// jobFinished: finished as the core will read it (ToJob), or with a failed pod.
func (c *Cache) jobFinished(name string) bool {
	j, err := c.jobs.Jobs(job.Namespace).Get(name)
	if err != nil {
		return false
	}
	objs, err := c.podsByJob.ByIndex(byJobName, name)
	if err != nil {
		return false
	}
	pods := make([]*corev1.Pod, 0, len(objs))
	for _, o := range objs {
		if p, ok := o.(*corev1.Pod); ok {
			pods = append(pods, p)
		}
	}
	uj := ToJob(j, pods)
	return uj.Phase == upgrade.JobSucceeded || uj.Phase == upgrade.JobFailed || uj.FailedPods > 0
}

// cacheLag bounds how long a process waits to see its own write in its watch cache.
const cacheLag = 3 * time.Second

// HasJobs reports whether every named Job is in the cache.
func (c *Cache) HasJobs(names []string) bool {
	for _, n := range names {
		_, err := c.jobs.Jobs(job.Namespace).Get(n)
		if err != nil && c.meta != nil {
			_, err = c.meta.ByNamespace(job.Namespace).Get(n)
		}
		if err != nil {
			return false
		}
	}
	return true
}

// daemonPods reads the DaemonSet pods of the gated nodes. A driver watches the
// DaemonSet pods from its first gate on (one list, then changes only; each gate check
// is then a lookup by node) instead of listing them for every batch; a one-shot
// command lists them (DaemonPods).
func (c *Cache) daemonPods(nodes []string) (map[string][]upgrade.Pod, error) {
	if c.lean {
		return DaemonPods(c.ctx, c.client, nodes)
	}
	c.gateOnce.Do(func() {
		f := informers.NewSharedInformerFactoryWithOptions(c.client, 0,
			informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = daemonPodSelector }))
		inf := f.Core().V1().Pods().Informer()
		// Errors here only mean the informer started already, which it has not.
		_ = inf.SetTransform(trimPod)
		_ = inf.SetWatchErrorHandlerWithContext(func(ctx context.Context, r *cache.Reflector, err error) {
			c.gateErr.Store(&err)
			c.watchFailed(ctx, r, err)
		})
		_ = inf.AddIndexers(cache.Indexers{podNodeIndex: func(obj any) ([]string, error) {
			if p, ok := obj.(*corev1.Pod); ok {
				return []string{p.Spec.NodeName}, nil
			}
			return nil, nil
		}})
		f.Start(c.ctx.Done())
		c.gateInf = inf
	})
	deadline := time.Now().Add(gateTimeout)
	for !c.gateInf.HasSynced() {
		if e := c.gateErr.Load(); e != nil && (apierrors.IsForbidden(*e) || apierrors.IsUnauthorized(*e)) {
			return nil, fmt.Errorf("watch the DaemonSet pods for the health gate: %w", *e)
		}
		if c.ctx.Err() != nil || time.Now().After(deadline) {
			return nil, fmt.Errorf("list the DaemonSet pods for the health gate: no answer within %s; check connectivity to the API server", gateTimeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
	var pods []*corev1.Pod
	for _, n := range nodes {
		objs, err := c.gateInf.GetIndexer().ByIndex(podNodeIndex, n)
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			if p, ok := o.(*corev1.Pod); ok {
				pods = append(pods, p)
			}
		}
	}
	return gatePods(pods, nodes), nil
}

const podNodeIndex = "node"
