package runner

import (
	"context"
	"errors"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/store"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// TestSessionBeginOpenApply: Open refuses without a run; Begin creates the namespace
// and records the run; a session opened later loads that run and saves what Apply decides.
func TestSessionBeginOpenApply(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewSimpleClientset(node("master-1", true), node("edge-01", false))
	clock := func() time.Time { return now }
	if _, err := Open(ctx, cs, SessionOptions{Now: clock}); !errors.Is(err, store.ErrNoRun) {
		t.Fatalf("Open without a run: err = %v, want store.ErrNoRun", err)
	}
	sp := upgrade.Spec{TargetVersion: "v1.36.3", Mode: upgrade.ModeAll, JobTimeout: upgrade.Duration{Duration: time.Minute},
		DrainTimeout: upgrade.Duration{Duration: time.Minute}, PauseExpiry: upgrade.Duration{Duration: time.Hour},
		PreprocessImage: "pre", UpgradeImage: "up"}
	cluster, err := ObserveCluster(ctx, cs, sp)
	if err != nil {
		t.Fatal(err)
	}
	if len(cluster.Nodes) != 2 {
		t.Fatalf("ObserveCluster: %d nodes, want 2", len(cluster.Nodes))
	}
	cluster.APIServerVersion = "v1.35.4" // the fake discovery reports none
	first, err := upgrade.NewState(sp, "run1", cluster, now)
	if err != nil {
		t.Fatal(err)
	}
	s, cm, err := Begin(ctx, cs, nil, "", first, SessionOptions{Now: clock})
	if err != nil || cm == nil {
		t.Fatalf("Begin: cm = %v, err = %v", cm, err)
	}
	s.Close()
	if _, err := cs.CoreV1().Namespaces().Get(ctx, job.Namespace, metav1.GetOptions{}); err != nil {
		t.Errorf("Begin did not create the namespace: %v", err)
	}
	s, err = Open(ctx, cs, SessionOptions{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.State().RunID != "run1" {
		t.Fatalf("Open loaded run %q, want run1", s.State().RunID)
	}
	if _, _, err := s.Apply(ctx, upgrade.RequestPause{Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	st, _, err := store.Store{Client: cs}.Get(ctx)
	if err != nil || st.Pause == nil || st.Pause.Reason != "test" {
		t.Errorf("saved pause = %+v (%v), want reason test", st.Pause, err)
	}
}
