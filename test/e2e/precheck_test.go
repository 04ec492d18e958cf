package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/test/lab"
)

// checkReport is the part of `check -o json` (a PreCheckReport) the tests read. It is
// decoded here rather than with pkg/precheck's types so that the lab module does not
// pull in the plugin's printing dependencies; it also proves the JSON is self-describing.
type checkReport struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Results    []struct {
		ID       string `json:"id"`
		Result   string `json:"result"`
		Findings []struct {
			Object   string `json:"object"`
			Severity string `json:"severity"`
		} `json:"findings"`
	} `json:"results"`
	Errors   int `json:"errors"`
	Warnings int `json:"warnings"`
}

// checkReport runs `check -o json` and decodes the report.
func (e *env) checkReport(args ...string) (*checkReport, result) {
	e.t.Helper()
	r := e.run(append([]string{"check", "--to", target, "-o", "json"}, args...)...)
	var rep checkReport
	if err := json.Unmarshal([]byte(r.out), &rep); err != nil {
		e.t.Fatalf("decode the report: %v\n%s", err, r)
	}
	return &rep, r
}

func findings(rep *checkReport) map[string][]string {
	out := map[string][]string{}
	for _, res := range rep.Results {
		for _, f := range res.Findings {
			out[res.ID] = append(out[res.ID], f.Severity+" "+f.Object)
		}
	}
	return out
}

// A clean lab passes: exit 0, "Result: normal", nothing failed in the JSON report.
func TestPreCheckCleanLab(t *testing.T) {
	e := startLab(t, lab.Config{Masters: 1, Workers: 4, Pools: 1})
	e.deployment("web", 2)
	r := e.run("check", "--to", target)
	if r.code != 0 || !strings.HasSuffix(strings.TrimSpace(r.out), "Result: normal") {
		t.Fatalf("check on a clean lab: %s", r)
	}
	rep, r := e.checkReport()
	if r.code != 0 || rep.Kind != "PreCheckReport" || rep.APIVersion != "edgeupgrade.io/v1alpha1" {
		t.Fatalf("check -o json: %s", r)
	}
	if f := findings(rep); len(f) != 0 {
		t.Fatalf("findings on a clean lab: %v", f)
	}
	list := e.run("check", "--list")
	if ids := strings.Count(strings.TrimSpace(list.out), "\n"); list.code != 0 || len(rep.Results) != ids {
		t.Fatalf("%d results, want every check (%d): %s", len(rep.Results), ids, list)
	}
}

// Every problem the issue names, planted in a real control plane, is reported under its
// check ID; the errors block start. The lab's API server is already v1.36, so APIs
// removed up to 1.36 are stale records there (warnings), not new removals.
func TestPreCheckFindsPlantedProblems(t *testing.T) {
	e := startLab(t, lab.Config{Masters: 1, Workers: 5, Pools: 1, Unready: []string{"edge-a-005"}})
	ctx := context.Background()
	c := e.lab.Client

	// 1. An object last applied through a removed version.
	legacy := labDeployment("legacy", 1)
	legacy.Annotations = map[string]string{"kubectl.kubernetes.io/last-applied-configuration": `{"apiVersion":"extensions/v1beta1","kind":"Deployment","metadata":{"name":"legacy","namespace":"default"}}`}
	if _, err := c.AppsV1().Deployments("default").Create(ctx, legacy, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// 2. A Helm v3 release whose manifest uses a removed API.
	if _, err := c.CoreV1().Secrets("default").Create(ctx, helmReleaseSecret(t, "default", "old-ingress", 1,
		"apiVersion: extensions/v1beta1\nkind: Ingress\nmetadata:\n  name: web\n"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// 3. A fail-closed webhook whose Service has no endpoints (its rules match nothing
	// the lab creates, so the lab keeps working).
	if _, err := c.CoreV1().Services("default").Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "nowhere", Namespace: "default"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "nowhere"}, Ports: []corev1.ServicePort{{Port: 443, TargetPort: intstr.FromInt32(9443)}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "nowhere"},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name: "nowhere.e2e.example.com", FailurePolicy: ptr.To(admissionregistrationv1.Fail),
			SideEffects: ptr.To(admissionregistrationv1.SideEffectClassNone), AdmissionReviewVersions: []string{"v1"},
			ClientConfig:      admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{Namespace: "default", Name: "nowhere"}},
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"e2e": "webhook"}},
			Rules: []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}}}},
		}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// 4. A PodDisruptionBudget that allows no disruption.
	e.deployment("db", 2)
	if _, err := c.PolicyV1().PodDisruptionBudgets("default").Create(ctx, &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "default"},
		Spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptr.To(intstr.FromInt32(0)), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}}},
		metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// 5. An unready node: edge-a-005 (lab config). 6. A containerd 1.x node.
	patch := `{"status":{"nodeInfo":{"containerRuntimeVersion":"containerd://1.7.22"}}}`
	if _, err := c.CoreV1().Nodes().Patch(ctx, "edge-a-002", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}, "status"); err != nil {
		t.Fatal(err)
	}

	// --runtime-version none: the run would leave containerd alone, so a 1.x node is an
	// error; by default (auto) the run upgrades it first and the check only warns.
	rep, r := e.checkReport("--runtime-version", "none")
	if r.code != 2 {
		t.Fatalf("check with planted problems: want exit 2: %s", r)
	}
	if auto, _ := e.checkReport(); !containsString(findings(auto)["runtime-version"], "warning Node/edge-a-002") {
		t.Errorf("runtime-version with --runtime-version auto: %v, want a warning for edge-a-002", findings(auto)["runtime-version"])
	}
	got := findings(rep)
	for id, want := range map[string]string{
		"removed-api-last-applied": "warning Deployment/default/legacy",
		"removed-api-helm":         "warning HelmRelease/default/old-ingress",
		"webhook-no-endpoints":     "error ValidatingWebhookConfiguration/nowhere",
		"pdb-zero-disruption":      "warning PodDisruptionBudget/default/db",
		"node-not-ready":           "error Node/edge-a-005",
		"runtime-version":          "error Node/edge-a-002",
	} {
		if !containsString(got[id], want) {
			t.Errorf("%s: want %q among %v", id, want, got[id])
		}
	}
	if t.Failed() {
		t.Logf("all findings: %v", got)
	}

	// start runs the same checks and refuses, naming them.
	r = e.run(startArgs()...)
	if r.code != 2 || !contains(r.err, "webhook-no-endpoints") || !contains(r.err, "node-not-ready") {
		t.Fatalf("start with planted problems: want exit 2 naming the checks: %s", r)
	}
	// --drain turns the PDB into an error.
	rep, _ = e.checkReport("--drain")
	if f := findings(rep)["pdb-zero-disruption"]; !containsString(f, "error PodDisruptionBudget/default/db") {
		t.Errorf("--drain: pdb findings %v", f)
	}
}

// --deep runs one check Job per node; the lab's simulated agent answers with the
// result set on the node, and the Jobs are gone afterwards.
func TestPreCheckDeep(t *testing.T) {
	e := startLab(t, lab.Config{Masters: 1, Workers: 3, Pools: 1})
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: job.Namespace, Labels: map[string]string{"pod-security.kubernetes.io/enforce": "privileged"}}}
	if _, err := e.lab.Client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := e.lab.SetDeepResult(ctx, "edge-a-002", `{"node":"edge-a-002","cgroupVersion":2,"findings":[{"check":"host-swap","severity":"error","message":"swap is on (2 GiB)","remediation":"swapoff -a"}]}`); err != nil {
		t.Fatal(err)
	}
	rep, r := e.checkReport("--deep", "--preprocess-image", "lab/pre:1")
	if r.code != 2 {
		t.Fatalf("check --deep: want exit 2: %s", r)
	}
	got := findings(rep)
	if want := []string{"error Node/edge-a-002"}; fmt.Sprint(got["host-swap"]) != fmt.Sprint(want) {
		t.Errorf("host-swap findings %v, want %v (all: %v)", got["host-swap"], want, got)
	}
	if f := got["host-check-incomplete"]; len(f) != 0 {
		t.Errorf("nodes without a deep result: %v", f)
	}
	if n := e.jobCount(job.LabelComponent + "=" + job.ComponentDeepCheck); n != 0 {
		t.Errorf("%d deep-check Jobs left behind", n)
	}
}

func labDeployment(name string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To(replicas), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "lab/app:1"}}}}}}
}

// helmReleaseSecret stores a release the way Helm v3 does (JSON, gzip, base64, in a
// Secret of type helm.sh/release.v1).
func helmReleaseSecret(t *testing.T, ns, name string, revision int, manifest string) *corev1.Secret {
	t.Helper()
	js, err := json.Marshal(map[string]any{"name": name, "namespace": ns, "version": revision, "manifest": manifest,
		"info": map[string]any{"status": "deployed"}, "chart": map[string]any{"metadata": map[string]any{"name": name, "version": "0.1.0"}}})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write(js); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("sh.helm.release.v1.%s.v%d", name, revision),
			Labels: map[string]string{"owner": "helm", "status": "deployed", "name": name, "version": fmt.Sprint(revision)}},
		Type: "helm.sh/release.v1",
		Data: map[string][]byte{"release": []byte(base64.StdEncoding.EncodeToString(b.Bytes()))},
	}
}

func containsString(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}
