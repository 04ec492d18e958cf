package precheck

import (
	"crypto/x509"
	"fmt"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/version"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/hostcheck"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/nodes"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// Source is one kind of data the gatherer reads. A check names the sources it needs;
// when one could not be read (RBAC, an API not served) the check is skipped, with the
// read error as the reason, instead of passing on missing data.
type Source string

const (
	SourceNodes            Source = "nodes"
	SourcePods             Source = "pods"
	SourceServices         Source = "services"
	SourcePDBs             Source = "poddisruptionbudgets"
	SourceWorkloads        Source = "deployments and statefulsets"
	SourceVolumes          Source = "persistentvolumes"
	SourceWebhooks         Source = "admission webhooks"
	SourceEndpoints        Source = "webhook endpoints"
	SourceAPIServices      Source = "apiservices"
	SourceHelm             Source = "helm releases"
	SourceAPIObjects       Source = "object metadata"
	SourceDiscovery        Source = "discovery"
	SourceMetrics          Source = "api server metrics"
	SourceUpgradeNS        Source = "kube-upgrade namespace"
	SourceHost             Source = "deep host checks"
	SourceReadyz           Source = "api server readyz"
	SourceNamespaces       Source = "namespaces"
	SourceWebhookCerts     Source = "webhook certificates"
	SourceControlPlanePods Source = "control-plane pods"
)

// View is everything the checks may look at, read once by the gatherer. Checks must
// treat it as read-only.
type View struct {
	Options Options
	// Now is when the view was gathered (checks never read a clock).
	Now time.Time

	ServerGitVersion string
	Server           *version.Version
	// Target is nil when no target was given or it did not parse (TargetErr says).
	Target    *version.Version
	TargetErr error

	Nodes             []corev1.Node
	Pods              []corev1.Pod
	Services          []corev1.Service
	PDBs              []policyv1.PodDisruptionBudget
	Deployments       []appsv1.Deployment
	StatefulSets      []appsv1.StatefulSet
	PersistentVolumes []corev1.PersistentVolume
	// Namespaces by name.
	Namespaces map[string]corev1.Namespace
	// ControlPlanePods are the kube-system pods labelled component=kube-apiserver,
	// kube-controller-manager or kube-scheduler (static pods of kubeadm clusters).
	ControlPlanePods []corev1.Pod

	ValidatingWebhooks []admissionregistrationv1.ValidatingWebhookConfiguration
	MutatingWebhooks   []admissionregistrationv1.MutatingWebhookConfiguration
	// EndpointSlices of the Services webhooks call, by "namespace/name".
	EndpointSlices map[string][]discoveryv1.EndpointSlice
	// WebhookCerts are the serving certificates fetched by TLS from webhook endpoints
	// reachable from here, by webhookKey(configuration, webhook).
	WebhookCerts map[string]CertProbe
	APIServices  []APIService

	// PreferredVersions maps an API group to the version the server prefers.
	PreferredVersions map[string]string
	// APIObjects are the metadata (last-applied apiVersion, managedFields) of every
	// object of a kind that appears in the removed-API table.
	APIObjects []APIObject
	Helm       []HelmRelease
	// Metrics are the samples of the API server's /metrics the checks use, by name.
	Metrics map[string][]Sample
	Readyz  string

	// The kube-upgrade namespace: pods, Jobs and the state ConfigMap (nil if absent).
	UpgradePods  []corev1.Pod
	UpgradeJobs  []batchv1.Job
	UpgradeState *corev1.ConfigMap

	// Host holds the deep-check results by node; HostErrors the nodes whose check
	// could not run or returned nothing usable.
	Host       map[string]hostcheck.Result
	HostErrors map[string]string

	// Unavailable lists the sources that could not be read, with why.
	Unavailable map[Source]error

	// nodeScope is computed from Nodes and Options on first use (see scope).
	nodeScope *runScope
}

// APIObject is the part of an object's metadata the removed-API checks read.
type APIObject struct {
	// APIVersion and Kind the object was listed with (the server's preferred version).
	APIVersion string
	Kind       string
	Namespace  string
	Name       string
	// LastApplied is the apiVersion/kind in kubectl.kubernetes.io/last-applied-configuration.
	LastApplied *TypeRef
	Managers    []ManagedFieldsEntry
}

// TypeRef is an apiVersion and kind.
type TypeRef struct {
	APIVersion string
	Kind       string
}

// ManagedFieldsEntry is one metadata.managedFields entry, without the field set.
type ManagedFieldsEntry struct {
	Manager    string
	Operation  string
	APIVersion string
	Time       time.Time
}

// HelmRelease is a decoded Helm v3 release record (the deployed revision).
type HelmRelease struct {
	Name      string
	Namespace string
	Revision  int
	Status    string
	Chart     string
	// Storage is "Secret" or "ConfigMap"; StorageName the object holding the release.
	Storage     string
	StorageName string
	Objects     []ManifestObject
	// Err says why the release could not be decoded.
	Err string
}

// ManifestObject is one document of a release manifest.
type ManifestObject struct {
	APIVersion string
	Kind       string
	Namespace  string
	Name       string
}

// Sample is one Prometheus sample.
type Sample struct {
	Labels map[string]string
	Value  float64
}

// APIService is an aggregated API registration and its availability.
type APIService struct {
	Name string
	// Service is "namespace/name"; "" for a local (built-in) APIService.
	Service   string
	Available bool
	Reason    string
	Message   string
}

// CertProbe is the outcome of fetching a webhook's serving certificate.
type CertProbe struct {
	// ServerName is the name the API server verifies (service DNS name or URL host).
	ServerName string
	Address    string
	Chain      []*x509.Certificate
	CABundle   []byte
	Err        string
}

func webhookKey(config, webhook string) string { return config + "/" + webhook }

// InScope reports whether the run covers the node: it matches the selector and the
// mode takes its role (upgrade.InMode).
func (v *View) InScope(n *corev1.Node) bool { return v.scope().in[n.Name] }

// Deferred reports whether the node is in scope but left for a later run
// (upgrade.Deferred: a NotReady worker with --skip-unready). node-not-ready lists it as
// a warning; the other node checks ignore it, and version-skew-after counts it as
// staying at its version.
func (v *View) Deferred(n *corev1.Node) bool { return v.scope().deferred[n.Name] }

// Upgrades reports whether this run upgrades the node: in scope and not deferred.
func (v *View) Upgrades(n *corev1.Node) bool { return v.InScope(n) && !v.Deferred(n) }

// ManagedControlPlane reports whether no control-plane node is visible (the control
// plane is run by a provider and its API server must already be at the target).
func (v *View) ManagedControlPlane() bool {
	for i := range v.Nodes {
		if nodes.Role(&v.Nodes[i]) == upgrade.RoleMaster {
			return false
		}
	}
	return true
}

// runScope is which nodes the run covers, by name, in the core's terms.
type runScope struct {
	in       map[string]bool
	deferred map[string]bool
}

// scope classifies the nodes once (pkg/nodes, as the runner does) and lets the core
// say which ones the run covers and defers. The pre-check's scope does not depend on
// the target, so that it is the same with and without --to: the core is given no
// target (upgrade.Upgraded is false without one), so a NotReady worker already at the
// target counts as deferred too (the run leaves it alone either way; a test in
// checks_test.go holds this).
func (v *View) scope() *runScope {
	if v.nodeScope != nil {
		return v.nodeScope
	}
	st := upgrade.State{Spec: upgrade.Spec{Mode: v.Options.mode(), SkipUnready: v.Options.SkipUnready}}
	sc := &runScope{in: map[string]bool{}, deferred: map[string]bool{}}
	var obs upgrade.Observation
	for i := range v.Nodes {
		n := &v.Nodes[i]
		if v.Options.Selector != nil && !v.Options.Selector.Matches(labels.Set(n.Labels)) {
			continue
		}
		un := nodes.ToNode(n, "")
		if upgrade.InMode(st.Spec.Mode, un.Role) {
			sc.in[n.Name] = true
			obs.Nodes = append(obs.Nodes, un)
		}
	}
	if v.Options.SkipUnready { // without it, a NotReady node is the pre-check's error
		for _, name := range upgrade.Deferred(st, obs) {
			sc.deferred[name] = true
		}
	}
	v.nodeScope = sc
	return sc
}

func nodeObject(name string) string { return "Node/" + name }

func object(kind, namespace, name string) string {
	if namespace == "" {
		return kind + "/" + name
	}
	return fmt.Sprintf("%s/%s/%s", kind, namespace, name)
}
