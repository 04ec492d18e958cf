package store

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
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

// TestDecodeGolden: a newer plugin must read what an older one wrote (docs/design.md §4: the schema is versioned).
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
// its size does not grow with the node count (docs/design.md §4: < 64 KiB at 10,000).
// worstCase is the largest state a run at 10,000 workers can hold: a batch of Cap =
// 1,000 nodes with 63-byte names (the DNS label limit, random hex so they compress
// no better than real site names), the whole batch failed, MaxFailures failures and a
// pause reason at the message bound.
func worstCase() upgrade.State {
	st := sample()
	st.Workers, st.Cap = 10000, 1000
	rng := rand.New(rand.NewPCG(1, 2))
	st.Current.Nodes = nil
	for i := range 1000 {
		name := fmt.Sprintf("edge-site-%04d-%016x-%016x.region-eu.example", i, rng.Uint64(), rng.Uint64())
		st.Current.Nodes = append(st.Current.Nodes, name[:63])
	}
	st.Current.Failed = slices.Clone(st.Current.Nodes)
	msg := strings.Repeat("upgrade: kubeadm upgrade node failed: [ERROR SystemVerification] ", 20)[:upgrade.MaxMessage]
	for i := range upgrade.MaxFailures {
		st.Failures = append(st.Failures, upgrade.Failure{Node: st.Current.Nodes[i], Batch: "14", Container: "upgrade", Message: msg, At: st.StartedAt})
	}
	st.FailureCount = 1000
	st.Pause = &upgrade.Pause{Reason: "node " + st.Current.Nodes[0] + " failed in container upgrade: " + msg, Since: st.StartedAt, ByError: true}
	// The batch history at its bound, each record with a 63-byte pool name and its
	// own times (hundreds of small pools).
	st.HistoryKept = true
	for i := range upgrade.MaxHistory {
		at := st.StartedAt.Add(time.Duration(i) * 97 * time.Second)
		pool := fmt.Sprintf("edge-pool-%04d-%016x-%016x.region-eu.example", i, rng.Uint64(), rng.Uint64())[:63]
		st.History = append(st.History, upgrade.BatchRecord{Index: fmt.Sprint(i + 1), Pool: pool, StartedAt: at, FinishedAt: at.Add(61 * time.Second)})
	}
	return st
}

// objectBytes is the ConfigMap's size as the API server stores it (JSON; binaryData
// is base64 there).
func objectBytes(t *testing.T, cm *corev1.ConfigMap) int {
	b, err := json.Marshal(cm)
	if err != nil {
		t.Fatal(err)
	}
	return len(b)
}

// worstOffline is the other worst case: the whole 1,000-node batch offline during its
// upgrade, within the grace (a node's offline mark gives way to its failure), with
// the lists of skipped and left-behind nodes full.
func worstOffline() upgrade.State {
	st := worstCase()
	st.Current.Failed = nil
	for i, n := range st.Current.Nodes {
		st.Current.Offline = append(st.Current.Offline, upgrade.OfflineMark{Node: n, Since: st.StartedAt.Add(time.Duration(i) * time.Second)})
	}
	for i := range upgrade.MaxFailures {
		st.Skipped = append(st.Skipped, st.Current.Nodes[i])
		st.LeftBehind = append(st.LeftBehind, upgrade.LeftNode{Node: st.Current.Nodes[i], Reason: upgrade.LeftSkipped})
	}
	st.SkippedCount, st.LeftBehindCount = 1000, 1000
	return st
}

// TestSizeAtTenThousandNodes: docs/design.md §4, < 64 KiB at 10,000 nodes, in the worst cases.
func TestSizeAtTenThousandNodes(t *testing.T) {
	t.Run("failed", func(t *testing.T) { checkSize(t, worstCase()) })
	t.Run("offline", func(t *testing.T) { checkSize(t, worstOffline()) })
}

func checkSize(t *testing.T, st upgrade.State) {
	cm := cmWith(nil)
	if err := Encode(st, cm); err != nil {
		t.Fatal(err)
	}
	plain, _ := json.Marshal(st)
	size := objectBytes(t, cm)
	t.Logf("worst case at 10,000 nodes: state %d bytes of JSON, ConfigMap %d bytes", len(plain), size)
	if size > 64*1024 {
		t.Fatalf("ConfigMap is %d bytes at 10,000 nodes, want < 64 KiB", size)
	}
	if _, ok := cm.Data[KeyState]; ok || len(cm.BinaryData[KeyStateGzip]) == 0 {
		t.Fatalf("a %d-byte state was not compressed: keys %v %v", len(plain), cm.Data, cm.BinaryData)
	}
	back, err := Decode(cm)
	if err != nil || !cmp.Equal(back, st) {
		t.Fatalf("round trip of the compressed state: %v %s", err, cmp.Diff(st, back))
	}
}

// TestEncodingSwitchesCleanly: a state that shrinks again is written readable, and
// the other key never lingers (both keys set is corrupt).
func TestEncodingSwitchesCleanly(t *testing.T) {
	cm := cmWith(nil)
	for _, tc := range []struct {
		st     upgrade.State
		packed bool
	}{{sample(), false}, {worstCase(), true}, {sample(), false}} {
		if err := Encode(tc.st, cm); err != nil {
			t.Fatal(err)
		}
		_, plain := cm.Data[KeyState]
		_, packed := cm.BinaryData[KeyStateGzip]
		if plain == packed || packed != tc.packed {
			t.Fatalf("want packed=%v, got state.json=%v state.json.gz=%v", tc.packed, plain, packed)
		}
		if back, err := Decode(cm); err != nil || !cmp.Equal(back, tc.st) {
			t.Fatalf("round trip: %v", err)
		}
	}
}

func TestDecodeRefusesCorruptCompressedState(t *testing.T) {
	packed := cmWith(nil)
	_ = Encode(worstCase(), packed)
	var bomb bytes.Buffer
	w := gzip.NewWriter(&bomb)
	_, _ = w.Write(bytes.Repeat([]byte(" "), maxStateBytes+10))
	_ = w.Close()
	for name, tc := range map[string]struct {
		edit func(cm *corev1.ConfigMap)
		want string
	}{
		"both keys":   {func(cm *corev1.ConfigMap) { cm.Data[KeyState] = "{}" }, "both"},
		"not gzip":    {func(cm *corev1.ConfigMap) { cm.BinaryData[KeyStateGzip] = []byte("{}") }, "cannot decompress"},
		"truncated":   {func(cm *corev1.ConfigMap) { cm.BinaryData[KeyStateGzip] = cm.BinaryData[KeyStateGzip][:100] }, "cannot decompress"},
		"gzip bomb":   {func(cm *corev1.ConfigMap) { cm.BinaryData[KeyStateGzip] = bomb.Bytes() }, "more than"},
		"no state at": {func(cm *corev1.ConfigMap) { delete(cm.BinaryData, KeyStateGzip) }, "is missing"},
	} {
		cm := packed.DeepCopy()
		tc.edit(cm)
		_, err := Decode(cm)
		var ce *CorruptError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v, want a one-line CorruptError with %q", name, err, tc.want)
		}
	}
}
