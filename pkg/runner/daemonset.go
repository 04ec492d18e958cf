package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/components/podstep"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// A DaemonSet run (upgrade.KindDaemonSet) is decided by the same core as a Kubernetes
// run; this file is its adapter. The node step is the DaemonSet's pod on the node,
// told to the core as a Job (podstep.Job): CreateJobs deletes the old pods, which the
// DaemonSet's controller, held on OnDelete, replaces from the new template.

// isDaemonSetRun reports whether st is a DaemonSet run.
func isDaemonSetRun(st upgrade.State) bool { return upgrade.KindOf(st.Spec) == upgrade.KindDaemonSet }

// componentPods watches the pods of a DaemonSet run's DaemonSet, so that a new pod
// becoming Ready wakes the driver at once. Nil for other runs.
func (c *Cache) watchComponent(ctx context.Context, st upgrade.State) (cache.SharedIndexInformer, error) {
	if !isDaemonSetRun(st) && !isDeploymentRun(st) {
		return nil, nil
	}
	cs := st.Spec.Component
	ls, err := componentSelector(ctx, c.client, st)
	if err != nil {
		return nil, err
	}
	sel, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil {
		return nil, fmt.Errorf("%s/%s: %w", cs.Namespace, cs.Name, err)
	}
	f := informers.NewSharedInformerFactoryWithOptions(c.client, 0, informers.WithNamespace(cs.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = sel.String() }))
	inf := f.Core().V1().Pods().Informer()
	if err := c.listen(inf, anyChange); err != nil {
		return nil, err
	}
	c.componentPods = f.Core().V1().Pods().Lister()
	if isDeploymentRun(st) {
		// Its status (updated and available replicas) wakes the driver too.
		if err := c.listen(f.Apps().V1().Deployments().Informer(), anyChange); err != nil {
			return nil, err
		}
	}
	f.Start(ctx.Done())
	return inf, nil
}

// observeDaemonSet is the observation of a DaemonSet run: the nodes the DaemonSet runs
// on (and the batch's, whose pods may be between old and new), each at the revision
// its Ready pod runs, and the node steps as Jobs.
func (c *Cache) observeDaemonSet(st upgrade.State, gatePods bool) (upgrade.Observation, error) {
	obs := upgrade.Observation{Jobs: map[string]upgrade.Job{}}
	pods, err := c.componentPods.Pods(st.Spec.Component.Namespace).List(labels.Everything())
	if err != nil {
		return obs, err
	}
	byNode := map[string][]podstep.Pod{}
	for _, p := range pods {
		if p.Spec.NodeName != "" && ownedBy(p, st.Spec.Component.Name) {
			byNode[p.Spec.NodeName] = append(byNode[p.Spec.NodeName], podstep.PodOf(p))
		}
	}
	var batch []string
	if st.Current != nil {
		batch = st.Current.Nodes
	}
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return obs, err
	}
	now := time.Now()
	for _, n := range nodes {
		ps, runs := byNode[n.Name]
		inBatch := slices.Contains(batch, n.Name)
		if !runs && !inBatch {
			continue // the DaemonSet does not run there
		}
		un := ToNode(n, st.Spec.PoolLabel)
		un.Version = podstep.Version(st.Spec, ps)
		obs.Nodes = append(obs.Nodes, un)
		if j, ok := podstep.Job(st.Spec, podstep.Step{Node: n.Name, InBatch: inBatch, Pods: ps}, now); ok {
			obs.Jobs[n.Name] = j
		}
	}
	if gate := upgrade.GateNodes(st, obs); gatePods && len(gate) > 0 {
		obs.Pods, err = DaemonPods(context.Background(), c.client, gate)
	}
	return obs, err
}

func ownedBy(p *corev1.Pod, ds string) bool {
	ref := metav1.GetControllerOf(p)
	return ref != nil && ref.Kind == "DaemonSet" && ref.Name == ds
}

// actDaemonSet performs the core's actions for a DaemonSet run.
func (r *Runner) actDaemonSet(ctx context.Context, st upgrade.State, cm *corev1.ConfigMap, acts []upgrade.Action) error {
	var events []upgrade.Action
	defer func() {
		for _, a := range events {
			r.Emit(ctx, st, cm, *a.Event)
		}
	}()
	for _, a := range acts {
		var err error
		switch a.Kind {
		case upgrade.CreateJobs:
			err = r.replacePods(ctx, st, a.Nodes)
		case upgrade.DeleteJobs:
			err = r.deleteFailedPods(ctx, st, a.Nodes)
		case upgrade.MarkSkipped:
			err = r.markPodsSkipped(ctx, st, a.Nodes)
		case upgrade.DeleteRun:
			err = r.deleteRun(ctx, st.RunID) // its Events; a DaemonSet run has no Jobs
		case upgrade.Emit:
			events = append(events, a)
		}
		// DeferJobs: nothing to do. The old pod of a node that went offline stays
		// marked for deletion, and its replacement comes when the node is back.
		// Drain and Uncordon: a DaemonSet run never drains.
		if err != nil {
			return err
		}
	}
	return nil
}

// nodePods are the DaemonSet's pods on node, from the cache.
func (r *Runner) nodePods(st upgrade.State, node string) []*corev1.Pod {
	pods, _ := r.cache.componentPods.Pods(st.Spec.Component.Namespace).List(labels.Everything())
	return slices.DeleteFunc(pods, func(p *corev1.Pod) bool { return p.Spec.NodeName != node || !ownedBy(p, st.Spec.Component.Name) })
}

// replacePods is the node step's start: delete the node's old pods (podstep.ToReplace).
func (r *Runner) replacePods(ctx context.Context, st upgrade.State, nodes []string) error {
	var deleted []string
	for _, n := range nodes {
		var ps []podstep.Pod
		for _, p := range r.nodePods(st, n) {
			ps = append(ps, podstep.PodOf(p))
		}
		for _, name := range podstep.ToReplace(st.Spec.Component.TargetHash, ps) {
			if err := r.deletePod(ctx, name); err != nil {
				return fmt.Errorf("replace the pod %s of node %q: %w", name, n, err)
			}
			deleted = append(deleted, name)
		}
	}
	// The next decision sees the pods going, not still to be replaced.
	r.cache.WaitFor(ctx, func() bool {
		for _, n := range nodes {
			for _, p := range r.nodePods(st, n) {
				if slices.Contains(deleted, p.Namespace+"/"+p.Name) && p.DeletionTimestamp == nil {
					return false
				}
			}
		}
		return true
	})
	return nil
}

func (r *Runner) deletePod(ctx context.Context, nsName string) error {
	ns, name := splitName(nsName)
	err := r.client.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func splitName(nsName string) (string, string) {
	for i := range nsName {
		if nsName[i] == '/' {
			return nsName[:i], nsName[i+1:]
		}
	}
	return "", nsName
}

// deleteFailedPods is a retry: the failed new pods of nodes are deleted and waited for,
// and the controller creates them again from the new template.
func (r *Runner) deleteFailedPods(ctx context.Context, st upgrade.State, nodes []string) error {
	var names []string
	for _, n := range nodes {
		for _, p := range r.nodePods(st, n) {
			if p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == st.Spec.Component.TargetHash {
				names = append(names, p.Namespace+"/"+p.Name)
				if err := r.deletePod(ctx, p.Namespace+"/"+p.Name); err != nil {
					return fmt.Errorf("delete the failed pod %s/%s of node %q: %w", p.Namespace, p.Name, n, err)
				}
			}
		}
	}
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		for _, nn := range names {
			ns, name := splitName(nn)
			if _, err := r.client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("the failed pods %v were not deleted within 2m (is the node's kubelet running?): %w", names, err)
	}
	return nil
}

// markPodsSkipped marks the failed new pods of nodes the operator skipped.
func (r *Runner) markPodsSkipped(ctx context.Context, st upgrade.State, nodes []string) error {
	patch := []byte(`{"metadata":{"annotations":{"` + job.AnnotationSkipped + `":"true"}}}`)
	for _, n := range nodes {
		for _, p := range r.nodePods(st, n) {
			if p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] != st.Spec.Component.TargetHash {
				continue
			}
			_, err := r.client.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.MergePatchType, patch, metav1.PatchOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("mark the pod %s/%s of node %q as skipped: %w", p.Namespace, p.Name, n, err)
			}
		}
	}
	return nil
}

// restoreComponent runs when a DaemonSet run ends. The DaemonSet gets its update
// strategy back; a cancelled run also gets its template back (the previous revision),
// so that the nodes not started keep their pods and no rolling update of the new
// template follows the cancel.
func (r *Runner) restoreComponent(ctx context.Context, st upgrade.State) {
	var err error
	switch {
	case isDaemonSetRun(st):
		err = RestoreDaemonSet(ctx, r.client, st)
	case isDeploymentRun(st):
		err = RestoreDeployment(ctx, r.client, st)
	}
	if err != nil && r.onEvent != nil {
		r.onEvent(upgrade.Event{Type: upgrade.Warning, Reason: "RestoreFailed", Message: err.Error()})
	}
}

// RestoreDaemonSet gives a DaemonSet run's DaemonSet its update strategy back, and after
// a cancel its previous template too. Idempotent: a later status or cancel repeats it.
func RestoreDaemonSet(ctx context.Context, cs kubernetes.Interface, st upgrade.State) error {
	c := st.Spec.Component
	patch := map[string]any{}
	if st.Phase != upgrade.PhaseCompleted && st.Phase != upgrade.PhaseIncomplete {
		tmpl, err := previousTemplate(ctx, cs, st)
		if err != nil {
			return err
		}
		patch = tmpl
	}
	spec, _ := patch["spec"].(map[string]any)
	if spec == nil {
		spec = map[string]any{}
		patch["spec"] = spec
	}
	var strategy any
	if err := json.Unmarshal([]byte(c.UpdateStrategy), &strategy); err != nil || c.UpdateStrategy == "" {
		strategy = map[string]any{"type": string(appsv1.RollingUpdateDaemonSetStrategyType)}
	}
	spec["updateStrategy"] = strategy
	body, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	_, err = cs.AppsV1().DaemonSets(c.Namespace).Patch(ctx, c.Name, types.StrategicMergePatchType, body, metav1.PatchOptions{})
	if err != nil {
		return fmt.Errorf("restore DaemonSet %s/%s after the run: %w; set its updateStrategy back by hand (%s)", c.Namespace, c.Name, err, c.UpdateStrategy)
	}
	return nil
}

// previousTemplate is the patch of the ControllerRevision the run started from (what
// `kubectl rollout undo` applies).
func previousTemplate(ctx context.Context, cs kubernetes.Interface, st upgrade.State) (map[string]any, error) {
	c := st.Spec.Component
	revs, err := cs.AppsV1().ControllerRevisions(c.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("read the revisions of DaemonSet %s/%s: %w", c.Namespace, c.Name, err)
	}
	for _, rev := range revs.Items {
		if rev.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] != c.FromHash || metav1.GetControllerOf(&rev) == nil || metav1.GetControllerOf(&rev).Name != c.Name {
			continue
		}
		var patch map[string]any
		if err := json.Unmarshal(rev.Data.Raw, &patch); err != nil {
			return nil, fmt.Errorf("revision %s of DaemonSet %s/%s: %w", rev.Name, c.Namespace, c.Name, err)
		}
		return patch, nil
	}
	return nil, fmt.Errorf("the previous revision (%s) of DaemonSet %s/%s is gone; its template cannot be restored", c.FromHash, c.Namespace, c.Name)
}
