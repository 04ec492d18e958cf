package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/components/podstep"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/components/rollout"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// A Deployment run (upgrade.KindDeployment) is decided by rollout.Step, not by the
// node core: the Deployment controller rolls the template the run set, and the run
// verifies the rollout's health. This file is its adapter. Its observation, for the
// status view, is one pseudo-node "deployment/NAME", at the target once the rollout
// is complete.

func isDeploymentRun(st upgrade.State) bool { return upgrade.KindOf(st.Spec) == upgrade.KindDeployment }

// componentSelector is the label selector of a component run's workload.
func componentSelector(ctx context.Context, cs kubernetes.Interface, st upgrade.State) (*metav1.LabelSelector, error) {
	c := st.Spec.Component
	if isDeploymentRun(st) {
		d, err := cs.AppsV1().Deployments(c.Namespace).Get(ctx, c.Name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("read Deployment %s/%s of the run: %w", c.Namespace, c.Name, err)
		}
		return d.Spec.Selector, nil
	}
	ds, err := cs.AppsV1().DaemonSets(c.Namespace).Get(ctx, c.Name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("read DaemonSet %s/%s of the run: %w", c.Namespace, c.Name, err)
	}
	return ds.Spec.Selector, nil
}

// observeDeployment reads a Deployment run: the Deployment's status from the API
// server, its pods and the nodes from the cache.
func (c *Cache) observeDeployment(ctx context.Context, st upgrade.State) (upgrade.Observation, rollout.Observation, error) {
	cs := st.Spec.Component
	var ro rollout.Observation
	d, err := c.client.AppsV1().Deployments(cs.Namespace).Get(ctx, cs.Name, metav1.GetOptions{})
	if err != nil {
		return upgrade.Observation{}, ro, fmt.Errorf("read Deployment %s/%s of the run: %w", cs.Namespace, cs.Name, err)
	}
	ro = rollout.Observation{Generation: d.Generation, ObservedGeneration: d.Status.ObservedGeneration, Desired: 1,
		Replicas: d.Status.Replicas, Updated: d.Status.UpdatedReplicas, Available: d.Status.AvailableReplicas}
	if d.Spec.Replicas != nil {
		ro.Desired = *d.Spec.Replicas
	}
	pods, err := c.componentPods.Pods(cs.Namespace).List(labels.Everything())
	if err != nil {
		return upgrade.Observation{}, ro, err
	}
	for _, p := range pods {
		if ref := metav1.GetControllerOf(p); ref != nil && ref.Kind == "ReplicaSet" {
			pp := podstep.PodOf(p)
			pp.Hash = p.Labels[appsv1.DefaultDeploymentUniqueLabelKey]
			ro.Pods = append(ro.Pods, pp)
		}
	}
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return upgrade.Observation{}, ro, err
	}
	for _, n := range nodes {
		if !ToNode(n, "").Ready {
			ro.NotReadyNodes = append(ro.NotReadyNodes, n.Name)
		}
	}
	pseudo := upgrade.Node{Name: "deployment/" + cs.Name, Role: upgrade.RoleWorker, Ready: true, Version: st.Spec.FromVersion}
	if st.Phase == upgrade.PhaseCompleted || (st.Current != nil && rollout.Check(st.Spec, ro, st.Current.StartedAt, time.Now()).Complete) {
		pseudo.Version = st.Spec.TargetVersion
	}
	return upgrade.Observation{Nodes: []upgrade.Node{pseudo}, Jobs: map[string]upgrade.Job{}}, ro, nil
}

// stepDeployment observes and decides a Deployment run.
func (r *Runner) stepDeployment(ctx context.Context, st upgrade.State, in upgrade.Input) (upgrade.State, upgrade.Observation, []upgrade.Action, error, error) {
	obs, ro, err := r.cache.observeDeployment(ctx, st)
	if err != nil {
		return st, obs, nil, nil, err
	}
	next, acts, verdict := rollout.Step(st, ro, in, r.now())
	return next, obs, acts, verdict, nil
}

// RestoreDeployment puts back the pod template a cancelled Deployment run saved in its
// state (a JSON patch replacing the whole template, so that nothing of the new one
// stays); the Deployment controller then rolls it out. Idempotent. A run cancelled
// before its switch restores nothing: its Deployment was never touched.
func RestoreDeployment(ctx context.Context, cs kubernetes.Interface, st upgrade.State) error {
	c := st.Spec.Component
	if st.Phase != upgrade.PhaseCancelled || c.Template == "" {
		return nil
	}
	if switched, err := deploymentSwitched(ctx, cs, st.Spec); err != nil || !switched {
		return err
	}
	patch := []map[string]any{{"op": "replace", "path": "/spec/template", "value": json.RawMessage(c.Template)}}
	body, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	if _, err := cs.AppsV1().Deployments(c.Namespace).Patch(ctx, c.Name, types.JSONPatchType, body, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("roll Deployment %s/%s back to its template of %s: %w; use kubectl rollout undo deployment/%s -n %s",
			c.Namespace, c.Name, st.Spec.FromVersion, err, c.Name, c.Namespace)
	}
	return nil
}

// deploymentSwitched reports whether the run may have set its template: its switch is
// recorded, or (a cancel racing the switch) the Deployment holds the run's new template.
func deploymentSwitched(ctx context.Context, cs kubernetes.Interface, sp upgrade.Spec) (bool, error) {
	c := sp.Component
	if c.TargetHash != "" || c.NewTemplate == "" {
		return true, nil
	}
	var tmpl corev1.PodTemplateSpec
	if err := json.Unmarshal([]byte(c.NewTemplate), &tmpl); err != nil {
		return false, fmt.Errorf("the run's new template of Deployment %s/%s: %w", c.Namespace, c.Name, err)
	}
	d, err := cs.AppsV1().Deployments(c.Namespace).Get(ctx, c.Name, metav1.GetOptions{})
	if err != nil {
		return false, fmt.Errorf("read Deployment %s/%s of the run: %w", c.Namespace, c.Name, err)
	}
	return apiequality.Semantic.DeepEqual(d.Spec.Template, tmpl), nil
}
