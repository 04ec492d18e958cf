package store

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

func sample() upgrade.State {
	t := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	return upgrade.State{
		SchemaVersion: 1, RunID: "2611231000-abcd", Phase: upgrade.PhaseNodes, StartedAt: t,
		Spec: upgrade.Spec{TargetVersion: "v1.36.3", FromVersion: "v1.35.4", Mode: upgrade.ModeAll,
			JobTimeout: upgrade.Duration{Duration: 30 * time.Minute}, DrainTimeout: upgrade.Duration{Duration: 5 * time.Minute},
			PauseExpiry: upgrade.Duration{Duration: 360 * time.Hour}, PreprocessImage: "p", UpgradeImage: "u"},
		Workers: 60, Masters: 3, Cap: 6, Ramp: 4, Pool: "pool-a", Batches: 6, MasterSerial: 3,
		Current: &upgrade.Batch{Index: 6, Role: upgrade.RoleWorker, Pool: "pool-a", Nodes: []string{"edge-a-004", "edge-a-005"}, StartedAt: t, JobsCreated: true},
	}
}

func cmWith(data map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: Name, Namespace: job.Namespace}, Data: data}
}

// TestDecodeGolden: a newer plugin must read what an older one wrote (STYLE.md §9).
func TestDecodeGolden(t *testing.T) {
	raw, err := os.ReadFile("testdata/state-v1.json")
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(cmWith(map[string]string{KeySchema: "1", KeyState: string(raw)}))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sample(), got); diff != "" {
		t.Fatalf("decoded state differs (-want +got):\n%s", diff)
	}
	cm := cmWith(nil)
	if err := Encode(sample(), cm); err != nil {
		t.Fatal(err)
	}
	back, err := Decode(cm)
	if err != nil || !cmp.Equal(back, sample()) {
		t.Fatalf("round trip: %v %s", err, cmp.Diff(sample(), back))
	}
}

func TestDecodeRefusesCorruptState(t *testing.T) {
	good := cmWith(nil)
	_ = Encode(sample(), good)
	edit := func(f func(string) string) map[string]string {
		return map[string]string{KeySchema: "1", KeyState: f(good.Data[KeyState])}
	}
	for name, tc := range map[string]struct {
		data map[string]string
		want string
	}{
		"missing state":   {map[string]string{KeySchema: "1"}, "is missing"},
		"not json":        {map[string]string{KeySchema: "1", KeyState: "{"}, "cannot decode"},
		"schema not num":  {map[string]string{KeySchema: "x", KeyState: "{}"}, "is not a number"},
		"newer schema":    {map[string]string{KeySchema: "2", KeyState: "{}"}, "newer kubectl-edgeupgrade"},
		"unknown phase":   {edit(func(s string) string { return strings.Replace(s, `"phase":"Nodes"`, `"phase":"Dancing"`, 1) }), "unknown phase"},
		"batch above cap": {edit(func(s string) string { return strings.Replace(s, `"cap":6`, `"cap":1`, 1) }), "above the cap"},
		"unknown field":   {edit(func(s string) string { return strings.Replace(s, `{`, `{"bogus":1,`, 1) }), "unknown field"},
		"bad target":      {edit(func(s string) string { return strings.Replace(s, `"v1.36.3"`, `"latest"`, 1) }), "targetVersion"},
		"duplicate node":  {edit(func(s string) string { return strings.Replace(s, `"edge-a-005"`, `"edge-a-004"`, 1) }), "twice"},
	} {
		_, err := Decode(cmWith(tc.data))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: multi-line error", name)
		}
	}
}

func TestUpdateIsConditional(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewSimpleClientset()
	s := Store{Client: cs}
	cm, err := s.Create(ctx, nil, sample())
	if err != nil {
		t.Fatal(err)
	}
	cm.ResourceVersion = "1"
	_, _ = cs.CoreV1().ConfigMaps(job.Namespace).Update(ctx, cm, metav1.UpdateOptions{})
	stale := cm.DeepCopy()
	stale.ResourceVersion = "0"
	// The fake tracker does not check resourceVersion, so check that Update sends it.
	if _, err := s.Update(ctx, stale, sample()); err != nil && !apierrors.IsConflict(err) {
		t.Fatal(err)
	}
	got, _, err := s.Get(ctx)
	if err != nil || got.RunID != sample().RunID {
		t.Fatalf("get: %v", err)
	}
	if _, _, err := (Store{Client: fake.NewSimpleClientset()}).Get(ctx); !errors.Is(err, ErrNoRun) {
		t.Fatalf("no ConfigMap: %v", err)
	}
}

// TestSizeIsBoundedByTheBatch: the state keeps only the current batch's names, so
// its size does not grow with the node count (DESIGN.md §4: < 64 KiB at 10,000).
func TestSizeIsBoundedByTheBatch(t *testing.T) {
	st := sample()
	st.Workers, st.Cap = 10000, 1000
	st.Current.Nodes = nil
	for i := range 1000 {
		st.Current.Nodes = append(st.Current.Nodes, "edge-node-pool-"+strings.Repeat("x", 3)+"-"+itoa(i))
	}
	for i := range upgrade.MaxFailures {
		st.Failures = append(st.Failures, upgrade.Failure{Node: "n" + itoa(i), Message: strings.Repeat("m", 200)})
	}
	cm := cmWith(nil)
	if err := Encode(st, cm); err != nil {
		t.Fatal(err)
	}
	if n := len(cm.Data[KeyState]); n > 64*1024 {
		t.Fatalf("state at 10,000 nodes (batch of 1,000) is %d bytes", n)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
