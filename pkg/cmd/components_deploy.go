package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/runner"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// DefaultSettle is how long a Deployment's rollout must stay healthy before its run
// completes: the edge documents ask to wait about five minutes after each component.
const DefaultSettle = 5 * time.Minute

func kindName(sp upgrade.Spec) string {
	if sp.Kind == upgrade.KindDeployment {
		return "Deployment"
	}
	return "DaemonSet"
}

// runDeployment records the run, with the Deployment's current template (a cancel
// patches it back) and the new one, and starts it. The Deployment is not touched
// here: the run's first reconcile sets the new template and records the revision its
// controller made of it (runner.SwitchDeployment), so that no crash leaves a rolled
// Deployment with no run that knows its previous template.
func (o *ComponentUpgradeOptions) runDeployment(ctx context.Context, prev upgrade.State, prevCM *corev1.ConfigMap) error {
	d, err := o.client.AppsV1().Deployments(o.Namespace).Get(ctx, o.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("read Deployment %s/%s: %w", o.Namespace, o.Name, err)
	}
	fromRev, fromHash, err := runner.DeploymentRevision(ctx, o.client, d)
	if err != nil {
		return err
	}
	if fromHash == "" {
		return fmt.Errorf("no ReplicaSet of the current revision of Deployment %s/%s yet (is kube-controller-manager running?); retry when it has one", d.Namespace, d.Name)
	}
	next := d.DeepCopy()
	if err := o.newTemplate(d.Namespace, d.Name, &next.Spec.Template); err != nil {
		return err
	}
	if apiequality.Semantic.DeepEqual(next.Spec.Template, d.Spec.Template) {
		_, err := fmt.Fprintf(o.streams.Out, "Deployment %s/%s already has this template (%s): %s\n", d.Namespace, d.Name,
			upgrade.RevisionVersion(fromRev), upgrade.ErrNothingToDo)
		return err
	}
	saved, err := json.Marshal(d.Spec.Template)
	if err != nil {
		return err
	}
	tmpl, err := json.Marshal(next.Spec.Template)
	if err != nil {
		return err
	}
	sp := upgrade.Spec{
		Kind: upgrade.KindDeployment, Mode: upgrade.ModeAll, PauseExpiry: upgrade.Duration{Duration: o.PauseExpiry},
		FromVersion: upgrade.RevisionVersion(fromRev),
		// The controller numbers the new template's ReplicaSet next (reusing an equal
		// older one renumbers it too); the switch records the revision it made.
		TargetVersion: upgrade.RevisionVersion(fromRev + 1),
		Component: upgrade.ComponentSpec{Namespace: d.Namespace, Name: d.Name, FromHash: fromHash, Template: string(saved),
			NewTemplate: string(tmpl), Images: strings.Join(containerImages(next.Spec.Template.Spec.Containers), ", "),
			PodTimeout: upgrade.Duration{Duration: o.PodTimeout}, Settle: upgrade.Duration{Duration: o.Settle}},
	}
	pseudo := upgrade.Node{Name: "deployment/" + d.Name, Role: upgrade.RoleWorker, Ready: true, Version: sp.FromVersion}
	first, err := upgrade.NewComponentState(sp, runner.NewRunID(o.now()), []upgrade.Node{pseudo}, o.now().UTC())
	if err != nil {
		return err
	}
	return o.begin(ctx, prev, prevCM, first)
}
