package components

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/internal/golden"
)

// fixture is the cluster of testdata/: the add-ons' own manifests, the nodes, and the
// pods their controllers would create (one per node for DaemonSets and static pods, the
// replicas for Deployments). flannel on edge-b-0 still runs the previous release.
func fixture(t *testing.T, target string) Inputs {
	t.Helper()
	in := Inputs{Namespaces: Namespaces([]string{"kube-flannel"}), ServerVersion: "v1.35.4", Target: target}
	var static []corev1.Pod
	for _, f := range []string{"nodes.yaml", "kube-proxy.yaml", "coredns.yaml", "kube-flannel.yaml", "calico.yaml", "openyurt.yaml", "metrics-server.yaml"} {
		for _, obj := range decodeFile(t, filepath.Join("testdata", f)) {
			switch o := obj.(type) {
			case *corev1.Node:
				in.Nodes = append(in.Nodes, *o)
			case *appsv1.DaemonSet:
				in.DaemonSets = append(in.DaemonSets, *o)
			case *appsv1.Deployment:
				in.Deployments = append(in.Deployments, *o)
			case *corev1.Pod:
				static = append(static, *o)
			default:
				t.Fatalf("%s: unexpected %T", f, obj)
			}
		}
	}
	for i := range in.DaemonSets {
		ds := &in.DaemonSets[i]
		ds.Status.DesiredNumberScheduled = int32(len(in.Nodes))
		for _, n := range in.Nodes {
			p := podOf(ds.Namespace, ds.Name+"-"+n.Name, ds.Spec.Template.Spec, metav1.OwnerReference{Kind: "DaemonSet", Name: ds.Name})
			p.Spec.NodeName = n.Name
			if ds.Name == "kube-flannel-ds" && n.Name == "edge-b-0" {
				p.Spec.Containers[0].Image = "ghcr.io/flannel-io/flannel:v0.25.7"
			}
			in.Pods = append(in.Pods, p)
		}
	}
	for _, d := range in.Deployments {
		for i := range int(ptrOr(d.Spec.Replicas, 1)) {
			p := podOf(d.Namespace, fmt.Sprintf("%s-5d78c9869d-%d", d.Name, i), d.Spec.Template.Spec, metav1.OwnerReference{Kind: "ReplicaSet", Name: d.Name + "-5d78c9869d"})
			p.Labels = d.Spec.Template.Labels
			p.Spec.NodeName = "master-0"
			in.Pods = append(in.Pods, p)
		}
	}
	for _, sp := range static {
		for _, n := range in.Nodes[1:] { // yurthub runs on the edge nodes
			p := podOf(sp.Namespace, sp.Name+"-"+n.Name, sp.Spec, metav1.OwnerReference{Kind: "Node", Name: n.Name})
			p.Spec.NodeName = n.Name
			in.Pods = append(in.Pods, p)
		}
	}
	return in
}

func podOf(ns, name string, spec corev1.PodSpec, owner metav1.OwnerReference) corev1.Pod {
	ctrl := true
	owner.Controller = &ctrl
	p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, OwnerReferences: []metav1.OwnerReference{owner}}}
	p.Spec = *spec.DeepCopy()
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	return p
}

func decodeFile(t *testing.T, path string) []any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []any
	r := yaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := r.Read()
		if err != nil {
			break
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(doc, nil, nil)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, obj)
	}
	return out
}

func find(t *testing.T, r *Report, name string) Component {
	t.Helper()
	for _, c := range r.Components {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("component %s not found in %v", name, r.Components)
	return Component{}
}

func TestBuildFixturesFor136(t *testing.T) {
	r, err := Build(fixture(t, "1.36.3"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Target != "v1.36.3" || r.Kind != Kind || r.APIVersion == "" {
		t.Errorf("target %q kind %q apiVersion %q", r.Target, r.Kind, r.APIVersion)
	}
	for _, tc := range []struct {
		name, kind string
		cat        Category
		desired    int
		versions   string
		skew       bool
		expected   string
		action     Action
		reason     string
	}{
		{"kube-proxy", "DaemonSet", CategoryKubeProxy, 3, "v1.35.4", false, "v1.36.3", ActionMust, "a minor behind"},
		{"coredns", "Deployment", CategoryDNS, 2, "v1.13.1", false, "v1.14.2", ActionShould, "older than the v1.14.2 kubeadm deploys for 1.36"},
		{"yurt-hub", "StaticPod", CategoryEdge, 2, "v1.5.0", false, "", ActionNone, ""},
		{"raven-agent-ds", "DaemonSet", CategoryEdge, 3, "v0.4.1", false, "", ActionNone, ""},
		{"yurt-manager", "Deployment", CategoryEdge, 1, "v1.5.0", false, "", ActionNone, ""},
		{"kube-flannel-ds", "DaemonSet", CategoryCNI, 3, "v0.26.1", true, "", ActionShould, "2 image versions run at once (v0.26.1 on 2, v0.25.7 on 1)"},
		{"calico-node", "DaemonSet", CategoryCNI, 3, "v3.29.1", false, "", ActionNone, ""},
		{"calico-kube-controllers", "Deployment", CategoryCNI, 1, "v3.29.1", false, "", ActionNone, ""},
		{"metrics-server", "Deployment", CategoryMetrics, 1, "v0.7.2", false, "", ActionNone, ""},
	} {
		c := find(t, r, tc.name)
		if c.Kind != tc.kind || c.Category != tc.cat || c.Desired != tc.desired || c.Versions[0].Version != tc.versions ||
			c.Skew != tc.skew || c.Expected != tc.expected || c.Action != tc.action || !strings.Contains(c.Reason, tc.reason) {
			t.Errorf("%s: got kind %s category %s desired %d versions %v skew %v expected %q action %q reason %q",
				tc.name, c.Kind, c.Category, c.Desired, c.Versions, c.Skew, c.Expected, c.Action, c.Reason)
		}
		if len(c.Pods) != tc.desired {
			t.Errorf("%s: %d pods, want %d", tc.name, len(c.Pods), tc.desired)
		}
	}
	flannel := find(t, r, "kube-flannel-ds")
	if p := flannel.Pods[1]; p.Node != "edge-b-0" || p.Images[0] != "kube-flannel=ghcr.io/flannel-io/flannel:v0.25.7" {
		t.Errorf("flannel's pod on edge-b-0: %+v", p)
	}
	wantRuntime := map[string]Action{"master-0": ActionMust, "edge-a-0": ActionMust, "edge-b-0": ActionNone}
	for _, nr := range r.Runtimes {
		if nr.Action != wantRuntime[nr.Node] {
			t.Errorf("runtime of %s (%s): action %q, want %q (%s)", nr.Node, nr.Runtime, nr.Action, wantRuntime[nr.Node], nr.Reason)
		}
		if nr.Action == ActionMust && !strings.Contains(nr.Reason, "needs containerd 2.x") {
			t.Errorf("runtime of %s: reason %q does not say what the target needs", nr.Node, nr.Reason)
		}
	}
	var out bytes.Buffer
	if err := r.PrintTable(&out); err != nil {
		t.Fatal(err)
	}
	golden.Compare(t, "testdata/components-1.36.golden", out.String())
	js, err := sigsyaml.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	golden.Compare(t, "testdata/components-1.36-yaml.golden", string(js))
}

// At the cluster's own minor nothing must change: kube-proxy and CoreDNS are what
// kubeadm deploys, and containerd 1.x is only a warning of the pre-check (should).
func TestBuildFixturesFor135(t *testing.T) {
	r, err := Build(fixture(t, "v1.35.4"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"kube-proxy", "coredns", "calico-node", "yurt-hub"} {
		if c := find(t, r, name); c.Action != ActionNone {
			t.Errorf("%s: action %q (%s), want none", name, c.Action, c.Reason)
		}
	}
	if c := find(t, r, "coredns"); c.Expected != "v1.13.1" {
		t.Errorf("coredns expected %q, want kubeadm 1.35's v1.13.1", c.Expected)
	}
	for _, nr := range r.Runtimes {
		want := ActionShould
		if nr.Node == "edge-b-0" {
			want = ActionNone
		}
		if nr.Action != want {
			t.Errorf("runtime of %s: %q, want %q", nr.Node, nr.Action, want)
		}
	}
}

// Without --to there is nothing to expect; skew is still reported.
func TestBuildWithoutTarget(t *testing.T) {
	r, err := Build(fixture(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range r.Components {
		want := ActionNone
		if c.Name == "kube-flannel-ds" {
			want = ActionShould
		}
		if c.Action != want || c.Expected != "" {
			t.Errorf("%s: action %q expected %q", c.Name, c.Action, c.Expected)
		}
	}
	for _, nr := range r.Runtimes {
		if nr.Action != ActionNone || nr.Runtime == "" {
			t.Errorf("runtime of %s: %+v", nr.Node, nr)
		}
	}
	if _, err := Build(Inputs{Target: "next"}); err == nil || !strings.Contains(err.Error(), "--to") {
		t.Errorf("a bad --to: %v", err)
	}
}

// A kube-proxy only a patch behind lags (should); one at the target needs nothing.
func TestKubeProxyPatch(t *testing.T) {
	for _, tc := range []struct {
		target string
		want   Action
	}{{"v1.35.5", ActionShould}, {"v1.35.4", ActionNone}, {"v1.36.0", ActionMust}} {
		r, err := Build(fixture(t, tc.target))
		if err != nil {
			t.Fatal(err)
		}
		if c := find(t, r, "kube-proxy"); c.Action != tc.want {
			t.Errorf("--to %s: kube-proxy %q (%s), want %q", tc.target, c.Action, c.Reason, tc.want)
		}
	}
}

func TestClassifyAndTag(t *testing.T) {
	for _, tc := range []struct {
		name  string
		image string
		want  Category
	}{
		{"kube-proxy", "registry.k8s.io/kube-proxy:v1.35.4", CategoryKubeProxy},
		{"dns", "registry.k8s.io/coredns/coredns:v1.13.1", CategoryDNS},
		{"cilium", "quay.io/cilium/cilium:v1.16.5@sha256:758ca0793f5995bb938a2fa219dcce63dc0b3fa7fc4ce5cc851125281fb7361d", CategoryCNI},
		{"edge-tunnel-agent", "registry.cn-hangzhou.aliyuncs.com/acs/edge-tunnel-agent:v2.1.0", CategoryEdge},
		{"agent", "openyurt/raven-agent:v0.4.1", CategoryEdge},
		{"node-exporter", "quay.io/prometheus/node-exporter:v1.8.2", CategoryOther},
		{"x", "localhost:5000/metrics-server", CategoryMetrics},
	} {
		if got := Classify(tc.name, []string{tc.image}); got != tc.want {
			t.Errorf("Classify(%s, %s) = %s, want %s", tc.name, tc.image, got, tc.want)
		}
	}
	for img, want := range map[string]string{
		"localhost:5000/metrics-server":          "",
		"localhost:5000/metrics-server:v0.7.2":   "v0.7.2",
		"quay.io/cilium/cilium:v1.16.5@sha256:1": "v1.16.5",
		"busybox":                                "",
	} {
		if got := Tag(img); got != want {
			t.Errorf("Tag(%s) = %q, want %q", img, got, want)
		}
	}
}
