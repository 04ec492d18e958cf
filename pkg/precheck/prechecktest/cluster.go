// Package prechecktest builds fake clusters for tests of the pre-check and of the
// commands that run it: a fake clientset, fake dynamic and metadata clients, and canned
// /metrics and /readyz answers, from one list of objects.
package prechecktest

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/version"
	fakediscovery "k8s.io/client-go/discovery/fake"
	fakedynamic "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	fakemetadata "k8s.io/client-go/metadata/fake"
	"k8s.io/utils/ptr"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/precheck"
)

// Now is the time the fixtures are relative to (a clock for the code under test).
func Now() time.Time { return time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC) }

// Cluster is a fake cluster. Objects of the typed clientset go to Kube; APIServices
// (unstructured) to Dynamic; PartialObjectMetadata to Metadata.
type Cluster struct {
	Kube     *fake.Clientset
	Dynamic  *fakedynamic.FakeDynamicClient
	Metadata *fakemetadata.FakeMetadataClient
	// Metrics and Readyz are the bodies of GET /metrics and /readyz.
	Metrics string
	Readyz  string
}

// NewCluster builds a cluster whose API server reports serverVersion.
func NewCluster(serverVersion string, objs ...runtime.Object) *Cluster {
	var kube, dyn, md []runtime.Object
	for _, o := range objs {
		switch o.(type) {
		case *unstructured.Unstructured:
			dyn = append(dyn, o)
		case *metav1.PartialObjectMetadata:
			md = append(md, o)
		default:
			kube = append(kube, o)
		}
	}
	mdScheme := fakemetadata.NewTestScheme()
	for _, o := range md {
		gvk := o.GetObjectKind().GroupVersionKind()
		if !mdScheme.Recognizes(gvk) {
			mdScheme.AddKnownTypeWithName(gvk, &metav1.PartialObjectMetadata{})
			mdScheme.AddKnownTypeWithName(gvk.GroupVersion().WithKind(gvk.Kind+"List"), &metav1.PartialObjectMetadataList{})
		}
	}
	c := &Cluster{
		Kube:     fake.NewClientset(kube...),
		Dynamic:  fakedynamic.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}: "APIServiceList"}, dyn...),
		Metadata: fakemetadata.NewSimpleMetadataClient(mdScheme, md...),
		Readyz:   "ok",
	}
	versionConfigMaps(c.Kube)
	d := c.Kube.Discovery().(*fakediscovery.FakeDiscovery)
	d.FakedServerVersion = &version.Info{GitVersion: serverVersion, Major: "1"}
	d.Resources = []*metav1.APIResourceList{
		{GroupVersion: "v1", APIResources: []metav1.APIResource{{Name: "pods", Kind: "Pod", Namespaced: true, Verbs: []string{"list"}}}},
		{GroupVersion: "apps/v1", APIResources: []metav1.APIResource{{Name: "deployments", Kind: "Deployment", Namespaced: true, Verbs: []string{"list"}},
			{Name: "deployments/scale", Kind: "Scale", Namespaced: true, Verbs: []string{"get"}}}},
		{GroupVersion: "storagemigration.k8s.io/v1beta1", APIResources: []metav1.APIResource{{Name: "storageversionmigrations", Kind: "StorageVersionMigration", Verbs: []string{"list"}}}},
	}
	return c
}

// Clients returns the clients of the pre-check. Webhook endpoints are never reachable.
func (c *Cluster) Clients() precheck.Clients {
	return precheck.Clients{
		Kube:     c.Kube,
		Dynamic:  c.Dynamic,
		Metadata: c.Metadata,
		Raw: func(_ context.Context, path string) ([]byte, error) {
			switch path {
			case "/metrics":
				return []byte(c.Metrics), nil
			case "/readyz":
				return []byte(c.Readyz), nil
			}
			return nil, fmt.Errorf("GET %s: not found", path)
		},
		DialTLS: func(context.Context, string, string) ([]*x509.Certificate, error) {
			return nil, errors.New("connection refused")
		},
	}
}

// Node is a Ready node at kubelet v1.35.2 on containerd 2.
func Node(name string, controlPlane bool) *corev1.Node {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}},
		Status: corev1.NodeStatus{
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
				LastHeartbeatTime: metav1.NewTime(Now().Add(-10 * time.Second))}},
			NodeInfo: corev1.NodeSystemInfo{KubeletVersion: "v1.35.2", ContainerRuntimeVersion: "containerd://2.1.4"},
		},
	}
	if controlPlane {
		n.Labels["node-role.kubernetes.io/control-plane"] = ""
	}
	return n
}

// Healthy is a clean cluster at v1.35.2: a control-plane node, two workers, a
// deployment with two replicas and a PDB allowing one disruption, a webhook with a
// ready endpoint that excludes kube-system, and an available APIService.
func Healthy() []runtime.Object {
	return []runtime.Object{
		Node("cp-1", true), Node("edge-1", false), Node("edge-2", false),
		namespace("default"), namespace("kube-system"), namespace("kube-node-lease"),
		pod("default", "web-1", "edge-1", map[string]string{"app": "web"}),
		pod("default", "web-2", "edge-2", map[string]string{"app": "web"}),
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"}, Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](2)}},
		pdb("default", "web", "web", 1),
		webhook("policy", admissionregistrationv1.Fail, &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
			Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"kube-system", "kube-node-lease"}}}}),
		service("policy-system", "policy", corev1.ServiceTypeClusterIP, ""),
		endpointSlice("policy-system", "policy", true),
		apiService("v1beta1.metrics.k8s.io", "kube-system/metrics-server", true),
		metadataObject("apps/v1", "Deployment", "default", "web", "apps/v1"),
	}
}

// Planted is Healthy plus one instance of each problem the lab plants: an object last
// applied through a removed version, a Helm release with a removed API, a webhook with
// no endpoints and failurePolicy Fail, a zero-disruption PDB, an unready node and a
// containerd 1.x node.
func Planted() []runtime.Object {
	objs := Healthy()
	unready := Node("edge-3", false)
	unready.Status.Conditions[0] = corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionUnknown, Reason: "NodeStatusUnknown",
		Message: "Kubelet stopped posting node status.", LastHeartbeatTime: metav1.NewTime(Now().Add(-3 * time.Hour))}
	old := Node("edge-4", false)
	old.Status.NodeInfo.ContainerRuntimeVersion = "containerd://1.7.22"
	objs = append(objs, unready, old,
		metadataObject("storagemigration.k8s.io/v1beta1", "StorageVersionMigration", "", "legacy", "storagemigration.k8s.io/v1alpha1"),
		helmSecret("ops", "migrator", 2, "apiVersion: storagemigration.k8s.io/v1alpha1\nkind: StorageVersionMigration\nmetadata:\n  name: m1\n"),
		webhook("broken", admissionregistrationv1.Fail, nil),
		service("broken-system", "broken", corev1.ServiceTypeClusterIP, ""),
		pod("default", "db-0", "edge-1", map[string]string{"app": "db"}),
		pdb("default", "db", "db", 0),
	)
	return objs
}

func namespace(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/metadata.name": name}}}
}

func pod(ns, name, nodeName string, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec:       corev1.PodSpec{NodeName: nodeName, Containers: []corev1.Container{{Name: "c", Image: "app"}}},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning},
	}
}

func pdb(ns, name, app string, allowed int32) *policyv1.PodDisruptionBudget {
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr.To(intstr.FromInt32(1)), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}},
		Status:     policyv1.PodDisruptionBudgetStatus{ExpectedPods: 2, CurrentHealthy: 2, DesiredHealthy: 2 - allowed, DisruptionsAllowed: allowed},
	}
}

// webhook is a validating webhook over pods, served by service <name>-system/<name>.
func webhook(name string, fp admissionregistrationv1.FailurePolicyType, nsSel *metav1.LabelSelector) *admissionregistrationv1.ValidatingWebhookConfiguration {
	return &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name:              "pods." + name + ".example.com",
			FailurePolicy:     ptr.To(fp),
			NamespaceSelector: nsSel,
			ClientConfig:      admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{Namespace: name + "-system", Name: name, Port: ptr.To[int32](443)}},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}},
			}},
		}},
	}
}

func service(ns, name string, typ corev1.ServiceType, etp corev1.ServiceExternalTrafficPolicy) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{Type: typ, ExternalTrafficPolicy: etp, Ports: []corev1.ServicePort{{Name: "https", Port: 443, TargetPort: intstr.FromInt32(9443)}}}}
}

func endpointSlice(ns, svc string, ready bool) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: svc + "-abc", Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("https"), Port: ptr.To[int32](9443)}},
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"127.0.0.1"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(ready)}}},
	}
}

func apiService(name, svc string, available bool) *unstructured.Unstructured {
	status := "False"
	if available {
		status = "True"
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
		"metadata": map[string]any{"name": name},
		"status":   map[string]any{"conditions": []any{map[string]any{"type": "Available", "status": status, "reason": "Passed"}}},
	}}
	if svc != "" {
		ns, n, _ := strings.Cut(svc, "/")
		_ = unstructured.SetNestedMap(u.Object, map[string]any{"namespace": ns, "name": n}, "spec", "service")
	}
	return u
}

// metadataObject is an object's metadata as the metadata client lists it, with a
// last-applied annotation and a managedFields entry written through appliedVersion.
func metadataObject(apiVersion, kind, ns, name, appliedVersion string) *metav1.PartialObjectMetadata {
	la, _ := json.Marshal(map[string]any{"apiVersion": appliedVersion, "kind": kind, "metadata": map[string]any{"name": name}})
	return &metav1.PartialObjectMetadata{
		TypeMeta: metav1.TypeMeta{APIVersion: apiVersion, Kind: kind},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name,
			Annotations:   map[string]string{"kubectl.kubernetes.io/last-applied-configuration": string(la)},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl-client-side-apply", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: appliedVersion, Time: ptr.To(metav1.NewTime(Now().Add(-time.Hour)))}},
		},
	}
}

// helmSecret is a Helm v3 release Secret (status deployed) holding manifest.
func helmSecret(ns, name string, revision int, manifest string) *corev1.Secret {
	js, _ := json.Marshal(map[string]any{"name": name, "namespace": ns, "version": revision, "manifest": manifest,
		"info": map[string]any{"status": "deployed"}, "chart": map[string]any{"metadata": map[string]any{"name": name, "version": "0.1.0"}}})
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, _ = zw.Write(js)
	_ = zw.Close()
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("sh.helm.release.v1.%s.v%d", name, revision),
			Labels: map[string]string{"owner": "helm", "status": "deployed", "name": name, "version": fmt.Sprint(revision)}},
		Type: "helm.sh/release.v1",
		Data: map[string][]byte{"release": []byte(base64.StdEncoding.EncodeToString(b.Bytes()))},
	}
}

// FailedUpgradePod is a failed node-upgrade pod left in kube-upgrade.
func FailedUpgradePod(node string) *corev1.Pod {
	p := pod(job.Namespace, "eu-r1-"+node, node, map[string]string{job.LabelManagedBy: job.ManagedBy, job.LabelRun: "r1"})
	p.Status.Phase = corev1.PodFailed
	p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: job.ContainerPreprocess,
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Message: "swap is on"}}}}
	return p
}
