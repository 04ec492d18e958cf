package runner

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

func replicaSet(d *appsv1.Deployment, rev, hash string) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: d.Name + "-" + hash, Namespace: d.Namespace,
		Labels:          map[string]string{appsv1.DefaultDeploymentUniqueLabelKey: hash},
		Annotations:     map[string]string{revisionAnnotation: rev},
		OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(d, appsv1.SchemeGroupVersion.WithKind("Deployment"))}}}
}

// deploymentLab is a Deployment at revision 1 whose fake controller numbers the next
// template revision 2 (its ReplicaSet, hash h2, is there already).
func deploymentLab() (*fake.Clientset, upgrade.State) {
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "kube-system", UID: "d-uid",
		Annotations: map[string]string{revisionAnnotation: "1"}},
		Spec: appsv1.DeploymentSpec{Template: agentTemplate("lab/agent:1")}}
	cs := fake.NewSimpleClientset(d, replicaSet(d, "1", "h1"), replicaSet(d, "2", "h2"))
	cs.PrependReactor("update", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
		a.(k8stesting.UpdateAction).GetObject().(*appsv1.Deployment).Annotations[revisionAnnotation] = "2"
		return false, nil, nil // the tracker stores it
	})
	saved, _ := json.Marshal(d.Spec.Template)
	tmpl, _ := json.Marshal(agentTemplate("lab/agent:2"))
	sp := upgrade.Spec{Kind: upgrade.KindDeployment, FromVersion: "revision 1", TargetVersion: "revision 2",
		PauseExpiry: upgrade.Duration{Duration: time.Hour},
		Component: upgrade.ComponentSpec{Namespace: "kube-system", Name: "agent", FromHash: "h1", Template: string(saved),
			NewTemplate: string(tmpl), PodTimeout: upgrade.Duration{Duration: time.Minute}}}
	st, _ := upgrade.NewComponentState(sp, "r1", []upgrade.Node{{Name: "deployment/agent", Ready: true, Version: "revision 1"}}, time.Now())
	return cs, st
}

func deploymentWrites(cs *fake.Clientset) int {
	n := 0
	for _, a := range cs.Actions() {
		if (a.GetVerb() == "update" || a.GetVerb() == "patch") && a.GetResource().Resource == "deployments" {
			n++
		}
	}
	return n
}

func deploymentImage(t *testing.T, cs *fake.Clientset) string {
	t.Helper()
	d, err := cs.AppsV1().Deployments("kube-system").Get(context.Background(), "agent", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d.Spec.Template.Spec.Containers[0].Image
}

// A Deployment run is recorded before its Deployment is touched (the state keeps the
// old and the new template); the switch, from the state alone, is what a driver does
// first, and again after a crash (idempotent: one update); a cancel after the switch
// patches the old template back.
func TestDeploymentRunRecordedBeforeSwitch(t *testing.T) {
	ctx := context.Background()
	cs, st := deploymentLab()
	if !upgrade.SwitchPending(st) || upgrade.Validate(st) != nil {
		t.Fatalf("recorded run: pending %v, valid %v", upgrade.SwitchPending(st), upgrade.Validate(st))
	}
	if deploymentWrites(cs) != 0 || deploymentImage(t, cs) != "lab/agent:1" {
		t.Fatalf("recording the run touched the Deployment")
	}
	switched, err := SwitchDeployment(ctx, cs, st.Spec)
	if err != nil {
		t.Fatal(err)
	}
	if switched.Component.TargetHash != "h2" || switched.TargetVersion != "revision 2" {
		t.Fatalf("switch recorded target %q %q, want h2, revision 2", switched.Component.TargetHash, switched.TargetVersion)
	}
	if img := deploymentImage(t, cs); img != "lab/agent:2" || deploymentWrites(cs) != 1 {
		t.Fatalf("after the switch: image %s, %d writes; want lab/agent:2, 1", img, deploymentWrites(cs))
	}
	if again, err := SwitchDeployment(ctx, cs, st.Spec); err != nil || again.Component.TargetHash != "h2" || deploymentWrites(cs) != 1 {
		t.Fatalf("a second switch (a driver after a crash) is not idempotent: %v, %d writes", err, deploymentWrites(cs))
	}
	next := st.Clone()
	next.Spec = switched
	if upgrade.SwitchPending(next) || upgrade.Validate(next) != nil {
		t.Fatalf("switched run: pending %v, valid %v", upgrade.SwitchPending(next), upgrade.Validate(next))
	}
	next.Phase = upgrade.PhaseCancelled
	if err := RestoreDeployment(ctx, cs, next); err != nil {
		t.Fatal(err)
	}
	if img := deploymentImage(t, cs); img != "lab/agent:1" {
		t.Fatalf("after cancel: image %s; want lab/agent:1 back", img)
	}
}

// A run cancelled before its switch ends cleanly and leaves its Deployment alone; one
// whose cancel raced the switch (the Deployment holds the new template, the state no
// target yet) still gets the old template back.
func TestDeploymentRunCancelledBeforeSwitch(t *testing.T) {
	ctx := context.Background()
	cs, st := deploymentLab()
	cancelled := st.Clone()
	now := time.Now()
	cancelled.Phase, cancelled.FinishedAt, cancelled.EndReason = upgrade.PhaseCancelled, &now, "cancelled by user"
	if upgrade.SwitchPending(cancelled) || upgrade.Validate(cancelled) != nil {
		t.Fatalf("cancelled before the switch: pending %v (a cancelled run is never switched), valid %v",
			upgrade.SwitchPending(cancelled), upgrade.Validate(cancelled))
	}
	if err := RestoreDeployment(ctx, cs, cancelled); err != nil {
		t.Fatal(err)
	}
	if deploymentWrites(cs) != 0 || deploymentImage(t, cs) != "lab/agent:1" {
		t.Fatalf("a cancel before the switch wrote the Deployment (%d writes)", deploymentWrites(cs))
	}

	if _, err := SwitchDeployment(ctx, cs, st.Spec); err != nil { // switched, not yet recorded
		t.Fatal(err)
	}
	if err := RestoreDeployment(ctx, cs, cancelled); err != nil {
		t.Fatal(err)
	}
	if img := deploymentImage(t, cs); img != "lab/agent:1" {
		t.Fatalf("a cancel racing the switch left image %s; want lab/agent:1 back", img)
	}
}
