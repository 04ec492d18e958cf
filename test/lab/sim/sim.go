package sim

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/hostcheck"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/nodeagent"
)

// Options tune the simulator. The zero value is usable.
type Options struct {
	// Log receives one line per pod transition; nil discards them.
	Log io.Writer
	// Workers is the number of pods handled concurrently (default 8).
	Workers int
	// ContainerLogs receives the simulated agent's log lines, which kwok then serves as
	// the pods' container logs; nil writes none.
	ContainerLogs *ContainerLogs
}

// Simulator plays the kubelet and node agent for the plugin's Job pods.
type Simulator struct {
	client kubernetes.Interface
	log    io.Writer
	opts   Options

	pods    corelisters.PodLister
	podIdx  cache.Indexer
	nodes   corelisters.NodeLister
	configs corelisters.ConfigMapLister
	queue   workqueue.TypedRateLimitingInterface[string]

	mu      sync.Mutex
	started map[types.UID]time.Time // when the simulator started each pod (monotonic)
	// images are the images on each node, by reference and digest: when each is (or
	// was) there (pull.go).
	images map[string]map[string]time.Time

	synced chan struct{}
}

const byNode = "node"

// New returns a simulator that talks to the cluster through client. Give the client a
// raised QPS (a few hundred) for big labs.
func New(client kubernetes.Interface, opts Options) *Simulator {
	if opts.Workers <= 0 {
		opts.Workers = 8
	}
	log := opts.Log
	if log == nil {
		log = io.Discard
	}
	return &Simulator{
		client:  client,
		log:     log,
		opts:    opts,
		started: map[types.UID]time.Time{},
		images:  map[string]map[string]time.Time{},
		synced:  make(chan struct{}),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](5*time.Millisecond, 2*time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "edgeupgrade-lab-sim"}),
	}
}

// Synced is closed once the simulator's caches are filled and it is acting on pods.
func (s *Simulator) Synced() <-chan struct{} { return s.synced }

// Run watches the plugin's pods until ctx is done.
func (s *Simulator) Run(ctx context.Context) error {
	defer s.queue.ShutDown()

	podFactory := informers.NewSharedInformerFactoryWithOptions(s.client, 0,
		informers.WithNamespace(job.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.LabelSelector = labels.Set{job.LabelManagedBy: job.ManagedBy}.String()
		}))
	nodeFactory := informers.NewSharedInformerFactory(s.client, 0)
	cmFactory := informers.NewSharedInformerFactoryWithOptions(s.client, 0,
		informers.WithNamespace(ConfigMapNamespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", ConfigMapName).String()
		}))

	podInf := podFactory.Core().V1().Pods()
	if err := podInf.Informer().AddIndexers(cache.Indexers{byNode: func(obj any) ([]string, error) {
		p, ok := obj.(*corev1.Pod)
		if !ok || p.Spec.NodeName == "" {
			return nil, nil
		}
		return []string{p.Spec.NodeName}, nil
	}}); err != nil {
		return fmt.Errorf("index pods by node: %w", err)
	}
	s.pods, s.podIdx = podInf.Lister(), podInf.Informer().GetIndexer()
	s.nodes = nodeFactory.Core().V1().Nodes().Lister()
	s.configs = cmFactory.Core().V1().ConfigMaps().Lister()

	enqueuePod := func(obj any) {
		if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
			s.queue.Add(key)
		}
	}
	if _, err := podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueuePod,
		UpdateFunc: func(_, obj any) { enqueuePod(obj) },
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if p, ok := obj.(*corev1.Pod); ok {
				s.forget(p.UID)
				if s.opts.ContainerLogs != nil {
					s.opts.ContainerLogs.Forget(p)
				}
			}
		},
	}); err != nil {
		return err
	}
	if _, err := nodeFactory.Core().V1().Nodes().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(oldObj, obj any) {
			o, n := oldObj.(*corev1.Node), obj.(*corev1.Node)
			if knobsChanged(o, n) {
				s.enqueueNode(n.Name)
			}
		},
	}); err != nil {
		return err
	}
	if _, err := cmFactory.Core().V1().ConfigMaps().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { s.enqueueAll() },
		UpdateFunc: func(_, _ any) { s.enqueueAll() },
	}); err != nil {
		return err
	}

	podFactory.Start(ctx.Done())
	nodeFactory.Start(ctx.Done())
	cmFactory.Start(ctx.Done())
	defer podFactory.Shutdown()
	defer nodeFactory.Shutdown()
	defer cmFactory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(),
		podInf.Informer().HasSynced,
		nodeFactory.Core().V1().Nodes().Informer().HasSynced,
		cmFactory.Core().V1().ConfigMaps().Informer().HasSynced) {
		return ctx.Err()
	}
	close(s.synced)

	var wg sync.WaitGroup
	for range s.opts.Workers {
		wg.Go(func() {
			for s.next(ctx) {
			}
		})
	}
	<-ctx.Done()
	s.queue.ShutDown()
	wg.Wait()
	return nil
}

func knobsChanged(o, n *corev1.Node) bool {
	for _, k := range []string{AnnotationFail, AnnotationHang, AnnotationJobDuration, AnnotationNotReadyDuring, AnnotationDeepResult,
		AnnotationLinkSpeed, AnnotationPullFail} {
		if o.Annotations[k] != n.Annotations[k] {
			return true
		}
	}
	return o.Labels[LabelNotReady] != n.Labels[LabelNotReady] ||
		o.Annotations[AnnotationKwokNode] != n.Annotations[AnnotationKwokNode] ||
		nodeReady(o) != nodeReady(n)
}

func (s *Simulator) enqueueNode(node string) {
	objs, err := s.podIdx.ByIndex(byNode, node)
	if err != nil {
		return
	}
	for _, o := range objs {
		if key, err := cache.MetaNamespaceKeyFunc(o); err == nil {
			s.queue.Add(key)
		}
	}
}

func (s *Simulator) enqueueAll() {
	for _, key := range s.podIdx.ListKeys() {
		s.queue.Add(key)
	}
}

func (s *Simulator) next(ctx context.Context) bool {
	key, quit := s.queue.Get()
	if quit {
		return false
	}
	defer s.queue.Done(key)
	after, err := s.sync(ctx, key)
	switch {
	case err != nil && ctx.Err() == nil:
		s.logf("%s: %v (retrying)", key, err)
		s.queue.AddRateLimited(key)
	case err != nil:
	default:
		s.queue.Forget(key)
		if after > 0 {
			s.queue.AddAfter(key, after)
		}
	}
	return true
}

func (s *Simulator) logf(format string, args ...any) {
	_, _ = fmt.Fprintf(s.log, time.Now().Format("15:04:05.000")+" "+format+"\n", args...)
}

// agentLog writes lines to a container's log, as the node agent would print them. A
// failure is only reported: logs are for people, the pod's status is the result.
func (s *Simulator) agentLog(ctx context.Context, pod *corev1.Pod, container string, lines ...string) {
	if s.opts.ContainerLogs == nil {
		return
	}
	if err := s.opts.ContainerLogs.Write(ctx, pod, container, lines...); err != nil {
		s.logf("%s/%s: container log: %v", pod.Namespace, pod.Name, err)
	}
}

func (s *Simulator) forget(uid types.UID) {
	s.mu.Lock()
	delete(s.started, uid)
	s.mu.Unlock()
}

// startOf returns when the pod was started, adopting status.startTime for pods started
// before this simulator (for example by a previous simulator process).
func (s *Simulator) startOf(p *corev1.Pod) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.started[p.UID]; ok {
		return t
	}
	t := time.Now()
	if p.Status.StartTime != nil && p.Status.StartTime.Time.Before(t) {
		t = time.Now().Add(-time.Since(p.Status.StartTime.Time))
	}
	s.started[p.UID] = t
	return t
}

func (s *Simulator) markStarted(uid types.UID) time.Time {
	now := time.Now()
	s.mu.Lock()
	s.started[uid] = now
	s.mu.Unlock()
	return now
}

// jobDuration is the node's duration, else the ConfigMap's, else DefaultJobDuration.
func (s *Simulator) jobDuration(k Knobs) time.Duration {
	if k.Duration > 0 {
		return k.Duration
	}
	if cm, err := s.configs.ConfigMaps(ConfigMapNamespace).Get(ConfigMapName); err == nil {
		if d, err := time.ParseDuration(cm.Data[KeyJobDuration]); err == nil && d >= 0 {
			return d
		}
	}
	return DefaultJobDuration
}

// sync moves one pod forward; a positive duration asks to be called again after it.
func (s *Simulator) sync(ctx context.Context, key string) (time.Duration, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return 0, nil
	}
	pod, err := s.pods.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return 0, nil
	} else if err != nil {
		return 0, err
	}
	if pod.DeletionTimestamp != nil || pod.Spec.NodeName == "" {
		return 0, nil // kwok's pod-delete stage removes deleted pods
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		s.forget(pod.UID)
		return 0, nil
	}
	node, err := s.nodes.Get(pod.Spec.NodeName)
	if apierrors.IsNotFound(err) {
		return 0, nil
	} else if err != nil {
		return 0, err
	}
	if node.Annotations[AnnotationKwokNode] != KwokNodeValue {
		return 0, nil // a real node: its kubelet runs the pod
	}
	switch pod.Labels[job.LabelComponent] {
	case job.ComponentNodeUpgrade:
		return s.syncUpgrade(ctx, pod, node)
	case job.ComponentDeepCheck:
		return 0, s.syncDeepCheck(ctx, pod, node)
	case job.ComponentStage:
		return s.syncStage(ctx, pod, node)
	}
	return 0, nil
}

func (s *Simulator) syncUpgrade(ctx context.Context, pod *corev1.Pod, node *corev1.Node) (time.Duration, error) {
	offline := node.Labels[LabelNotReady] == "true"
	knobs, err := KnobsOf(node)
	if err != nil {
		// A typo in a test must not look like a healthy node.
		knobs = Knobs{Fail: "lab: " + err.Error()}
	}
	preprocessing := pod.Status.Phase == corev1.PodPending && initRunning(pod)

	// Pending: the kubelet starts the pod, unless the node is offline.
	if pod.Status.Phase == corev1.PodPending && !preprocessing {
		if offline {
			return 0, nil // an offline kubelet never starts it; re-checked when the node changes
		}
		if wait := s.pullWait(pod, node); wait > 0 {
			return wait, nil // Pending while its images are pulled (pull.go)
		}
		s.markStarted(pod.UID)
		s.agentLog(ctx, pod, job.ContainerPreprocess,
			fmt.Sprintf("preprocess: node %s (simulated by the lab): host checks: swap off, disk space, runtime and kubelet healthy", node.Name))
		if knobs.FailPreprocess {
			if err := s.writeStatus(ctx, pod, initializingStatus(pod, node)); err != nil {
				return 0, err
			}
			s.logf("%s/%s on %s: preprocessing (will fail)", pod.Namespace, pod.Name, node.Name)
			return s.jobDuration(knobs), nil
		}
		s.agentLog(ctx, pod, job.ContainerPreprocess, "preprocess: backup of the kubelet and kubeadm binaries and configs saved")
		s.agentLog(ctx, pod, job.ContainerUpgrade, append([]string{fmt.Sprintf("upgrade: node %s: kubelet %s -> %s (simulated by the lab)",
			node.Name, node.Status.NodeInfo.KubeletVersion, targetVersion(pod))}, agentSteps(1, 5)...)...)
		if err := s.writeStatus(ctx, pod, runningStatus(pod, node)); err != nil {
			return 0, err
		}
		s.logf("%s/%s on %s: Running", pod.Namespace, pod.Name, node.Name)
		if knobs.NotReadyDuring {
			if err := s.setNotReady(ctx, node.Name, true); err != nil {
				return 0, err
			}
			s.logf("node %s: NotReady during its upgrade", node.Name)
			if knobs.NotReadyFor > 0 {
				return knobs.NotReadyFor, nil
			}
			return 0, nil
		}
		return s.jobDuration(knobs), nil
	}

	elapsed := time.Since(s.startOf(pod))
	if offline {
		if knobs.NotReadyDuring && knobs.NotReadyFor > 0 {
			if elapsed < knobs.NotReadyFor {
				return knobs.NotReadyFor - elapsed, nil
			}
			if nodeReady(node) {
				// kwok has not reported the node NotReady yet (a loaded machine): keep
				// the label until it has, or the blip would never be seen.
				return 100 * time.Millisecond, nil
			}
			if err := s.setNotReady(ctx, node.Name, false); err != nil {
				return 0, err
			}
			s.logf("node %s: Ready again after %s", node.Name, knobs.NotReadyFor)
		}
		return 0, nil // the node reports nothing while it is NotReady
	}
	if knobs.NotReadyDuring && !nodeReady(node) {
		return 0, nil // the kubelet reports once its node is Ready again (re-checked when it is)
	}
	if knobs.Hang {
		return 0, nil // re-checked when the node's knobs change
	}
	if d := s.jobDuration(knobs); elapsed < d {
		return d - elapsed, nil
	}

	switch {
	case knobs.Fail != "" && knobs.FailPreprocess && preprocessing:
		s.agentLog(ctx, pod, job.ContainerPreprocess, "preprocess: FAILED: "+knobs.Fail)
		if err := s.writeStatus(ctx, pod, failedPreprocessStatus(pod, node, knobs.Fail)); err != nil {
			return 0, err
		}
		s.logf("%s/%s on %s: Failed in %s: %s", pod.Namespace, pod.Name, node.Name, job.ContainerPreprocess, knobs.Fail)
	case knobs.Fail != "":
		s.agentLog(ctx, pod, job.ContainerUpgrade, append(agentSteps(6, 8), agentStepFailed(nodeagent.StepVerify, knobs.Fail),
			"upgrade: FAILED: "+knobs.Fail, "upgrade: restored the backup; the node is at "+node.Status.NodeInfo.KubeletVersion)...)
		if err := s.writeStatus(ctx, pod, failedStatus(pod, node, knobs.Fail)); err != nil {
			return 0, err
		}
		s.logf("%s/%s on %s: Failed: %s", pod.Namespace, pod.Name, node.Name, knobs.Fail)
	default:
		target := targetVersion(pod)
		if target == "" {
			msg := fmt.Sprintf("lab: pod has no %s annotation", job.AnnotationTargetVersion)
			return 0, s.writeStatus(ctx, pod, failedStatus(pod, node, msg))
		}
		before := node.Status.NodeInfo.KubeletVersion
		if before != target {
			if err := s.setVersion(ctx, node.Name, target); err != nil {
				return 0, err
			}
		}
		s.agentLog(ctx, pod, job.ContainerUpgrade, append(agentSteps(6, 8),
			fmt.Sprintf("upgrade: node %s: kubelet %s restarted, healthy and reporting %s", node.Name, target, target))...)
		// The agent's result line (docs/node-agent.md), which history reads the old version from.
		done := fmt.Sprintf("upgrade: node %s upgraded from %s to %s (simulated by the lab)", node.Name, before, target)
		if err := s.writeStatus(ctx, pod, succeededStatus(pod, node, done)); err != nil {
			return 0, err
		}
		s.logf("%s/%s on %s: Succeeded, kubelet %s", pod.Namespace, pod.Name, node.Name, target)
	}
	return 0, nil
}

func (s *Simulator) syncDeepCheck(ctx context.Context, pod *corev1.Pod, node *corev1.Node) error {
	if node.Labels[LabelNotReady] == "true" {
		return nil // an offline node never runs it
	}
	msg, ok := node.Annotations[AnnotationDeepResult]
	if !ok {
		b, err := json.Marshal(hostcheck.Result{
			Node:           node.Name,
			KubeletVersion: node.Status.NodeInfo.KubeletVersion,
			CgroupVersion:  2,
			Findings:       []hostcheck.Finding{},
		})
		if err != nil {
			return err
		}
		msg = string(b)
	}
	s.markStarted(pod.UID)
	if err := s.writeStatus(ctx, pod, succeededStatus(pod, node, msg)); err != nil {
		return err
	}
	s.logf("%s/%s on %s: deep-check Succeeded", pod.Namespace, pod.Name, node.Name)
	return nil
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func targetVersion(pod *corev1.Pod) string {
	if v := pod.Annotations[job.AnnotationTargetVersion]; v != "" {
		return v
	}
	for _, c := range pod.Spec.Containers {
		for _, e := range c.Env {
			if e.Name == job.EnvTargetVersion && e.Value != "" {
				return e.Value
			}
		}
	}
	return ""
}

func initRunning(pod *corev1.Pod) bool {
	for _, st := range pod.Status.InitContainerStatuses {
		if st.State.Running != nil {
			return true
		}
	}
	return false
}

func (s *Simulator) writeStatus(ctx context.Context, pod *corev1.Pod, st corev1.PodStatus) error {
	p := pod.DeepCopy()
	st.QOSClass = pod.Status.QOSClass
	p.Status = st
	_, err := s.client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{FieldManager: "edgeupgrade-lab-sim"})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("update status of pod %s/%s: %w", p.Namespace, p.Name, err)
	}
	return nil
}

func (s *Simulator) setNotReady(ctx context.Context, node string, notReady bool) error {
	var v any
	if notReady {
		v = "true"
	}
	if err := PatchNode(ctx, s.client, node, map[string]any{"metadata": map[string]any{"labels": map[string]any{LabelNotReady: v}}}, ""); err != nil {
		return err
	}
	// Node patches carry no resourceVersion, so wait until the cache shows this one:
	// deciding on the older node would undo it (complete a pod whose node just went
	// NotReady).
	return wait.PollUntilContextTimeout(ctx, 5*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		n, err := s.nodes.Get(node)
		if err != nil {
			return false, nil
		}
		return (n.Labels[LabelNotReady] == "true") == notReady, nil
	})
}

func (s *Simulator) setVersion(ctx context.Context, node, version string) error {
	return PatchNode(ctx, s.client, node, map[string]any{"status": map[string]any{"nodeInfo": map[string]any{
		"kubeletVersion": version, "kubeProxyVersion": version,
	}}}, "status")
}

// PatchNode applies a JSON merge patch to a node (subresource "" or "status").
func PatchNode(ctx context.Context, c kubernetes.Interface, node string, patch map[string]any, subresource string) error {
	b, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	var sub []string
	if subresource != "" {
		sub = []string{subresource}
	}
	_, err = c.CoreV1().Nodes().Patch(ctx, node, types.MergePatchType, b, metav1.PatchOptions{FieldManager: "edgeupgrade-lab-sim"}, sub...)
	if err != nil {
		return fmt.Errorf("patch node %s: %w", node, err)
	}
	return nil
}

// ---- pod status builders: what a kubelet would report ----

func hostIP(node *corev1.Node) string {
	for _, a := range node.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			return a.Address
		}
	}
	return ""
}

func containerID(pod *corev1.Pod, name string) string {
	sum := sha256.Sum256([]byte(string(pod.UID) + "/" + name))
	return fmt.Sprintf("containerd://%x", sum)
}

func setCondition(conds []corev1.PodCondition, t corev1.PodConditionType, status corev1.ConditionStatus, reason, msg string, now metav1.Time) []corev1.PodCondition {
	for i := range conds {
		if conds[i].Type == t {
			if conds[i].Status != status {
				conds[i].LastTransitionTime = now
			}
			conds[i].Status, conds[i].Reason, conds[i].Message = status, reason, msg
			return conds
		}
	}
	return append(conds, corev1.PodCondition{Type: t, Status: status, Reason: reason, Message: msg, LastTransitionTime: now})
}

// base starts a status from the pod's current one (keeping conditions other controllers
// set, such as DisruptionTarget) with the node's addresses and a start time.
func base(pod *corev1.Pod, node *corev1.Node, now metav1.Time) corev1.PodStatus {
	st := corev1.PodStatus{
		Conditions: append([]corev1.PodCondition(nil), pod.Status.Conditions...),
		StartTime:  pod.Status.StartTime,
	}
	if st.StartTime == nil {
		st.StartTime = &now
	}
	if ip := hostIP(node); ip != "" {
		st.HostIP, st.HostIPs = ip, []corev1.HostIP{{IP: ip}}
		if pod.Spec.HostNetwork {
			st.PodIP, st.PodIPs = ip, []corev1.PodIP{{IP: ip}}
		}
	}
	st.Conditions = setCondition(st.Conditions, corev1.PodScheduled, corev1.ConditionTrue, "", "", now)
	st.Conditions = setCondition(st.Conditions, corev1.PodReadyToStartContainers, corev1.ConditionTrue, "", "", now)
	return st
}

func terminated(pod *corev1.Pod, c corev1.Container, started metav1.Time, now metav1.Time, code int32, msg string) corev1.ContainerStatus {
	reason := "Completed"
	if code != 0 {
		reason = "Error"
	}
	return corev1.ContainerStatus{
		Name: c.Name, Image: c.Image, ImageID: imageID(c.Image), ContainerID: containerID(pod, c.Name),
		Ready: code == 0 && isInit(pod, c.Name), Started: new(false),
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: code, Reason: reason, Message: msg, StartedAt: started, FinishedAt: now,
			ContainerID: containerID(pod, c.Name),
		}},
	}
}

func isInit(pod *corev1.Pod, name string) bool {
	for _, c := range pod.Spec.InitContainers {
		if c.Name == name {
			return true
		}
	}
	return false
}

func running(pod *corev1.Pod, c corev1.Container, now metav1.Time, ready bool) corev1.ContainerStatus {
	return corev1.ContainerStatus{
		Name: c.Name, Image: c.Image, ImageID: imageID(c.Image), ContainerID: containerID(pod, c.Name),
		Ready: ready, Started: new(true),
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
	}
}

func waiting(c corev1.Container, reason string) corev1.ContainerStatus {
	return corev1.ContainerStatus{
		Name: c.Name, Image: c.Image, Started: new(false),
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}},
	}
}

func startedAt(pod *corev1.Pod, now metav1.Time) metav1.Time {
	if pod.Status.StartTime != nil {
		return *pod.Status.StartTime
	}
	return now
}

// initializingStatus: the init containers are running.
func initializingStatus(pod *corev1.Pod, node *corev1.Node) corev1.PodStatus {
	now := metav1.Now()
	st := base(pod, node, now)
	st.Phase = corev1.PodPending
	notInit := fmt.Sprintf("containers with incomplete status: %v", initNames(pod))
	st.Conditions = setCondition(st.Conditions, corev1.PodInitialized, corev1.ConditionFalse, "ContainersNotInitialized", notInit, now)
	st.Conditions = setCondition(st.Conditions, corev1.PodReady, corev1.ConditionFalse, "ContainersNotReady", "", now)
	st.Conditions = setCondition(st.Conditions, corev1.ContainersReady, corev1.ConditionFalse, "ContainersNotReady", "", now)
	for _, c := range pod.Spec.InitContainers {
		st.InitContainerStatuses = append(st.InitContainerStatuses, running(pod, c, now, false))
	}
	for _, c := range pod.Spec.Containers {
		st.ContainerStatuses = append(st.ContainerStatuses, waiting(c, "PodInitializing"))
	}
	return st
}

func initNames(pod *corev1.Pod) []string {
	var out []string
	for _, c := range pod.Spec.InitContainers {
		out = append(out, c.Name)
	}
	return out
}

// runningStatus: init containers completed, containers running.
func runningStatus(pod *corev1.Pod, node *corev1.Node) corev1.PodStatus {
	now := metav1.Now()
	st := base(pod, node, now)
	st.Phase = corev1.PodRunning
	st.Conditions = setCondition(st.Conditions, corev1.PodInitialized, corev1.ConditionTrue, "", "", now)
	st.Conditions = setCondition(st.Conditions, corev1.PodReady, corev1.ConditionTrue, "", "", now)
	st.Conditions = setCondition(st.Conditions, corev1.ContainersReady, corev1.ConditionTrue, "", "", now)
	for _, c := range pod.Spec.InitContainers {
		st.InitContainerStatuses = append(st.InitContainerStatuses, terminated(pod, c, now, now, 0, ""))
	}
	for _, c := range pod.Spec.Containers {
		st.ContainerStatuses = append(st.ContainerStatuses, running(pod, c, now, true))
	}
	return st
}

// failedPreprocessStatus: the first init container failed with msg.
func failedPreprocessStatus(pod *corev1.Pod, node *corev1.Node, msg string) corev1.PodStatus {
	now := metav1.Now()
	st := base(pod, node, now)
	st.Phase = corev1.PodFailed
	st.Conditions = setCondition(st.Conditions, corev1.PodInitialized, corev1.ConditionFalse, "ContainersNotInitialized",
		fmt.Sprintf("containers with incomplete status: %v", initNames(pod)), now)
	st.Conditions = setCondition(st.Conditions, corev1.PodReady, corev1.ConditionFalse, "PodFailed", "", now)
	st.Conditions = setCondition(st.Conditions, corev1.ContainersReady, corev1.ConditionFalse, "PodFailed", "", now)
	st.Conditions = setCondition(st.Conditions, corev1.PodReadyToStartContainers, corev1.ConditionFalse, "", "", now)
	start := startedAt(pod, now)
	failed := false
	for _, c := range pod.Spec.InitContainers {
		switch {
		case failed:
			st.InitContainerStatuses = append(st.InitContainerStatuses, waiting(c, "PodInitializing"))
		case c.Name == job.ContainerPreprocess || len(pod.Spec.InitContainers) == 1:
			st.InitContainerStatuses = append(st.InitContainerStatuses, terminated(pod, c, start, now, 1, msg))
			failed = true
		default:
			st.InitContainerStatuses = append(st.InitContainerStatuses, terminated(pod, c, start, now, 0, ""))
		}
	}
	for _, c := range pod.Spec.Containers {
		st.ContainerStatuses = append(st.ContainerStatuses, waiting(c, "PodInitializing"))
	}
	if !failed {
		// No init container to fail: fail the main container instead.
		return failedStatus(pod, node, msg)
	}
	return st
}

// failedStatus: container "upgrade" (or the only container) exited 1 with msg.
func failedStatus(pod *corev1.Pod, node *corev1.Node, msg string) corev1.PodStatus {
	return finishedStatus(pod, node, corev1.PodFailed, msg)
}

// succeededStatus: every container exited 0; msg is the termination message.
func succeededStatus(pod *corev1.Pod, node *corev1.Node, msg string) corev1.PodStatus {
	return finishedStatus(pod, node, corev1.PodSucceeded, msg)
}

func finishedStatus(pod *corev1.Pod, node *corev1.Node, phase corev1.PodPhase, msg string) corev1.PodStatus {
	now := metav1.Now()
	st := base(pod, node, now)
	st.Phase = phase
	reason := "PodCompleted"
	if phase == corev1.PodFailed {
		reason = "PodFailed"
	}
	st.Conditions = setCondition(st.Conditions, corev1.PodInitialized, corev1.ConditionTrue, "", "", now)
	st.Conditions = setCondition(st.Conditions, corev1.PodReady, corev1.ConditionFalse, reason, "", now)
	st.Conditions = setCondition(st.Conditions, corev1.ContainersReady, corev1.ConditionFalse, reason, "", now)
	st.Conditions = setCondition(st.Conditions, corev1.PodReadyToStartContainers, corev1.ConditionFalse, "", "", now)
	start := startedAt(pod, now)
	for _, c := range pod.Spec.InitContainers {
		st.InitContainerStatuses = append(st.InitContainerStatuses, terminated(pod, c, start, now, 0, ""))
	}
	target := job.ContainerUpgrade
	if phase == corev1.PodSucceeded || len(pod.Spec.Containers) == 1 || !hasContainer(pod, target) {
		target = "" // every container gets msg (a deep-check pod has one container)
	}
	for _, c := range pod.Spec.Containers {
		code, m := int32(0), ""
		if target == "" || c.Name == target {
			m = msg
			if phase == corev1.PodFailed {
				code = 1
			}
		}
		st.ContainerStatuses = append(st.ContainerStatuses, terminated(pod, c, start, now, code, m))
	}
	return st
}

func hasContainer(pod *corev1.Pod, name string) bool {
	for _, c := range pod.Spec.Containers {
		if c.Name == name {
			return true
		}
	}
	return false
}

// upgradeSteps are the node agent's upgrade steps, in its order.
var upgradeSteps = []string{nodeagent.StepReadVersion, nodeagent.StepCheckBackup, nodeagent.StepStage, nodeagent.StepInstallKubeadm,
	nodeagent.StepKubeadm, nodeagent.StepInstallKubelet, nodeagent.StepRestart, nodeagent.StepVerify}

// agentSteps are the agent's log lines for steps first..last (1-based), timestamped
// now, as the agent prints them ("<time> step 5/8 kubeadm"): the plugin's history
// reads the steps' timings from them.
func agentSteps(first, last int) []string {
	now := time.Now().UTC().Format(time.RFC3339Nano)
	var out []string
	for i := first; i <= last; i++ {
		out = append(out, fmt.Sprintf("%s step %d/%d %s", now, i, len(upgradeSteps), upgradeSteps[i-1]))
	}
	return out
}

// agentStepFailed is the agent's log line of a failed step.
func agentStepFailed(step, msg string) string {
	return fmt.Sprintf("%s step %s failed: %s", time.Now().UTC().Format(time.RFC3339Nano), step, msg)
}
