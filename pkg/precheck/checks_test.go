package precheck

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/version"
	"k8s.io/utils/ptr"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/hostcheck"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/nodes"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/store"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// checkCase is one view for one check. want lists the findings as "severity object";
// nil means the check passes. A case with skip set expects the check to be skipped.
type checkCase struct {
	name string
	opts Options
	edit func(t *testing.T, v *View)
	want []string
	skip bool
}

// cases holds, for every registered check, at least one view that triggers it and one
// that does not (TestEveryCheckHasCases enforces this).
func cases() map[string][]checkCase {
	return map[string][]checkCase{
		"version-target": {
			{name: "one minor up", want: nil},
			{name: "patch within the minor", opts: Options{TargetVersion: "v1.35.5"}},
			{name: "skips a minor", opts: Options{TargetVersion: "v1.37.0"}, want: []string{"error target v1.37.0"}},
			{name: "downgrade", opts: Options{TargetVersion: "v1.35.1"}, want: []string{"error target v1.35.1"}},
			{name: "invalid", opts: Options{TargetVersion: "banana"}, want: []string{"error target banana"}},
			{name: "pre-release", opts: Options{TargetVersion: "v1.36.0-rc.1"}, want: []string{"warning target v1.36.0-rc.1"}},
			{name: "nodes mode needs the API server at the target", opts: Options{Mode: upgrade.ModeNodes}, want: []string{"error target v1.36.1"}},
			{name: "nodes mode at the API server minor", opts: Options{Mode: upgrade.ModeNodes, TargetVersion: "v1.35.3"}},
			{name: "nodes mode, a patch below the API server (start refuses it too)", opts: Options{Mode: upgrade.ModeNodes, TargetVersion: "v1.35.1"},
				edit: func(t *testing.T, v *View) { kubeletAll(v, "v1.34.6") }, want: []string{"error target v1.35.1"}},
			{name: "a node above the target is left alone", opts: Options{TargetVersion: "v1.35.4"},
				edit: func(t *testing.T, v *View) { kubelet(t, v, "edge-2", "v1.35.5") }},
			{name: "a node two minors behind", edit: func(t *testing.T, v *View) { kubelet(t, v, "edge-1", "v1.34.6") },
				want: []string{"error Node/edge-1"}},
			{name: "a deferred node two minors behind (start refuses it too)", opts: Options{SkipUnready: true}, edit: func(t *testing.T, v *View) {
				kubelet(t, v, "edge-1", "v1.34.6")
				notReady(t, v, "edge-1")
			}, want: []string{"error Node/edge-1"}},
			{name: "a node two minors behind, out of scope", opts: Options{Mode: upgrade.ModeControlPlane},
				edit: func(t *testing.T, v *View) { kubelet(t, v, "edge-1", "v1.34.6") }},
			{name: "a target without a patch", opts: Options{TargetVersion: "1.36"}, want: []string{"error target 1.36"}},
			{name: "managed control plane", edit: dropControlPlane, want: []string{"error target v1.36.1"}},
			{name: "managed control plane already at target", opts: Options{TargetVersion: "v1.35.4"}, edit: dropControlPlane},
			{name: "no target", opts: Options{TargetVersion: "-"}, skip: true},
		},
		"version-skew": {
			{name: "all equal"},
			{name: "kubelets three minors behind", edit: func(t *testing.T, v *View) { kubelet(t, v, "edge-1", "v1.32.9") }},
			{name: "kubelet newer than the API server", edit: func(t *testing.T, v *View) { kubelet(t, v, "edge-1", "v1.36.0") },
				want: []string{"error Node/edge-1"}},
			{name: "kubelet four minors behind", edit: func(t *testing.T, v *View) { kubelet(t, v, "edge-2", "v1.31.0") },
				want: []string{"error Node/edge-2"}},
			{name: "HA API servers two minors apart", edit: func(t *testing.T, v *View) {
				v.ControlPlanePods = []corev1.Pod{controlPlanePod("kube-apiserver", "cp-1", "v1.35.2"), controlPlanePod("kube-apiserver", "cp-2", "v1.33.1")}
			}, want: []string{"error Node/cp-1", "error Node/edge-1", "error Node/edge-2", "error Pod/kube-system/kube-apiserver-cp-2"}},
			{name: "controller-manager newer than the API server", edit: func(t *testing.T, v *View) {
				v.ControlPlanePods = []corev1.Pod{controlPlanePod("kube-controller-manager", "cp-1", "v1.36.0")}
			}, want: []string{"error Pod/kube-system/kube-controller-manager-cp-1"}},
		},
		"version-skew-after": {
			{name: "every node upgraded"},
			{name: "control-plane only, workers three behind after", opts: Options{Mode: upgrade.ModeControlPlane},
				edit: func(t *testing.T, v *View) { kubelet(t, v, "edge-1", "v1.33.0") }},
			{name: "control-plane only, worker four behind after", opts: Options{Mode: upgrade.ModeControlPlane},
				edit: func(t *testing.T, v *View) { kubelet(t, v, "edge-1", "v1.32.5") }, want: []string{"error Node/edge-1"}},
			{name: "deferred unready worker too old", opts: Options{SkipUnready: true}, edit: func(t *testing.T, v *View) {
				kubelet(t, v, "edge-2", "v1.32.5")
				notReady(t, v, "edge-2")
			}, want: []string{"error Node/edge-2"}},
			{name: "outside the selector", opts: Options{Selector: labels.SelectorFromSet(labels.Set{"kubernetes.io/hostname": "edge-1"})},
				edit: func(t *testing.T, v *View) { kubelet(t, v, "edge-2", "v1.32.5") }, want: []string{"error Node/edge-2"}},
		},
		"apiserver-ready": {
			{name: "ok"},
			{name: "etcd failing", edit: func(t *testing.T, v *View) { v.Readyz = "not ready: [-]etcd failed: reason withheld" },
				want: []string{"error /readyz"}},
			{name: "forbidden", edit: func(t *testing.T, v *View) { v.Unavailable[SourceReadyz] = errors.New("forbidden") }, skip: true},
		},
		"node-not-ready": {
			{name: "all ready"},
			{name: "worker not ready", edit: func(t *testing.T, v *View) { notReady(t, v, "edge-1") }, want: []string{"error Node/edge-1"}},
			{name: "worker deferred", opts: Options{SkipUnready: true}, edit: func(t *testing.T, v *View) { notReady(t, v, "edge-1") },
				want: []string{"warning Node/edge-1"}},
			{name: "control plane cannot be deferred", opts: Options{SkipUnready: true}, edit: func(t *testing.T, v *View) { notReady(t, v, "cp-1") },
				want: []string{"error Node/cp-1"}},
			{name: "out of scope in nodes mode", opts: Options{Mode: upgrade.ModeNodes, TargetVersion: "v1.35.3"},
				edit: func(t *testing.T, v *View) { notReady(t, v, "cp-1") }},
			{name: "no Ready condition", edit: func(t *testing.T, v *View) { node(t, v, "edge-2").Status.Conditions = nil },
				want: []string{"error Node/edge-2"}},
			{name: "worker already at the target deferred too", opts: Options{SkipUnready: true}, edit: func(t *testing.T, v *View) {
				kubelet(t, v, "edge-1", "v1.36.1")
				notReady(t, v, "edge-1")
			}, want: []string{"warning Node/edge-1"}},
			{name: "legacy master label cannot be deferred", opts: Options{SkipUnready: true}, edit: func(t *testing.T, v *View) {
				n := node(t, v, "cp-1")
				delete(n.Labels, nodes.LabelControlPlane)
				n.Labels[nodes.LabelMasterLegacy] = ""
				notReady(t, v, "cp-1")
			}, want: []string{"error Node/cp-1"}},
			{name: "workers out of scope in control-plane mode", opts: Options{Mode: upgrade.ModeControlPlane},
				edit: func(t *testing.T, v *View) { notReady(t, v, "edge-2") }},
		},
		"node-pressure": {
			{name: "none"},
			{name: "disk pressure", edit: func(t *testing.T, v *View) {
				setCondition(node(t, v, "edge-1"), corev1.NodeCondition{Type: corev1.NodeDiskPressure, Status: corev1.ConditionTrue, Reason: "KubeletHasDiskPressure"})
			}, want: []string{"error Node/edge-1"}},
			{name: "memory pressure", edit: func(t *testing.T, v *View) {
				setCondition(node(t, v, "edge-2"), corev1.NodeCondition{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionTrue})
			}, want: []string{"warning Node/edge-2"}},
		},
		"node-cordoned": {
			{name: "schedulable"},
			{name: "cordoned", edit: func(t *testing.T, v *View) { node(t, v, "edge-2").Spec.Unschedulable = true }, want: []string{"warning Node/edge-2"}},
		},
		"node-pleg": {
			{name: "healthy"},
			{name: "not ready for another reason", edit: func(t *testing.T, v *View) { notReady(t, v, "edge-1") }},
			{name: "PLEG unhealthy", edit: func(t *testing.T, v *View) {
				setCondition(node(t, v, "edge-1"), corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionFalse, Reason: "KubeletNotReady",
					Message: "PLEG is not healthy: pleg was last seen active 3m12s ago; threshold is 3m0s"})
			}, want: []string{"error Node/edge-1"}},
			{name: "deferred worker is node-not-ready's", opts: Options{SkipUnready: true}, edit: func(t *testing.T, v *View) {
				setCondition(node(t, v, "edge-1"), corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionFalse, Message: "container runtime is down"})
			}},
			{name: "runtime down", edit: func(t *testing.T, v *View) {
				setCondition(node(t, v, "edge-2"), corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionFalse,
					Message: "container runtime is down"})
			}, want: []string{"error Node/edge-2"}},
		},
		"node-count-changed": {
			{name: "no upgrade running", skip: true},
			{name: "finished run", skip: true, edit: func(t *testing.T, v *View) {
				v.UpgradeState = stateConfigMap(t, runState(upgrade.PhaseCompleted, "r1"))
			}},
			{name: "unchanged", edit: func(t *testing.T, v *View) { v.UpgradeState = stateConfigMap(t, runState(upgrade.PhaseNodes, "r1")) }},
			{name: "a node joined", edit: func(t *testing.T, v *View) {
				st := runState(upgrade.PhaseNodes, "r1")
				st.Workers = 1
				v.UpgradeState = stateConfigMap(t, st)
			}, want: []string{"warning Cluster"}},
			{name: "counted within the run's selector", edit: func(t *testing.T, v *View) {
				st := runState(upgrade.PhaseMasters, "r1")
				st.Spec.Selector, st.Workers, st.Masters = "kubernetes.io/hostname=edge-1", 1, 0
				v.UpgradeState = stateConfigMap(t, st)
			}},
			{name: "unreadable state", skip: true, edit: func(t *testing.T, v *View) {
				v.UpgradeState = stateConfigMap(t, runState(upgrade.PhaseNodes, "r1"))
				v.UpgradeState.Data[store.KeyState] = "{"
			}},
		},
		"runtime-version": {
			{name: "containerd 2"},
			{name: "containerd 1.7 to 1.36", edit: func(t *testing.T, v *View) { setRuntime(t, v, "edge-1", "containerd://1.7.22") },
				want: []string{"error Node/edge-1"}},
			{name: "containerd 1.7 to 1.36, the run upgrades containerd (auto)", opts: Options{RuntimeVersion: RuntimeAuto},
				edit: func(t *testing.T, v *View) { setRuntime(t, v, "edge-1", "containerd://1.7.22") }, want: []string{"warning Node/edge-1"}},
			{name: "containerd 1.6 to 1.36, --runtime-version 2.x", opts: Options{RuntimeVersion: "v2.2.9"},
				edit: func(t *testing.T, v *View) { setRuntime(t, v, "edge-1", "containerd://1.6.20~ds1") }, want: []string{"warning Node/edge-1"}},
			{name: "containerd 1.6 to 1.36, --runtime-version still 1.x", opts: Options{RuntimeVersion: "v1.7.30"},
				edit: func(t *testing.T, v *View) { setRuntime(t, v, "edge-1", "containerd://1.6.20~ds1") }, want: []string{"error Node/edge-1"}},
			{name: "containerd 1.7 to 1.36, --runtime-version none", opts: Options{RuntimeVersion: RuntimeNone},
				edit: func(t *testing.T, v *View) { setRuntime(t, v, "edge-1", "containerd://1.7.22") }, want: []string{"error Node/edge-1"}},
			{name: "containerd 1.7 to 1.35", opts: Options{TargetVersion: "v1.35.4"},
				edit: func(t *testing.T, v *View) { setRuntime(t, v, "edge-1", "containerd://1.7.22") }, want: []string{"warning Node/edge-1"}},
			{name: "containerd 1.5 to 1.26", opts: Options{TargetVersion: "v1.26.0"}, edit: func(t *testing.T, v *View) {
				v.Server, v.ServerGitVersion = mustVersion("v1.25.3"), "v1.25.3"
				setRuntime(t, v, "edge-2", "containerd://1.5.9")
			}, want: []string{"error Node/edge-2"}},
			{name: "docker across 1.24", opts: Options{TargetVersion: "v1.24.0"}, edit: func(t *testing.T, v *View) {
				v.Server, v.ServerGitVersion = mustVersion("v1.23.9"), "v1.23.9"
				setRuntime(t, v, "edge-2", "docker://20.10.7")
			}, want: []string{"error Node/edge-2"}},
			{name: "deferred node", opts: Options{SkipUnready: true}, edit: func(t *testing.T, v *View) {
				setRuntime(t, v, "edge-1", "containerd://1.7.22")
				notReady(t, v, "edge-1")
			}},
			{name: "cri-o behind", edit: func(t *testing.T, v *View) { setRuntime(t, v, "edge-1", "cri-o://1.35.1") }, want: []string{"warning Node/edge-1"}},
			{name: "out of scope", opts: Options{Mode: upgrade.ModeControlPlane}, edit: func(t *testing.T, v *View) { setRuntime(t, v, "edge-1", "containerd://1.7.22") }},
		},
		"removed-api-last-applied": {
			{name: "current API", edit: func(t *testing.T, v *View) {
				v.APIObjects = []APIObject{{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "default", Name: "web", LastApplied: &TypeRef{"apps/v1", "Deployment"}}}
			}},
			{name: "removed by the target", edit: func(t *testing.T, v *View) {
				v.APIObjects = []APIObject{{APIVersion: "storagemigration.k8s.io/v1beta1", Kind: "StorageVersionMigration", Name: "m1",
					LastApplied: &TypeRef{"storagemigration.k8s.io/v1alpha1", "StorageVersionMigration"}}}
			}, want: []string{"error StorageVersionMigration/m1"}},
			{name: "deprecated in the target", opts: Options{TargetVersion: "v1.36.1"}, edit: func(t *testing.T, v *View) {
				v.APIObjects = []APIObject{{APIVersion: "resource.k8s.io/v1", Kind: "ResourceClaim", Namespace: "default", Name: "gpu",
					LastApplied: &TypeRef{"resource.k8s.io/v1beta2", "ResourceClaim"}}}
			}, want: []string{"warning ResourceClaim/default/gpu"}},
			{name: "stale record of an API removed long ago", edit: func(t *testing.T, v *View) {
				v.APIObjects = []APIObject{{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "default", Name: "old",
					LastApplied: &TypeRef{"extensions/v1beta1", "Deployment"}}}
			}, want: []string{"warning Deployment/default/old"}},
			{name: "no target", opts: Options{TargetVersion: "-"}, skip: true},
		},
		"removed-api-managed-fields": {
			{name: "current API", edit: func(t *testing.T, v *View) {
				v.APIObjects = []APIObject{{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "default", Name: "web",
					Managers: []ManagedFieldsEntry{{Manager: "kubectl", Operation: "Update", APIVersion: "apps/v1", Time: testNow}}}}
			}},
			{name: "recent write through a removed API", edit: func(t *testing.T, v *View) {
				v.APIObjects = []APIObject{{APIVersion: "storagemigration.k8s.io/v1beta1", Kind: "StorageVersionMigration", Name: "m1",
					Managers: []ManagedFieldsEntry{{Manager: "old-ci", Operation: "Update", APIVersion: "storagemigration.k8s.io/v1alpha1", Time: testNow.Add(-time.Hour)}}}}
			}, want: []string{"error StorageVersionMigration/m1"}},
			{name: "old write is a warning", edit: func(t *testing.T, v *View) {
				v.APIObjects = []APIObject{{APIVersion: "storagemigration.k8s.io/v1beta1", Kind: "StorageVersionMigration", Name: "m1",
					Managers: []ManagedFieldsEntry{{Manager: "old-ci", Operation: "Update", APIVersion: "storagemigration.k8s.io/v1alpha1", Time: testNow.Add(-90 * 24 * time.Hour)}}}}
			}, want: []string{"warning StorageVersionMigration/m1"}},
		},
		"removed-api-helm": {
			{name: "current APIs", edit: func(t *testing.T, v *View) {
				v.Helm = []HelmRelease{{Name: "web", Namespace: "default", Revision: 2, Storage: "Secret", StorageName: "sh.helm.release.v1.web.v2",
					Objects: []ManifestObject{{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"}}}}
			}},
			{name: "removed API in the manifest", edit: func(t *testing.T, v *View) {
				v.Helm = []HelmRelease{{Name: "mig", Namespace: "ops", Revision: 3, Storage: "ConfigMap", StorageName: "mig.v3",
					Objects: []ManifestObject{{APIVersion: "storagemigration.k8s.io/v1alpha1", Kind: "StorageVersionMigration", Name: "m1"}}}}
			}, want: []string{"error HelmRelease/ops/mig"}},
			{name: "undecodable", edit: func(t *testing.T, v *View) {
				v.Helm = []HelmRelease{{Name: "x", Namespace: "ops", Err: "release is not gzip"}}
			}, want: []string{"warning HelmRelease/ops/x"}},
			{name: "secrets forbidden", edit: func(t *testing.T, v *View) { v.Unavailable[SourceHelm] = errors.New("forbidden") }, skip: true},
		},
		"removed-api-metrics": {
			{name: "no deprecated requests"},
			{name: "removed by the target", edit: func(t *testing.T, v *View) {
				v.PreferredVersions = map[string]string{"storagemigration.k8s.io": "v1beta1"}
				v.Metrics[metricDeprecatedAPIs] = []Sample{{Value: 1, Labels: map[string]string{"group": "storagemigration.k8s.io", "version": "v1alpha1",
					"resource": "storageversionmigrations", "removed_release": "1.36"}}}
			}, want: []string{"error API/storagemigration.k8s.io/v1alpha1/storageversionmigrations"}},
			{name: "only served version: maybe the garbage collector", edit: func(t *testing.T, v *View) {
				v.PreferredVersions = map[string]string{"storagemigration.k8s.io": "v1alpha1"}
				v.Metrics[metricDeprecatedAPIs] = []Sample{{Value: 1, Labels: map[string]string{"group": "storagemigration.k8s.io", "version": "v1alpha1",
					"resource": "storageversionmigrations", "removed_release": "1.36"}}}
			}, want: []string{"warning API/storagemigration.k8s.io/v1alpha1/storageversionmigrations"}},
			{name: "deprecated later", edit: func(t *testing.T, v *View) {
				v.Metrics[metricDeprecatedAPIs] = []Sample{{Value: 1, Labels: map[string]string{"group": "resource.k8s.io", "version": "v1beta2",
					"resource": "resourceclaims", "removed_release": "1.39"}}}
			}, want: []string{"warning API/resource.k8s.io/v1beta2/resourceclaims"}},
		},
		"webhook-no-endpoints": {
			{name: "ready endpoint", edit: withWebhook(admissionregistrationv1.Fail, true)},
			{name: "no endpoints, fail closed", edit: withWebhook(admissionregistrationv1.Fail, false), want: []string{"error ValidatingWebhookConfiguration/policy"}},
			{name: "no endpoints, ignore", edit: withWebhook(admissionregistrationv1.Ignore, false), want: []string{"warning ValidatingWebhookConfiguration/policy"}},
			{name: "service missing", edit: func(t *testing.T, v *View) {
				withWebhook(admissionregistrationv1.Fail, true)(t, v)
				v.Services = nil
			}, want: []string{"error ValidatingWebhookConfiguration/policy"}},
		},
		"webhook-critical-fail": {
			{name: "excludes kube-system", edit: func(t *testing.T, v *View) {
				withWebhook(admissionregistrationv1.Fail, true)(t, v)
				v.ValidatingWebhooks[0].Webhooks[0].NamespaceSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
					Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"kube-system", "kube-node-lease"}}}}
			}},
			{name: "ignore policy", edit: withWebhook(admissionregistrationv1.Ignore, true)},
			{name: "intercepts kube-system pods", edit: withWebhook(admissionregistrationv1.Fail, true), want: []string{"warning ValidatingWebhookConfiguration/policy"}},
			{name: "intercepts nodes", edit: func(t *testing.T, v *View) {
				withWebhook(admissionregistrationv1.Fail, true)(t, v)
				v.ValidatingWebhooks[0].Webhooks[0].Rules[0].Resources = []string{"nodes"}
				v.ValidatingWebhooks[0].Webhooks[0].NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"team": "a"}}
			}, want: []string{"warning ValidatingWebhookConfiguration/policy"}},
		},
		"webhook-cert-san": {
			{name: "certificate with the service name", edit: func(t *testing.T, v *View) {
				withWebhook(admissionregistrationv1.Fail, true)(t, v)
				withCert(t, v, []string{"policy.policy-system.svc"}, testNow.Add(time.Hour))
			}},
			{name: "metric counts missing SANs", edit: func(t *testing.T, v *View) {
				v.Metrics[metricWebhookMissingSAN] = []Sample{{Value: 3, Labels: map[string]string{}}}
			}, want: []string{"error metric/apiserver_webhooks_x509_missing_san_total"}},
			{name: "CN-only certificate", edit: func(t *testing.T, v *View) {
				withWebhook(admissionregistrationv1.Fail, true)(t, v)
				withCert(t, v, nil, testNow.Add(time.Hour))
			}, want: []string{"error ValidatingWebhookConfiguration/policy"}},
			{name: "wrong SAN", edit: func(t *testing.T, v *View) {
				withWebhook(admissionregistrationv1.Fail, true)(t, v)
				withCert(t, v, []string{"other.svc"}, testNow.Add(time.Hour))
			}, want: []string{"error ValidatingWebhookConfiguration/policy"}},
			{name: "a proxy answered (other CA, other name)", edit: func(t *testing.T, v *View) {
				withWebhook(admissionregistrationv1.Fail, true)(t, v)
				withCert(t, v, []string{"archive.example.org"}, testNow.Add(time.Hour))
				p := v.WebhookCerts[webhookKey("policy", "pods.policy.example.com")]
				p.CABundle = selfSignedPEM(t)
				v.WebhookCerts[webhookKey("policy", "pods.policy.example.com")] = p
			}},
			{name: "not signed by the caBundle", edit: func(t *testing.T, v *View) {
				withWebhook(admissionregistrationv1.Fail, true)(t, v)
				withCert(t, v, []string{"policy.policy-system.svc"}, testNow.Add(time.Hour))
				p := v.WebhookCerts[webhookKey("policy", "pods.policy.example.com")]
				p.CABundle = selfSignedPEM(t)
				v.WebhookCerts[webhookKey("policy", "pods.policy.example.com")] = p
			}, want: []string{"error ValidatingWebhookConfiguration/policy"}},
			{name: "expired", edit: func(t *testing.T, v *View) {
				withWebhook(admissionregistrationv1.Fail, true)(t, v)
				withCert(t, v, []string{"policy.policy-system.svc"}, testNow.Add(-time.Hour))
			}, want: []string{"error ValidatingWebhookConfiguration/policy"}},
			{name: "metrics forbidden", edit: func(t *testing.T, v *View) { v.Unavailable[SourceMetrics] = errors.New("forbidden") }, skip: true},
		},
		"apiservice-unavailable": {
			{name: "available", edit: func(t *testing.T, v *View) {
				v.APIServices = []APIService{{Name: "v1.apps"}, {Name: "v1beta1.metrics.k8s.io", Service: "kube-system/metrics-server"}}
				for i := range v.APIServices {
					v.APIServices[i].Available = true
				}
			}},
			{name: "metrics-server down", edit: func(t *testing.T, v *View) {
				v.APIServices = []APIService{{Name: "v1.apps", Available: true},
					{Name: "v1beta1.metrics.k8s.io", Service: "kube-system/metrics-server", Reason: "MissingEndpoints", Message: "endpoints for service/metrics-server in \"kube-system\" have no addresses"}}
			}, want: []string{"error APIService/v1beta1.metrics.k8s.io"}},
		},
		"pdb-zero-disruption": {
			{name: "allows one", edit: withPDB(1)},
			{name: "allows none", edit: withPDB(0), want: []string{"warning PodDisruptionBudget/default/db"}},
			{name: "allows none, with drain", opts: Options{Drain: true}, edit: withPDB(0), want: []string{"error PodDisruptionBudget/default/db"}},
			{name: "pods outside the scope", opts: Options{Mode: upgrade.ModeControlPlane}, edit: withPDB(0)},
		},
		"svc-external-traffic-local": {
			{name: "cluster policy", edit: withService(corev1.ServiceTypeLoadBalancer, corev1.ServiceExternalTrafficPolicyCluster)},
			{name: "ClusterIP", edit: withService(corev1.ServiceTypeClusterIP, "")},
			{name: "local policy", edit: withService(corev1.ServiceTypeLoadBalancer, corev1.ServiceExternalTrafficPolicyLocal),
				want: []string{"warning Service/default/ingress"}},
		},
		"flexvolume": {
			{name: "no flex", edit: func(t *testing.T, v *View) { v.Pods = []corev1.Pod{pod("default", "web", "edge-1", nil)} }},
			{name: "pod with flex", edit: func(t *testing.T, v *View) {
				v.Pods = []corev1.Pod{pod("default", "nas", "edge-1", nil)}
				v.Pods[0].Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{FlexVolume: &corev1.FlexVolumeSource{Driver: "vendor/nfs"}}}}
			}, want: []string{"warning Pod/default/nas"}},
			{name: "pv with flex", edit: func(t *testing.T, v *View) {
				v.PersistentVolumes = []corev1.PersistentVolume{{ObjectMeta: metav1.ObjectMeta{Name: "pv1"},
					Spec: corev1.PersistentVolumeSpec{PersistentVolumeSource: corev1.PersistentVolumeSource{FlexVolume: &corev1.FlexPersistentVolumeSource{Driver: "vendor/nfs"}}}}}
			}, want: []string{"warning PersistentVolume/pv1"}},
		},
		"single-replica-startup-probe": {
			{name: "two replicas", edit: withDeployment(2, true)},
			{name: "no startup probe", edit: withDeployment(1, false)},
			{name: "single replica with a startup probe", edit: withDeployment(1, true), want: []string{"warning Deployment/default/api"}},
		},
		"upgrade-leftovers": {
			{name: "empty namespace"},
			{name: "finished run", edit: func(t *testing.T, v *View) {
				v.UpgradeState = stateConfigMap(t, runState(upgrade.PhaseCompleted, "r1"))
			}},
			{name: "failed pod", edit: func(t *testing.T, v *View) {
				p := pod(job.Namespace, "eu-r1-edge-1", "edge-1", nil)
				p.Status.Phase = corev1.PodFailed
				p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "preprocess", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Message: "swap is on"}}}}
				v.UpgradePods = []corev1.Pod{p}
			}, want: []string{"error Pod/kube-upgrade/eu-r1-edge-1"}},
			{name: "live run", edit: func(t *testing.T, v *View) { v.UpgradeState = stateConfigMap(t, runState(upgrade.PhaseNodes, "r1")) },
				want: []string{"error ConfigMap/kube-upgrade/edgeupgrade"}},
			{name: "live run, state gzipped", edit: func(t *testing.T, v *View) { v.UpgradeState = stateConfigMap(t, largeRunState(t)) },
				want: []string{"error ConfigMap/kube-upgrade/edgeupgrade"}},
			{name: "corrupt state", edit: func(t *testing.T, v *View) {
				v.UpgradeState = stateConfigMap(t, runState(upgrade.PhaseNodes, "r1"))
				v.UpgradeState.Data[store.KeyState] = `{"phase":"Nodes"}`
			}, want: []string{"warning ConfigMap/kube-upgrade/edgeupgrade"}},
			{name: "state of a newer plugin", edit: func(t *testing.T, v *View) {
				v.UpgradeState = stateConfigMap(t, runState(upgrade.PhaseCompleted, "r1"))
				v.UpgradeState.Data[store.KeySchema] = "99"
			}, want: []string{"error ConfigMap/kube-upgrade/edgeupgrade"}},
			{name: "active job of another run", edit: func(t *testing.T, v *View) {
				v.UpgradeJobs = []batchv1.Job{{ObjectMeta: metav1.ObjectMeta{Name: "eu-r0-edge-1", Namespace: job.Namespace,
					Labels: map[string]string{job.LabelManagedBy: job.ManagedBy, job.LabelRun: "r0"}}}}
			}, want: []string{"error Job/kube-upgrade/eu-r0-edge-1"}},
			{name: "completed pods", edit: func(t *testing.T, v *View) {
				p := pod(job.Namespace, "eu-r0-edge-1", "edge-1", nil)
				p.Status.Phase = corev1.PodSucceeded
				v.UpgradePods = []corev1.Pod{p}
			}, want: []string{"warning Namespace/kube-upgrade"}},
		},
		"host-swap": {
			{name: "not deep", skip: true},
			{name: "clean host", opts: Options{Deep: true}, edit: withHost("edge-1", 2)},
			{name: "swap on", opts: Options{Deep: true}, edit: withHost("edge-1", 2, hostcheck.Finding{Check: hostcheck.CheckSwap, Severity: hostcheck.SeverityError, Message: "swap is on"}),
				want: []string{"error Node/edge-1"}},
		},
		"host-disk": {
			{name: "clean host", opts: Options{Deep: true}, edit: withHost("edge-1", 2)},
			{name: "low disk", opts: Options{Deep: true}, edit: withHost("edge-1", 2, hostcheck.Finding{Check: hostcheck.CheckDisk, Severity: hostcheck.SeverityWarning, Message: "15% free"}),
				want: []string{"warning Node/edge-1"}},
		},
		"host-kubelet": {
			{name: "clean host", opts: Options{Deep: true}, edit: withHost("edge-1", 2)},
			{name: "kubelet down", opts: Options{Deep: true}, edit: withHost("edge-1", 2, hostcheck.Finding{Check: hostcheck.CheckKubelet, Severity: hostcheck.SeverityError, Message: "healthz refused"}),
				want: []string{"error Node/edge-1"}},
		},
		"host-kubelet-version": {
			{name: "clean host", opts: Options{Deep: true}, edit: withHost("edge-1", 2)},
			{name: "mismatch", opts: Options{Deep: true}, edit: withHost("edge-1", 2, hostcheck.Finding{Check: hostcheck.CheckKubeletVersion, Severity: hostcheck.SeverityError, Message: "binary v1.34"}),
				want: []string{"error Node/edge-1"}},
		},
		"host-kubelet-config": {
			{name: "clean host", opts: Options{Deep: true}, edit: withHost("edge-1", 2)},
			{name: "removed field", opts: Options{Deep: true}, edit: withHost("edge-1", 2, hostcheck.Finding{Check: hostcheck.CheckKubeletConfig, Severity: hostcheck.SeverityError, Message: "field x"}),
				want: []string{"error Node/edge-1"}},
		},
		"host-kubelet-removed-flags": {
			{name: "clean host", opts: Options{Deep: true}, edit: withHost("edge-1", 2)},
			{name: "removed flag", opts: Options{Deep: true}, edit: withHost("edge-1", 2, hostcheck.Finding{Check: hostcheck.CheckRemovedFlags, Severity: hostcheck.SeverityError, Message: "--pod-infra-container-image"}),
				want: []string{"error Node/edge-1"}},
		},
		"host-runtime": {
			{name: "clean host", opts: Options{Deep: true}, edit: withHost("edge-1", 2)},
			{name: "runtime down", opts: Options{Deep: true}, edit: withHost("edge-1", 2, hostcheck.Finding{Check: hostcheck.CheckRuntime, Severity: hostcheck.SeverityError, Message: "socket missing"}),
				want: []string{"error Node/edge-1"}},
		},
		"host-cgroup": {
			{name: "cgroup v2", opts: Options{Deep: true}, edit: withHost("edge-1", 2)},
			{name: "cgroup v1 staying on 1.34", opts: Options{Deep: true, TargetVersion: "v1.35.4"}, edit: func(t *testing.T, v *View) {
				withHost("edge-1", 1)(t, v)
				v.Target = mustVersion("v1.34.1")
			}},
			{name: "cgroup v1 to 1.36", opts: Options{Deep: true}, edit: withHost("edge-1", 1), want: []string{"error Node/edge-1"}},
			{name: "agent reported it", opts: Options{Deep: true},
				edit: withHost("edge-1", 1, hostcheck.Finding{Check: hostcheck.CheckCgroup, Severity: hostcheck.SeverityError, Message: "cgroup v1"}),
				want: []string{"error Node/edge-1"}},
		},
		"host-other": {
			{name: "known findings only", opts: Options{Deep: true}, edit: withHost("edge-1", 2, hostcheck.Finding{Check: hostcheck.CheckSwap, Severity: hostcheck.SeverityError})},
			{name: "truncated", opts: Options{Deep: true}, edit: withHost("edge-1", 2, hostcheck.Finding{Check: hostcheck.CheckTruncated, Severity: hostcheck.SeverityWarning, Message: "... 3 more"}),
				want: []string{"warning Node/edge-1"}},
		},
		"host-check-incomplete": {
			{name: "every node answered", opts: Options{Deep: true}, edit: withHost("edge-1", 2)},
			{name: "node timed out", opts: Options{Deep: true}, edit: func(t *testing.T, v *View) { v.HostErrors["edge-2"] = "no result before the deadline" },
				want: []string{"warning Node/edge-2"}},
			{name: "could not run", opts: Options{Deep: true}, edit: func(t *testing.T, v *View) { v.Unavailable[SourceHost] = errors.New("namespace missing") },
				want: []string{"warning Namespace/kube-upgrade"}},
		},
	}
}

func TestChecks(t *testing.T) {
	byID := map[string]Check{}
	for _, c := range Checks() {
		byID[c.ID] = c
	}
	for id, cs := range cases() {
		c, ok := byID[id]
		if !ok {
			t.Errorf("cases for unknown check %s", id)
			continue
		}
		for _, tc := range cs {
			t.Run(id+"/"+tc.name, func(t *testing.T) {
				o := tc.opts
				if o.TargetVersion == "-" {
					o.TargetVersion = ""
				}
				v := newView(o)
				if tc.opts.TargetVersion == "-" {
					v.Options.TargetVersion, v.Target = "", nil
				}
				if tc.edit != nil {
					tc.edit(t, v)
				}
				res := evaluate(v, c)
				if tc.skip {
					if res.Result != Skipped {
						t.Fatalf("result %s, want skipped (findings %v)", res.Result, res.Findings)
					}
					return
				}
				if res.Result == Skipped {
					t.Fatalf("skipped: %s", res.Reason)
				}
				var got []string
				for _, f := range res.Findings {
					got = append(got, string(f.Severity)+" "+f.Object)
					if f.Message == "" {
						t.Errorf("finding on %s has no message", f.Object)
					}
				}
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("findings (-want +got):\n%s\nfull: %+v", diff, res.Findings)
				}
				wantResult := Passed
				if len(tc.want) > 0 {
					wantResult = Failed
				}
				if res.Result != wantResult {
					t.Errorf("result %s, want %s", res.Result, wantResult)
				}
			})
		}
	}
}

// TestEveryCheckHasCases: each registered check has a view that triggers it and one
// that does not.
func TestEveryCheckHasCases(t *testing.T) {
	all := cases()
	for _, c := range Checks() {
		trig, clean := false, false
		for _, tc := range all[c.ID] {
			switch {
			case tc.skip:
			case len(tc.want) > 0:
				trig = true
			default:
				clean = true
			}
		}
		if !trig || !clean {
			t.Errorf("check %s needs a triggering and a passing case (have trigger=%v, pass=%v)", c.ID, trig, clean)
		}
	}
}

func TestRegistry(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range Checks() {
		if seen[c.ID] {
			t.Errorf("duplicate ID %s", c.ID)
		}
		seen[c.ID] = true
		if c.Title == "" || c.Remediation == "" || c.Run == nil || (c.Severity != SeverityError && c.Severity != SeverityWarning) {
			t.Errorf("check %s is incomplete: %+v", c.ID, c)
		}
		if c.Deep != strings.HasPrefix(c.ID, "host-") {
			t.Errorf("check %s: deep checks and only they are named host-*", c.ID)
		}
	}
}

// --- view builders ---

func mustVersion(s string) *version.Version { return version.MustParseGeneric(s) }

func dropControlPlane(t *testing.T, v *View) {
	v.Nodes = v.Nodes[1:]
}

func kubelet(t *testing.T, v *View, name, ver string) {
	node(t, v, name).Status.NodeInfo.KubeletVersion = ver
}

func kubeletAll(v *View, ver string) {
	for i := range v.Nodes {
		v.Nodes[i].Status.NodeInfo.KubeletVersion = ver
	}
}

func setRuntime(t *testing.T, v *View, name, rv string) {
	node(t, v, name).Status.NodeInfo.ContainerRuntimeVersion = rv
}

func notReady(t *testing.T, v *View, name string) {
	setCondition(node(t, v, name), corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionUnknown, Reason: "NodeStatusUnknown",
		Message: "Kubelet stopped posting node status.", LastHeartbeatTime: metav1.NewTime(testNow.Add(-2 * time.Hour))})
}

func controlPlanePod(component, nodeName, ver string) corev1.Pod {
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: component + "-" + nodeName, Namespace: "kube-system", Labels: map[string]string{"component": component, "tier": "control-plane"}},
		Spec:       corev1.PodSpec{NodeName: nodeName, Containers: []corev1.Container{{Name: component, Image: "registry.k8s.io/" + component + ":" + ver}}},
	}
}

func pod(ns, name, nodeName string, lbls map[string]string) corev1.Pod {
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: lbls},
		Spec:       corev1.PodSpec{NodeName: nodeName, Containers: []corev1.Container{{Name: "c", Image: "app"}}},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning},
	}
}

// withWebhook adds a validating webhook "policy" over all pods, called through
// service policy-system/policy, with or without a ready endpoint.
func withWebhook(fp admissionregistrationv1.FailurePolicyType, ready bool) func(*testing.T, *View) {
	return func(t *testing.T, v *View) {
		v.ValidatingWebhooks = []admissionregistrationv1.ValidatingWebhookConfiguration{{
			ObjectMeta: metav1.ObjectMeta{Name: "policy"},
			Webhooks: []admissionregistrationv1.ValidatingWebhook{{
				Name:          "pods.policy.example.com",
				FailurePolicy: ptr.To(fp),
				ClientConfig:  admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{Namespace: "policy-system", Name: "policy", Port: ptr.To[int32](443)}},
				Rules: []admissionregistrationv1.RuleWithOperations{{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
					Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}},
				}},
			}},
		}}
		v.Services = append(v.Services, corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "policy-system", Name: "policy"},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "https", Port: 443, TargetPort: intstr.FromInt32(9443)}}}})
		v.EndpointSlices = map[string][]discoveryv1.EndpointSlice{"policy-system/policy": {{
			Ports:     []discoveryv1.EndpointPort{{Name: ptr.To("https"), Port: ptr.To[int32](9443)}},
			Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.5"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(ready)}}},
		}}}
	}
}

// withCert records a probed serving certificate for the "policy" webhook.
func withCert(t *testing.T, v *View, dnsNames []string, notAfter time.Time) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "policy.policy-system.svc"}, DNSNames: dnsNames,
		NotBefore: notAfter.Add(-48 * time.Hour), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	v.WebhookCerts = map[string]CertProbe{webhookKey("policy", "pods.policy.example.com"): {
		ServerName: "policy.policy-system.svc", Address: "10.0.0.5:9443", Chain: []*x509.Certificate{cert}}}
}

func selfSignedPEM(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "other CA"}, IsCA: true, BasicConstraintsValid: true,
		NotBefore: testNow.Add(-time.Hour), NotAfter: testNow.Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// withPDB adds PDB default/db over app=db pods on edge-1, allowing n disruptions.
func withPDB(n int32) func(*testing.T, *View) {
	return func(t *testing.T, v *View) {
		v.Pods = append(v.Pods, pod("default", "db-0", "edge-1", map[string]string{"app": "db"}))
		v.PDBs = []policyv1.PodDisruptionBudget{{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "db"},
			Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr.To(intstr.FromInt32(1)), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}},
			Status:     policyv1.PodDisruptionBudgetStatus{ExpectedPods: 1, CurrentHealthy: 1, DesiredHealthy: 1, DisruptionsAllowed: n},
		}}
	}
}

func withService(typ corev1.ServiceType, etp corev1.ServiceExternalTrafficPolicy) func(*testing.T, *View) {
	return func(t *testing.T, v *View) {
		v.Services = []corev1.Service{{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "ingress"},
			Spec: corev1.ServiceSpec{Type: typ, ExternalTrafficPolicy: etp}}}
	}
}

func withDeployment(replicas int32, startupProbe bool) func(*testing.T, *View) {
	return func(t *testing.T, v *View) {
		c := corev1.Container{Name: "api", Image: "api"}
		if startupProbe {
			c.StartupProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080)}}}
		}
		v.Deployments = []appsv1.Deployment{{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "api"},
			Spec: appsv1.DeploymentSpec{Replicas: ptr.To(replicas), Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{c}}}}}}
	}
}

// runState is a valid state of run r1 in phase over the view's three nodes (a worker
// batch of edge-1 in the Nodes phase).
func runState(phase upgrade.Phase, run string) upgrade.State {
	started := testNow.Add(-time.Hour)
	st := upgrade.State{SchemaVersion: upgrade.SchemaVersion, RunID: run, Phase: phase, StartedAt: started,
		Spec: upgrade.Spec{TargetVersion: "v1.36.1", FromVersion: "v1.35.2", Mode: upgrade.ModeAll,
			JobTimeout: upgrade.Duration{Duration: upgrade.DefaultJobTimeout}, DrainTimeout: upgrade.Duration{Duration: upgrade.DefaultDrainTimeout},
			PauseExpiry: upgrade.Duration{Duration: upgrade.DefaultPauseExpiry}, PreprocessImage: "p", UpgradeImage: "u"},
		Workers: 2, Masters: 1, Cap: 1, Ramp: 1}
	switch {
	case phase.Terminal():
		st.FinishedAt = &testNow
	case phase == upgrade.PhaseNodes:
		st.Batches = 1
		st.Current = &upgrade.Batch{Index: 1, Role: upgrade.RoleWorker, Nodes: []string{"edge-1"}, StartedAt: started}
	}
	return st
}

// largeRunState is a live run whose current batch names 1,000 nodes of 63 characters:
// store.Encode gzips it into binaryData (docs/design.md §4).
func largeRunState(t *testing.T) upgrade.State {
	st := runState(upgrade.PhaseNodes, "2611231000-abcd")
	st.Current.Nodes = nil
	for i := range 1000 {
		st.Current.Nodes = append(st.Current.Nodes, fmt.Sprintf("edge-%s-%05d", strings.Repeat("n", 52), i))
	}
	st.Workers, st.Cap = 10000, 1000
	cm := stateConfigMap(t, st)
	if _, gzipped := cm.BinaryData[store.KeyStateGzip]; !gzipped || cm.Data[store.KeyState] != "" {
		t.Fatalf("the state is not stored gzipped: data %v", cm.Data)
	}
	return st
}

// stateConfigMap is the state ConfigMap as the plugin writes it (store.Encode).
func stateConfigMap(t *testing.T, st upgrade.State) *corev1.ConfigMap {
	t.Helper()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: job.Namespace, Name: store.Name}}
	if err := store.Encode(st, cm); err != nil {
		t.Fatal(err)
	}
	return cm
}

func withHost(nodeName string, cgroup int, fs ...hostcheck.Finding) func(*testing.T, *View) {
	return func(t *testing.T, v *View) {
		v.Host[nodeName] = hostcheck.Result{Node: nodeName, CgroupVersion: cgroup, Findings: fs}
	}
}

func TestPlannedRuntime(t *testing.T) {
	for _, tc := range []struct {
		name, flag, runtime, target, want string
	}{
		{"auto, runtime too old", RuntimeAuto, "containerd://1.6.20~ds1", "", DefaultRuntimeVersion},
		{"auto, runtime fits", RuntimeAuto, "containerd://2.1.4", "", ""},
		{"auto, target on 1.x still", RuntimeAuto, "containerd://1.7.22", "v1.35.4", ""},
		{"auto, not containerd", RuntimeAuto, "cri-o://1.35.1", "", ""},
		{"asked, runtime fits", "v2.3.0", "containerd://2.1.4", "", "v2.3.0"},
		{"none", RuntimeNone, "containerd://1.6.20~ds1", "", ""},
		{"unset (library default)", "", "containerd://1.6.20~ds1", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newView(Options{TargetVersion: tc.target, RuntimeVersion: tc.flag})
			setRuntime(t, v, "edge-1", tc.runtime)
			if got := PlannedRuntime(v); got != tc.want {
				t.Errorf("PlannedRuntime = %q, want %q", got, tc.want)
			}
		})
	}
}
