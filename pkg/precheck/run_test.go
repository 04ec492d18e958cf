package precheck_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stesting "k8s.io/client-go/testing"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/precheck"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/precheck/prechecktest"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/store"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

func failed(r *precheck.Report) map[string]precheck.Severity {
	out := map[string]precheck.Severity{}
	for _, res := range r.Results {
		if res.Result == precheck.Failed {
			out[res.ID] = res.Severity
		}
	}
	return out
}

func TestRunHealthyClusterIsNormal(t *testing.T) {
	c := prechecktest.NewCluster("v1.35.2", prechecktest.Healthy()...)
	r, err := precheck.Run(context.Background(), c.Clients(), precheck.Options{TargetVersion: "v1.36.1"})
	if err != nil {
		t.Fatal(err)
	}
	if got := failed(r); len(got) != 0 {
		for _, res := range r.Results {
			if res.Result == precheck.Failed {
				t.Logf("%s: %+v", res.ID, res.Findings)
			}
		}
		t.Fatalf("failed checks on a healthy cluster: %v", got)
	}
	if r.Summary() != "normal" || r.Err() != nil {
		t.Errorf("summary %q, err %v", r.Summary(), r.Err())
	}
	for _, res := range r.Results {
		if res.Result == precheck.Skipped && res.ID[:5] != "host-" && res.ID != "node-count-changed" {
			t.Errorf("%s skipped: %s", res.ID, res.Reason)
		}
	}
}

func TestRunFindsPlantedProblems(t *testing.T) {
	objs := append(prechecktest.Planted(), prechecktest.FailedUpgradePod("edge-2"))
	c := prechecktest.NewCluster("v1.35.2", objs...)
	r, err := precheck.Run(context.Background(), c.Clients(), precheck.Options{TargetVersion: "v1.36.1"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]precheck.Severity{
		"removed-api-last-applied":   precheck.SeverityError,
		"removed-api-managed-fields": precheck.SeverityError,
		"removed-api-helm":           precheck.SeverityError,
		"webhook-no-endpoints":       precheck.SeverityError,
		"webhook-critical-fail":      precheck.SeverityWarning,
		"pdb-zero-disruption":        precheck.SeverityWarning,
		"node-not-ready":             precheck.SeverityError,
		"runtime-version":            precheck.SeverityError,
		"upgrade-leftovers":          precheck.SeverityError,
	}
	if diff := cmp.Diff(want, failed(r)); diff != "" {
		t.Errorf("failed checks (-want +got):\n%s", diff)
	}
	if !errors.Is(r.Err(), precheck.ErrBlocking) {
		t.Errorf("Err() = %v, want ErrBlocking", r.Err())
	}
	// The one wording of a failed pre-check, in check and start alike.
	if want := "pre-check found errors: 7 checks failed (node-not-ready, runtime-version, removed-api-helm, removed-api-last-applied, " +
		"removed-api-managed-fields, webhook-no-endpoints, upgrade-leftovers); fix them, or skip a check with --skip-check ID"; r.Err().Error() != want {
		t.Errorf("Err() = %q, want %q", r.Err(), want)
	}
	if r.Errors != 7 || r.Warnings != 2 {
		t.Errorf("counts %d errors %d warnings", r.Errors, r.Warnings)
	}
}

func TestRunSkipsWhatItCannotRead(t *testing.T) {
	c := prechecktest.NewCluster("v1.35.2", prechecktest.Healthy()...)
	c.Kube.PrependReactor("list", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("secrets is forbidden")
	})
	r, err := precheck.Run(context.Background(), c.Clients(), precheck.Options{TargetVersion: "v1.36.1", Skip: []string{"webhook-*"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, res := range r.Results {
		switch res.ID {
		case "removed-api-helm":
			if res.Result != precheck.Skipped || res.Reason == "" {
				t.Errorf("helm: %s %q", res.Result, res.Reason)
			}
		case "webhook-no-endpoints", "webhook-critical-fail", "webhook-cert-san":
			if res.Reason != "skipped by --skip-check" {
				t.Errorf("%s: %s %q", res.ID, res.Result, res.Reason)
			}
		}
	}
}

// Without the opt-in role for Secrets (manifests/optional/rbac-helm-releases.yaml) the
// Helm check is skipped, naming the permission and the role, and nothing else fails.
func TestRunWithoutSecretsPermission(t *testing.T) {
	c := prechecktest.NewCluster("v1.35.2", prechecktest.Healthy()...)
	c.Kube.PrependReactor("list", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "", errors.New("RBAC: access denied"))
	})
	r, err := precheck.Run(context.Background(), c.Clients(), precheck.Options{TargetVersion: "v1.36.1"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Errors != 0 {
		t.Errorf("%d errors without the Secrets permission, want 0", r.Errors)
	}
	for _, res := range r.Results {
		if res.ID != "removed-api-helm" {
			continue
		}
		if res.Result != precheck.Skipped || !strings.Contains(res.Reason, "no permission to list Secrets") ||
			!strings.Contains(res.Reason, "manifests/optional/rbac-helm-releases.yaml") {
			t.Errorf("helm: %s %q", res.Result, res.Reason)
		}
		return
	}
	t.Error("no removed-api-helm result")
}

func TestRunErrors(t *testing.T) {
	c := prechecktest.NewCluster("v1.35.2", prechecktest.Healthy()...)
	if _, err := precheck.Run(context.Background(), c.Clients(), precheck.Options{Skip: []string{"no-such-check"}}); err == nil ||
		!strings.HasSuffix(err.Error(), "kubectl edgeupgrade check --list shows the IDs") {
		t.Errorf("unknown --skip-check ID: %v", err)
	}
	// The same words as start and plan (upgrade.ValidateMode), so every command reads alike.
	if _, err := precheck.Run(context.Background(), c.Clients(), precheck.Options{Mode: "workers"}); err == nil ||
		err.Error() != upgrade.ValidateMode("workers").Error() {
		t.Errorf("bad mode: %v", err)
	}
	c.Kube.PrependReactor("list", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("nodes is forbidden")
	})
	if _, err := precheck.Run(context.Background(), c.Clients(), precheck.Options{}); err == nil {
		t.Error("Run succeeded without nodes")
	}
}

// liveStateConfigMap is the state ConfigMap store.Encode writes for a run in the Nodes
// phase that counted nodes nodes at its start and whose batch names batch nodes.
func liveStateConfigMap(t *testing.T, nodes, batch int) *corev1.ConfigMap {
	t.Helper()
	started := prechecktest.Now().Add(-time.Hour)
	st := upgrade.State{SchemaVersion: upgrade.SchemaVersion, RunID: "2611231100-wxyz", Phase: upgrade.PhaseNodes, StartedAt: started,
		Spec: upgrade.Spec{TargetVersion: "v1.36.1", FromVersion: "v1.35.2", Mode: upgrade.ModeAll,
			JobTimeout: upgrade.Duration{Duration: upgrade.DefaultJobTimeout}, DrainTimeout: upgrade.Duration{Duration: upgrade.DefaultDrainTimeout},
			PauseExpiry: upgrade.Duration{Duration: upgrade.DefaultPauseExpiry}, PreprocessImage: "p", UpgradeImage: "u"},
		Workers: nodes - 1, Masters: 1, Cap: batch, Ramp: 1, Batches: 1,
		Current: &upgrade.Batch{Index: 1, Role: upgrade.RoleWorker, StartedAt: started}}
	for i := range batch {
		st.Current.Nodes = append(st.Current.Nodes, fmt.Sprintf("edge-node-%s-%05d", strings.Repeat("x", 47), i))
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: job.Namespace, Name: store.Name}}
	if err := store.Encode(st, cm); err != nil {
		t.Fatal(err)
	}
	return cm
}

func TestRunCountsNodesOfTheLiveRun(t *testing.T) {
	c := prechecktest.NewCluster("v1.35.2", append(prechecktest.Healthy(), liveStateConfigMap(t, 4, 1))...)
	r, err := precheck.Run(context.Background(), c.Clients(), precheck.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := failed(r); got["node-count-changed"] != precheck.SeverityWarning {
		t.Errorf("failed %v", got)
	}
}

// A run of a big cluster keeps its state gzipped in binaryData (above 16 KiB): the
// pre-check reads it like the plugin does, and the live run blocks.
func TestRunBlocksOnALiveRunWithAGzippedState(t *testing.T) {
	cm := liveStateConfigMap(t, 3, 1000)
	if _, gzipped := cm.BinaryData[store.KeyStateGzip]; !gzipped {
		t.Fatal("the state is not gzipped")
	}
	c := prechecktest.NewCluster("v1.35.2", append(prechecktest.Healthy(), cm)...)
	r, err := precheck.Run(context.Background(), c.Clients(), precheck.Options{TargetVersion: "v1.36.1"})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(r.Err(), precheck.ErrBlocking) {
		t.Fatalf("Err() = %v, want ErrBlocking", r.Err())
	}
	for _, res := range r.Blocking() {
		if res.ID == "upgrade-leftovers" && len(res.Findings) == 1 && res.Findings[0].Severity == precheck.SeverityError &&
			strings.Contains(res.Findings[0].Message, `an upgrade is in progress (run "2611231100-wxyz", phase Nodes)`) {
			return
		}
	}
	t.Errorf("upgrade-leftovers does not block on the live run: %+v", r.Results)
}
