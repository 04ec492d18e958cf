package precheck

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/version"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/metadata"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/store"
)

// pageSize bounds each list call; large clusters are read in pages.
const pageSize = 500

const lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// gather reads everything the checks need, once. Reads that fail are recorded in
// View.Unavailable (the checks needing them are skipped); only the server version and
// the node list are required.
func gather(ctx context.Context, c Clients, o Options) (*View, error) {
	v := emptyView(o)
	if err := gatherRequired(ctx, c, v); err != nil {
		return nil, err
	}
	fail := v.failer()
	var wg sync.WaitGroup
	for _, read := range optionalReads(ctx, c, v, fail) {
		wg.Go(read)
	}
	wg.Wait()

	for _, p := range v.Pods {
		if p.Namespace == "kube-system" && isControlPlaneComponent(p.Labels["component"]) {
			v.ControlPlanePods = append(v.ControlPlanePods, p)
		}
	}
	// Both need what the parallel reads found: webhooks, then their services' endpoints.
	if err := gatherWebhookEndpoints(ctx, c, v); err != nil {
		fail(SourceEndpoints, err)
	}
	if o.ProbeWebhookTLS {
		probeWebhookCerts(ctx, c, v)
	}
	return v, nil
}

func emptyView(o Options) *View {
	v := &View{
		Options:        o,
		Now:            time.Now(),
		Unavailable:    map[Source]error{},
		Namespaces:     map[string]corev1.Namespace{},
		EndpointSlices: map[string][]discoveryv1.EndpointSlice{},
		WebhookCerts:   map[string]CertProbe{},
		Metrics:        map[string][]Sample{},
	}
	if o.Now != nil {
		v.Now = o.Now()
	}
	v.Target, v.TargetErr = parseTarget(o.TargetVersion)
	return v
}

// gatherRequired reads what no check can do without: the server version and the nodes.
func gatherRequired(ctx context.Context, c Clients, v *View) error {
	info, err := c.Kube.Discovery().ServerVersion()
	if err != nil {
		return fmt.Errorf("read the API server version: %w (check the kubeconfig and that the cluster is reachable)", err)
	}
	v.ServerGitVersion = info.GitVersion
	if v.Server, err = version.ParseGeneric(info.GitVersion); err != nil {
		return fmt.Errorf("parse the API server version %q: %w", info.GitVersion, err)
	}
	if v.Nodes, err = listAll(ctx, c.Kube.CoreV1().Nodes().List, func(l *corev1.NodeList) []corev1.Node { return l.Items }); err != nil {
		return fmt.Errorf("list nodes: %w", err)
	}
	return nil
}

// failer records the first error of each source; the reads run in parallel.
func (v *View) failer() func(Source, error) {
	var mu sync.Mutex
	return func(s Source, err error) {
		mu.Lock()
		defer mu.Unlock()
		if _, ok := v.Unavailable[s]; !ok {
			v.Unavailable[s] = err
		}
	}
}

// optionalReads are the independent reads, run in parallel; each records its failure
// against its source and leaves its part of the view empty.
func optionalReads(ctx context.Context, c Clients, v *View, fail func(Source, error)) []func() {
	kube := c.Kube
	reads := []func(){
		func() {
			readList(ctx, kube.CoreV1().Pods("").List, podItems, &v.Pods, fail, SourcePods, SourceControlPlanePods)
		},
		func() {
			readList(ctx, kube.CoreV1().Services("").List, serviceItems, &v.Services, fail, SourceServices)
		},
		func() {
			readList(ctx, kube.PolicyV1().PodDisruptionBudgets("").List, pdbItems, &v.PDBs, fail, SourcePDBs)
		},
		func() {
			readList(ctx, kube.AppsV1().Deployments("").List, deploymentItems, &v.Deployments, fail, SourceWorkloads)
			readList(ctx, kube.AppsV1().StatefulSets("").List, statefulSetItems, &v.StatefulSets, fail, SourceWorkloads)
		},
		func() {
			readList(ctx, kube.CoreV1().PersistentVolumes().List, pvItems, &v.PersistentVolumes, fail, SourceVolumes)
		},
		func() {
			var nss []corev1.Namespace
			readList(ctx, kube.CoreV1().Namespaces().List, namespaceItems, &nss, fail, SourceNamespaces)
			for _, ns := range nss {
				v.Namespaces[ns.Name] = ns
			}
		},
		func() {
			readList(ctx, kube.AdmissionregistrationV1().ValidatingWebhookConfigurations().List, validatingItems, &v.ValidatingWebhooks, fail, SourceWebhooks)
			readList(ctx, kube.AdmissionregistrationV1().MutatingWebhookConfigurations().List, mutatingItems, &v.MutatingWebhooks, fail, SourceWebhooks)
		},
	}
	for src, read := range map[Source]func(context.Context, Clients, *View) error{
		SourceAPIServices: gatherAPIServices,
		SourceHelm:        gatherHelm,
		SourceMetrics:     gatherMetrics,
		SourceReadyz:      gatherReadyz,
		SourceUpgradeNS:   gatherUpgradeNamespace,
	} {
		reads = append(reads, func() {
			if err := read(ctx, c, v); err != nil {
				fail(src, err)
			}
		})
	}
	return append(reads, func() {
		if err := gatherAPIObjects(ctx, c, v, fail); err != nil {
			fail(SourceAPIObjects, err)
		}
	})
}

// readList lists every item of one resource into dst, or records err for sources.
func readList[T any, L interface{ GetContinue() string }](ctx context.Context, list func(context.Context, metav1.ListOptions) (L, error),
	items func(L) []T, dst *[]T, fail func(Source, error), sources ...Source) {
	got, err := listAll(ctx, list, items)
	if err != nil {
		for _, s := range sources {
			fail(s, err)
		}
		return
	}
	*dst = got
}

func podItems(l *corev1.PodList) []corev1.Pod                                     { return l.Items }
func serviceItems(l *corev1.ServiceList) []corev1.Service                         { return l.Items }
func pdbItems(l *policyv1.PodDisruptionBudgetList) []policyv1.PodDisruptionBudget { return l.Items }
func deploymentItems(l *appsv1.DeploymentList) []appsv1.Deployment                { return l.Items }
func statefulSetItems(l *appsv1.StatefulSetList) []appsv1.StatefulSet             { return l.Items }
func pvItems(l *corev1.PersistentVolumeList) []corev1.PersistentVolume            { return l.Items }
func namespaceItems(l *corev1.NamespaceList) []corev1.Namespace                   { return l.Items }
func validatingItems(l *admissionregistrationv1.ValidatingWebhookConfigurationList) []admissionregistrationv1.ValidatingWebhookConfiguration {
	return l.Items
}
func mutatingItems(l *admissionregistrationv1.MutatingWebhookConfigurationList) []admissionregistrationv1.MutatingWebhookConfiguration {
	return l.Items
}

func isControlPlaneComponent(c string) bool {
	return c == "kube-apiserver" || c == "kube-controller-manager" || c == "kube-scheduler"
}

// listAll lists every item of a resource in pages of pageSize.
func listAll[T any, L interface{ GetContinue() string }](ctx context.Context, list func(context.Context, metav1.ListOptions) (L, error), items func(L) []T) ([]T, error) {
	var out []T
	opts := metav1.ListOptions{Limit: pageSize}
	for {
		l, err := list(ctx, opts)
		if err != nil {
			return nil, err
		}
		out = append(out, items(l)...)
		if opts.Continue = l.GetContinue(); opts.Continue == "" {
			return out, nil
		}
	}
}

// errNoRESTConfig is recorded for sources that need a client only a REST config gives.
var errNoRESTConfig = errors.New("no REST config to build the client")

func dynamicClient(c Clients) (dynamic.Interface, error) {
	if c.Dynamic != nil {
		return c.Dynamic, nil
	}
	if c.Rest == nil {
		return nil, errNoRESTConfig
	}
	return dynamic.NewForConfig(c.Rest)
}

func metadataClient(c Clients) (metadata.Interface, error) {
	if c.Metadata != nil {
		return c.Metadata, nil
	}
	if c.Rest == nil {
		return nil, errNoRESTConfig
	}
	return metadata.NewForConfig(c.Rest)
}

// rawGet returns the GET function for non-resource paths.
func rawGet(c Clients) (func(ctx context.Context, path string) ([]byte, error), error) {
	if c.Raw != nil {
		return c.Raw, nil
	}
	rc := c.Kube.Discovery().RESTClient()
	if rc == nil {
		return nil, errNoRESTConfig
	}
	return func(ctx context.Context, path string) ([]byte, error) {
		return rc.Get().AbsPath(path).DoRaw(ctx)
	}, nil
}

func gatherAPIServices(ctx context.Context, c Clients, v *View) error {
	dc, err := dynamicClient(c)
	if err != nil {
		return err
	}
	gvr := schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}
	items, err := listAll(ctx, dc.Resource(gvr).List, func(l *unstructured.UnstructuredList) []unstructured.Unstructured { return l.Items })
	if err != nil {
		return err
	}
	for _, u := range items {
		s := APIService{Name: u.GetName()}
		if ns, _, _ := unstructured.NestedString(u.Object, "spec", "service", "namespace"); ns != "" {
			name, _, _ := unstructured.NestedString(u.Object, "spec", "service", "name")
			s.Service = ns + "/" + name
		}
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		for _, ci := range conds {
			cm, ok := ci.(map[string]any)
			if !ok || cm["type"] != "Available" {
				continue
			}
			s.Available = cm["status"] == "True"
			s.Reason, _ = cm["reason"].(string)
			s.Message, _ = cm["message"].(string)
		}
		v.APIServices = append(v.APIServices, s)
	}
	return nil
}

// helmSelector selects the deployed revision records of Helm v3 (both drivers).
const helmSelector = "owner=helm,status=deployed"

func gatherHelm(ctx context.Context, c Clients, v *View) error {
	secrets, err := listAll(ctx, func(ctx context.Context, o metav1.ListOptions) (*corev1.SecretList, error) {
		o.LabelSelector = helmSelector
		return c.Kube.CoreV1().Secrets("").List(ctx, o)
	}, func(l *corev1.SecretList) []corev1.Secret { return l.Items })
	if apierrors.IsForbidden(err) {
		// Reading Secrets is opt-in: the check is skipped, never failed, without it.
		return fmt.Errorf("no permission to list Secrets, where Helm keeps its releases "+
			"(to check them, bind the role in manifests/optional/rbac-helm-releases.yaml): %w", err)
	}
	if err != nil {
		return fmt.Errorf("list Helm release secrets: %w", err)
	}
	cms, err := listAll(ctx, func(ctx context.Context, o metav1.ListOptions) (*corev1.ConfigMapList, error) {
		o.LabelSelector = helmSelector
		return c.Kube.CoreV1().ConfigMaps("").List(ctx, o)
	}, func(l *corev1.ConfigMapList) []corev1.ConfigMap { return l.Items })
	if err != nil {
		return fmt.Errorf("list Helm release configmaps: %w", err)
	}
	latest := map[string]HelmRelease{}
	keep := func(r HelmRelease) {
		k := r.Namespace + "/" + r.Name
		if old, ok := latest[k]; !ok || r.Revision > old.Revision {
			latest[k] = r
		}
	}
	for _, s := range secrets {
		if s.Type != "" && s.Type != "helm.sh/release.v1" {
			continue
		}
		r := decodeHelmRelease(s.Data["release"])
		r.Storage, r.StorageName = "Secret", s.Name
		fillHelmIdentity(&r, s.Namespace, s.Labels)
		keep(r)
	}
	for _, cm := range cms {
		r := decodeHelmRelease([]byte(cm.Data["release"]))
		r.Storage, r.StorageName = "ConfigMap", cm.Name
		fillHelmIdentity(&r, cm.Namespace, cm.Labels)
		keep(r)
	}
	keys := make([]string, 0, len(latest))
	for k := range latest {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v.Helm = append(v.Helm, latest[k])
	}
	return nil
}

// gatherAPIObjects lists the metadata of every object whose kind appears in the
// removed-API table (only those can carry a removed apiVersion), through the metadata
// client so object bodies are never transferred.
func gatherAPIObjects(ctx context.Context, c Clients, v *View, fail func(Source, error)) error {
	d := c.Kube.Discovery()
	groups, err := d.ServerGroups()
	if err != nil {
		fail(SourceDiscovery, err)
		return fmt.Errorf("discover API groups: %w", err)
	}
	v.PreferredVersions = map[string]string{}
	for _, g := range groups.Groups {
		v.PreferredVersions[g.Name] = g.PreferredVersion.Version
	}
	lists, err := discovery.ServerPreferredResources(d)
	if err != nil && !discovery.IsGroupDiscoveryFailedError(err) {
		return fmt.Errorf("discover API resources: %w", err)
	}
	mc, err := metadataClient(c)
	if err != nil {
		return err
	}
	kinds := removedKinds()
	type target struct {
		gv   schema.GroupVersion
		kind string
		gvr  schema.GroupVersionResource
	}
	var targets []target
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range l.APIResources {
			if !kinds[r.Kind] || r.Kind == "Event" || !hasVerb(r.Verbs, "list") || strings.Contains(r.Name, "/") {
				continue
			}
			targets = append(targets, target{gv, r.Kind, gv.WithResource(r.Name)})
		}
	}
	// About forty small lists, a few at a time: one after the other they were most of
	// the pre-check's time (a round trip each), and `start` waits for it.
	found := make([][]APIObject, len(targets))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(apiObjectLists)
	for i, t := range targets {
		g.Go(func() error {
			items, err := listAll(gctx, mc.Resource(t.gvr).List, func(l *metav1.PartialObjectMetadataList) []metav1.PartialObjectMetadata { return l.Items })
			if err != nil {
				if apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err) {
					return nil
				}
				return fmt.Errorf("list %s: %w", t.gvr.GroupResource(), err)
			}
			for _, it := range items {
				found[i] = append(found[i], apiObjectOf(t.gv.String(), t.kind, &it))
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	var objs []APIObject
	for _, f := range found {
		objs = append(objs, f...) // in discovery order, as listed before
	}
	v.APIObjects = objs
	return nil
}

func apiObjectOf(apiVersion, kind string, m *metav1.PartialObjectMetadata) APIObject {
	o := APIObject{APIVersion: apiVersion, Kind: kind, Namespace: m.Namespace, Name: m.Name}
	if la := m.Annotations[lastAppliedAnnotation]; la != "" {
		var t struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if json.Unmarshal([]byte(la), &t) == nil && t.APIVersion != "" {
			o.LastApplied = &TypeRef{APIVersion: t.APIVersion, Kind: t.Kind}
		}
	}
	for _, mf := range m.ManagedFields {
		e := ManagedFieldsEntry{Manager: mf.Manager, Operation: string(mf.Operation), APIVersion: mf.APIVersion}
		if mf.Time != nil {
			e.Time = mf.Time.Time
		}
		o.Managers = append(o.Managers, e)
	}
	return o
}

func hasVerb(verbs []string, verb string) bool {
	for _, v := range verbs {
		if v == verb {
			return true
		}
	}
	return false
}

// apiObjectLists bounds the concurrent lists of gatherAPIObjects.
const apiObjectLists = 8

// Metrics the checks read from the API server's /metrics.
const (
	metricDeprecatedAPIs        = "apiserver_requested_deprecated_apis"
	metricWebhookMissingSAN     = "apiserver_webhooks_x509_missing_san_total"
	metricAggregatorMissingSAN  = "apiserver_kube_aggregator_x509_missing_san_total"
	metricUnavailableAPIService = "aggregator_unavailable_apiservice"
)

func gatherMetrics(ctx context.Context, c Clients, v *View) error {
	get, err := rawGet(c)
	if err != nil {
		return err
	}
	body, err := get(ctx, "/metrics")
	if err != nil {
		return fmt.Errorf("GET /metrics: %w", err)
	}
	v.Metrics = parseMetrics(body, metricDeprecatedAPIs, metricWebhookMissingSAN, metricAggregatorMissingSAN, metricUnavailableAPIService)
	return nil
}

func gatherReadyz(ctx context.Context, c Clients, v *View) error {
	get, err := rawGet(c)
	if err != nil {
		return err
	}
	body, err := get(ctx, "/readyz")
	switch {
	case err == nil:
		v.Readyz = string(body)
	case apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) || apierrors.IsNotFound(err):
		return fmt.Errorf("GET /readyz: %w", err)
	default:
		v.Readyz = "not ready: " + err.Error()
	}
	return nil
}

func gatherUpgradeNamespace(ctx context.Context, c Clients, v *View) error {
	var err error
	if v.UpgradePods, err = listAll(ctx, c.Kube.CoreV1().Pods(job.Namespace).List, func(l *corev1.PodList) []corev1.Pod { return l.Items }); err != nil {
		return err
	}
	if v.UpgradeJobs, err = listAll(ctx, c.Kube.BatchV1().Jobs(job.Namespace).List, func(l *batchv1.JobList) []batchv1.Job { return l.Items }); err != nil {
		return err
	}
	cm, err := c.Kube.CoreV1().ConfigMaps(job.Namespace).Get(ctx, store.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return err
	default:
		v.UpgradeState = cm
	}
	return nil
}

// gatherWebhookEndpoints reads the EndpointSlices of every Service a webhook calls.
func gatherWebhookEndpoints(ctx context.Context, c Clients, v *View) error {
	for _, ref := range webhookServices(v) {
		ns, name := splitKey(ref)
		l, err := c.Kube.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + name})
		if err != nil {
			return fmt.Errorf("list endpointslices of service %s: %w", ref, err)
		}
		v.EndpointSlices[ref] = l.Items
	}
	return nil
}

func splitKey(k string) (string, string) {
	ns, name, _ := strings.Cut(k, "/")
	return ns, name
}
