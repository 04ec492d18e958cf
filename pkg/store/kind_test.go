package store

import (
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// A state written before runs had a kind is a Kubernetes run; a DaemonSet run keeps its
// kind and component through a round trip.
func TestRunKind(t *testing.T) {
	raw, err := os.ReadFile("testdata/state-v1.json")
	if err != nil {
		t.Fatal(err)
	}
	old, err := Decode(cmWith(map[string]string{KeySchema: "1", KeyState: string(raw)}))
	if err != nil || upgrade.KindOf(old.Spec) != upgrade.KindKubernetes {
		t.Fatalf("old state: kind %q, %v", old.Spec.Kind, err)
	}
	st := sample()
	st.Spec.Kind, st.Spec.FromVersion, st.Spec.TargetVersion = upgrade.KindDaemonSet, upgrade.RevisionVersion(1), upgrade.RevisionVersion(2)
	st.Spec.Component = upgrade.ComponentSpec{Namespace: "kube-system", Name: "kube-proxy", TargetHash: "7d4c9b8f6",
		Images: "kube-proxy=registry.k8s.io/kube-proxy:v1.35.5", UpdateStrategy: `{"type":"RollingUpdate"}`, PodTimeout: upgrade.Duration{Duration: time.Minute}}
	cm := cmWith(nil)
	if err := Encode(st, cm); err != nil {
		t.Fatal(err)
	}
	back, err := Decode(cm)
	if err != nil || !cmp.Equal(back, st) {
		t.Fatalf("round trip: %v %s", err, cmp.Diff(st, back))
	}
}
