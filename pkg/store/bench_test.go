package store

// Benchmarks of the state encoding (docs/bench.md):
//
//	go test -run '^$' -bench . -benchmem ./pkg/store/
//
// The state of a 10,000-worker run is at its largest while a batch of Cap (1,000)
// nodes is in flight and the failure list is full; its size is reported as a metric.

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// largestState is a 10,000-worker run with a full batch of names of nameLen bytes,
// failed nodes in it, and MaxFailures failures with 512-byte messages (the longest
// message runner keeps).
func largestState(nameLen, failedInBatch int) upgrade.State {
	t := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	name := func(i int) string {
		s := fmt.Sprintf("edge-%05d", i)
		if len(s) < nameLen {
			s += "." + strings.Repeat("x", nameLen-len(s)-1)
		}
		return s
	}
	st := upgrade.State{
		SchemaVersion: upgrade.SchemaVersion, RunID: "2611231000-abcd", Phase: upgrade.PhaseNodes, StartedAt: t,
		Spec: upgrade.Spec{TargetVersion: "v1.36.3", FromVersion: "v1.35.4", Mode: upgrade.ModeAll,
			JobTimeout: upgrade.Duration{Duration: 30 * time.Minute}, DrainTimeout: upgrade.Duration{Duration: 5 * time.Minute},
			PauseExpiry: upgrade.Duration{Duration: 360 * time.Hour}, PreprocessImage: "registry.example.com/edgeupgrade/node-preprocess:v1.36.3",
			UpgradeImage: "registry.example.com/edgeupgrade/upgrade:v1.36.3"},
		Workers: 10000, Masters: 3, Cap: 1000, Ramp: 1000, Pool: "pool-a", Batches: 14, MasterSerial: 3,
		Current: &upgrade.Batch{Index: 14, Role: upgrade.RoleWorker, Pool: "pool-a", StartedAt: t, JobsCreated: true},
	}
	for i := range 1000 {
		st.Current.Nodes = append(st.Current.Nodes, name(i))
	}
	st.Current.Failed = append(st.Current.Failed, st.Current.Nodes[:failedInBatch]...)
	for i := range upgrade.MaxFailures {
		st.Failures = append(st.Failures, upgrade.Failure{Node: name(i), Batch: "14", Container: "upgrade",
			Reason: "BackoffLimitExceeded", Message: strings.Repeat("m", 512) + "...", At: t})
	}
	st.FailureCount = len(st.Failures)
	return st
}

func benchCM() *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: Name, Namespace: job.Namespace}}
}

func BenchmarkEncode(b *testing.B) {
	for _, tc := range []struct{ nameLen, failed int }{{11, 0}, {11, 20}, {40, 20}, {63, 20}} {
		b.Run(fmt.Sprintf("nodes=10000/batch=1000/name=%d/failedInBatch=%d", tc.nameLen, tc.failed), func(b *testing.B) {
			st := largestState(tc.nameLen, tc.failed)
			cm := benchCM()
			b.ReportAllocs()
			for b.Loop() {
				if err := Encode(st, cm); err != nil {
					b.Fatal(err)
				}
			}
			// As stored: binaryData is base64 in the API server.
			stored := len(cm.Data[KeyState]) + len(cm.Data[KeySchema]) + base64.StdEncoding.EncodedLen(len(cm.BinaryData[KeyStateGzip]))
			b.ReportMetric(float64(stored), "stored-bytes")
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, tc := range []struct{ nameLen, failed int }{{11, 0}, {40, 20}} {
		b.Run(fmt.Sprintf("nodes=10000/batch=1000/name=%d/failedInBatch=%d", tc.nameLen, tc.failed), func(b *testing.B) {
			cm := benchCM()
			if err := Encode(largestState(tc.nameLen, tc.failed), cm); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(cm.Data[KeyState])))
			for b.Loop() {
				if _, err := Decode(cm); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
