package runner

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

func agentTemplate(image string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "agent"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "agent", Image: image}}}}
}

func revision(ds *appsv1.DaemonSet, num int64, hash string, tmpl corev1.PodTemplateSpec) *appsv1.ControllerRevision {
	raw, _ := json.Marshal(map[string]any{"spec": map[string]any{"template": tmpl}})
	return &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: "agent-" + hash, Namespace: ds.Namespace,
		Labels:          map[string]string{appsv1.DefaultDaemonSetUniqueLabelKey: hash},
		OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ds, appsv1.SchemeGroupVersion.WithKind("DaemonSet"))}},
		Revision: num, Data: runtime.RawExtension{Raw: raw}}
}

// A DaemonSet run is recorded before its DaemonSet is touched (the state keeps the old
// strategy and the new template); the switch, from the state alone, is what a driver
// does first, and again after a crash (idempotent); a cancelled run, switched or not,
// gets the strategy and the template back from the state.
func TestDaemonSetRunRecordedBeforeSwitch(t *testing.T) {
	ctx := context.Background()
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "kube-system", UID: "ds-uid"},
		Spec: appsv1.DaemonSetSpec{Template: agentTemplate("lab/agent:1"),
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType}}}
	// The controller's revisions: the current one, and the one it makes of the new template.
	cs := fake.NewSimpleClientset(ds, revision(ds, 1, "h1", agentTemplate("lab/agent:1")), revision(ds, 2, "h2", agentTemplate("lab/agent:2")))
	tmpl, _ := json.Marshal(agentTemplate("lab/agent:2"))
	strategy, _ := json.Marshal(ds.Spec.UpdateStrategy)
	sp := upgrade.Spec{Kind: upgrade.KindDaemonSet, FromVersion: "revision 1", TargetVersion: "revision 2",
		PauseExpiry: upgrade.Duration{Duration: time.Hour},
		Component: upgrade.ComponentSpec{Namespace: "kube-system", Name: "agent", FromHash: "h1", UpdateStrategy: string(strategy),
			NewTemplate: string(tmpl), PodTimeout: upgrade.Duration{Duration: time.Minute}}}
	st, err := upgrade.NewComponentState(sp, "r1", []upgrade.Node{{Name: "n1", Ready: true, Version: "revision 1"}}, time.Now())
	if err != nil {
		t.Fatalf("a run with its switch pending is refused: %v", err)
	}
	if !upgrade.SwitchPending(st) || upgrade.Validate(st) != nil {
		t.Fatalf("recorded run: pending %v, valid %v", upgrade.SwitchPending(st), upgrade.Validate(st))
	}
	// A crash here leaves the DaemonSet as it was, and the state knows how to restore it.
	cancelled := st.Clone()
	cancelled.Phase = upgrade.PhaseCancelled
	if upgrade.SwitchPending(cancelled) {
		t.Fatalf("a cancelled run is never switched")
	}

	switched, err := SwitchDaemonSet(ctx, cs, st.Spec)
	if err != nil {
		t.Fatal(err)
	}
	if switched.Component.TargetHash != "h2" || switched.TargetVersion != "revision 2" {
		t.Fatalf("switch recorded target %q %q, want h2, revision 2", switched.Component.TargetHash, switched.TargetVersion)
	}
	got, _ := cs.AppsV1().DaemonSets("kube-system").Get(ctx, "agent", metav1.GetOptions{})
	if got.Spec.UpdateStrategy.Type != appsv1.OnDeleteDaemonSetStrategyType || got.Spec.Template.Spec.Containers[0].Image != "lab/agent:2" {
		t.Fatalf("after the switch: strategy %s, image %s", got.Spec.UpdateStrategy.Type, got.Spec.Template.Spec.Containers[0].Image)
	}
	updates := func() int {
		n := 0
		for _, a := range cs.Actions() {
			if a.GetVerb() == "update" && a.GetResource().Resource == "daemonsets" {
				n++
			}
		}
		return n
	}
	before := updates()
	if again, err := SwitchDaemonSet(ctx, cs, st.Spec); err != nil || again.Component.TargetHash != "h2" || updates() != before {
		t.Fatalf("a second switch (a driver after a crash) is not idempotent: %v, %d updates", err, updates()-before)
	}

	cancelled.Spec = switched
	if err := RestoreDaemonSet(ctx, cs, cancelled); err != nil {
		t.Fatal(err)
	}
	got, _ = cs.AppsV1().DaemonSets("kube-system").Get(ctx, "agent", metav1.GetOptions{})
	if got.Spec.UpdateStrategy.Type != appsv1.RollingUpdateDaemonSetStrategyType || got.Spec.Template.Spec.Containers[0].Image != "lab/agent:1" {
		t.Fatalf("after cancel: strategy %s, image %s; want RollingUpdate and lab/agent:1 back", got.Spec.UpdateStrategy.Type, got.Spec.Template.Spec.Containers[0].Image)
	}
}
