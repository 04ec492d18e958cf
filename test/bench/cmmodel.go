package main

import (
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/store"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// cmModelRow is the encoded size (bytes of ConfigMap data, as store.Encode writes it)
// of the largest state a run over `Workers` workers in one pool can have: the batch
// in flight holds Cap = 10% of the workers.
type cmModelRow struct {
	Workers, Cap        int
	Lab, Name40, Name63 int // clean run: no failures
	Worst40             int // 40-byte names, every node of the batch failed, MaxFailures long messages, paused
}

var cmModelSizes = []int{100, 500, 1000, 2000, 3000, 5000, 7500, 10000}

func cmModel() ([]cmModelRow, error) {
	var out []cmModelRow
	for _, w := range cmModelSizes {
		r := cmModelRow{Workers: w, Cap: upgrade.CapFor(w, 0)}
		var err error
		labName := func(i int) string { return fmt.Sprintf("edge-a-%03d", w-r.Cap+i+1) }
		if r.Lab, err = stateBytes(w, labName, false); err != nil {
			return nil, err
		}
		if r.Name40, err = stateBytes(w, fixedName(40), false); err != nil {
			return nil, err
		}
		if r.Name63, err = stateBytes(w, fixedName(63), false); err != nil {
			return nil, err
		}
		if r.Worst40, err = stateBytes(w, fixedName(40), true); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// fixedName returns names of exactly n bytes, like FQDN node names
// ("ip-10-1-2-3.cn-hangzhou.compute.internal" is 40).
func fixedName(n int) func(int) string {
	return func(i int) string {
		s := fmt.Sprintf("edge-%05d.", i)
		return s + strings.Repeat("x", n-len(s))
	}
}

func stateBytes(workers int, name func(int) string, worst bool) (int, error) {
	t := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	cp := upgrade.CapFor(workers, 0)
	st := upgrade.State{
		SchemaVersion: upgrade.SchemaVersion, RunID: "2611231000-abcd", Phase: upgrade.PhaseNodes, StartedAt: t,
		Spec: upgrade.Spec{TargetVersion: "v1.36.3", FromVersion: "v1.35.4", Mode: upgrade.ModeAll,
			JobTimeout: upgrade.Duration{Duration: 30 * time.Minute}, DrainTimeout: upgrade.Duration{Duration: 5 * time.Minute},
			PauseExpiry:     upgrade.Duration{Duration: 360 * time.Hour},
			PreprocessImage: "registry.invalid/edgeupgrade/node-preprocess:bench", UpgradeImage: "registry.invalid/edgeupgrade/upgrade:bench"},
		Workers: workers, Masters: 3, Cap: cp, Ramp: cp, Pool: "pool-a", Batches: 20, MasterSerial: 3,
		Current: &upgrade.Batch{Index: 20, Role: upgrade.RoleWorker, Pool: "pool-a", StartedAt: t, JobsCreated: true},
	}
	for i := range cp {
		st.Current.Nodes = append(st.Current.Nodes, name(i))
	}
	if worst {
		msg := strings.Repeat("m", 512) + "..."
		st.Current.Failed = append([]string(nil), st.Current.Nodes...)
		for i := range upgrade.MaxFailures {
			st.Failures = append(st.Failures, upgrade.Failure{Node: name(i), Batch: "20", Container: "upgrade",
				Reason: "BackoffLimitExceeded", Message: msg, At: t})
		}
		st.FailureCount = cp
		st.Pause = &upgrade.Pause{Reason: "node " + name(0) + " failed in container upgrade: " + msg, Since: t, ByError: true}
	}
	cm := &corev1.ConfigMap{}
	if err := store.Encode(st, cm); err != nil {
		return 0, err
	}
	return dataBytes(cm), nil
}

// dataBytes is the size of a ConfigMap's data and binaryData as stored (binaryData is
// base64 in the API server's JSON).
func dataBytes(cm *corev1.ConfigMap) int {
	n := 0
	for k, v := range cm.Data {
		n += len(k) + len(v)
	}
	for k, v := range cm.BinaryData {
		n += len(k) + base64.StdEncoding.EncodedLen(len(v))
	}
	return n
}
