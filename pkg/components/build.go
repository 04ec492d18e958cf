package components

import (
	"cmp"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/api"
)

// Inputs are what Build looks at, read once by Gather (or loaded from fixtures).
type Inputs struct {
	// Namespaces searched, kube-system first.
	Namespaces  []string
	DaemonSets  []appsv1.DaemonSet
	Deployments []appsv1.Deployment
	// Pods of the namespaces searched.
	Pods  []corev1.Pod
	Nodes []corev1.Node
	// ServerVersion is the API server's git version; Target the version the
	// expectations are for ("" = none).
	ServerVersion string
	Target        string
}

// Build finds the components in in and what the target expects of them.
func Build(in Inputs) (*Report, error) {
	exp, err := newExpectations(in.ServerVersion, in.Target)
	if err != nil {
		return nil, err
	}
	r := &Report{
		TypeMeta:   metav1.TypeMeta{APIVersion: api.GroupVersion, Kind: Kind},
		Target:     exp.target,
		Namespaces: slices.Clone(in.Namespaces),
		Components: []Component{},
	}
	for i := range in.DaemonSets {
		ds := &in.DaemonSets[i]
		c := newComponent(ds.Namespace, ds.Name, "DaemonSet", ds.Spec.Template.Spec)
		c.Desired = int(ds.Status.DesiredNumberScheduled)
		addPods(&c, ownedPods(in.Pods, ds.Namespace, "DaemonSet", ds.Name))
		r.Components = append(r.Components, c)
	}
	for i := range in.Deployments {
		d := &in.Deployments[i]
		c := newComponent(d.Namespace, d.Name, "Deployment", d.Spec.Template.Spec)
		c.Desired = int(ptrOr(d.Spec.Replicas, 1))
		addPods(&c, selectedPods(in.Pods, d))
		r.Components = append(r.Components, c)
	}
	r.Components = append(r.Components, staticComponents(in.Pods)...)
	for i := range r.Components {
		exp.component(&r.Components[i])
	}
	slices.SortFunc(r.Components, func(a, b Component) int {
		return cmp.Or(cmp.Compare(categoryOrder(a.Category), categoryOrder(b.Category)),
			cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name), cmp.Compare(a.Kind, b.Kind))
	})
	r.Runtimes = exp.runtimes(in.Nodes)
	return r, nil
}

func ptrOr(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}

func categoryOrder(c Category) int {
	for i, m := range markers {
		if m.category == c {
			return i
		}
	}
	return len(markers)
}

func newComponent(ns, name, kind string, spec corev1.PodSpec) Component {
	images := containerImages(spec.Containers)
	return Component{Namespace: ns, Name: name, Kind: kind, Images: images, Category: Classify(name, images),
		Versions: []VersionCount{}, Pods: []PodImages{}}
}

// containerImages lists "container=image" for the (non-init) containers.
func containerImages(cs []corev1.Container) []string {
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.Name+"="+c.Image)
	}
	return out
}

// podImages is what a pod runs, "container=image" from its spec: the status's image
// may be the runtime's normalised or resolved name, which would count as skew.
func podImages(p *corev1.Pod) []string {
	return containerImages(p.Spec.Containers)
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// addPods records the pods of a component, per node or replica, how many are Ready,
// and the skew.
func addPods(c *Component, pods []*corev1.Pod) {
	counts := map[string]int{}
	for _, p := range pods {
		imgs := podImages(p)
		c.Pods = append(c.Pods, PodImages{Node: p.Spec.NodeName, Pod: p.Name, Images: imgs, Ready: podReady(p)})
		if podReady(p) {
			c.Ready++
		}
		counts[versionOf(imgs)]++
	}
	slices.SortFunc(c.Pods, func(a, b PodImages) int { return cmp.Or(cmp.Compare(a.Node, b.Node), cmp.Compare(a.Pod, b.Pod)) })
	for v, n := range counts {
		c.Versions = append(c.Versions, VersionCount{Version: v, Pods: n})
	}
	slices.SortFunc(c.Versions, func(a, b VersionCount) int {
		return cmp.Or(cmp.Compare(b.Pods, a.Pods), cmp.Compare(a.Version, b.Version))
	})
	c.Skew = len(c.Versions) > 1
}

// versionOf names an image set by its tags ("v0.26.1", or "flannel=v0.26.1,cni=v1.6.0"
// when the containers' tags differ).
func versionOf(images []string) string {
	tags := make([]string, 0, len(images))
	same := true
	for i, img := range images {
		_, ref, _ := strings.Cut(img, "=")
		t := cmp.Or(Tag(ref), "latest")
		if i > 0 && t != Tag(strings.SplitN(images[0], "=", 2)[1]) {
			same = false
		}
		tags = append(tags, t)
	}
	if same && len(tags) > 0 {
		return tags[0]
	}
	for i, img := range images {
		name, _, _ := strings.Cut(img, "=")
		tags[i] = name + "=" + tags[i]
	}
	return strings.Join(tags, ",")
}

func ownedPods(pods []corev1.Pod, ns, kind, name string) []*corev1.Pod {
	var out []*corev1.Pod
	for i := range pods {
		p := &pods[i]
		if p.Namespace != ns || p.DeletionTimestamp != nil {
			continue
		}
		if ref := metav1.GetControllerOf(p); ref != nil && ref.Kind == kind && ref.Name == name {
			out = append(out, p)
		}
	}
	return out
}

// selectedPods are a Deployment's pods: owned by a ReplicaSet and matching its selector.
func selectedPods(pods []corev1.Pod, d *appsv1.Deployment) []*corev1.Pod {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil || sel.Empty() {
		return nil
	}
	var out []*corev1.Pod
	for i := range pods {
		p := &pods[i]
		ref := metav1.GetControllerOf(p)
		if p.Namespace == d.Namespace && p.DeletionTimestamp == nil && ref != nil && ref.Kind == "ReplicaSet" &&
			sel.Matches(labels.Set(p.Labels)) {
			out = append(out, p)
		}
	}
	return out
}

// staticComponents groups the edge components that run as static pods (OpenYurt's
// yurthub): pods owned by their Node, named after the component and the node.
func staticComponents(pods []corev1.Pod) []Component {
	groups := map[string][]*corev1.Pod{}
	for i := range pods {
		p := &pods[i]
		ref := metav1.GetControllerOf(p)
		if ref == nil || ref.Kind != "Node" || !strings.HasSuffix(p.Name, "-"+p.Spec.NodeName) {
			continue
		}
		name := strings.TrimSuffix(p.Name, "-"+p.Spec.NodeName)
		if Classify(name, podImages(p)) != CategoryEdge {
			continue // the control plane's static pods are kubeadm's, upgraded with it
		}
		groups[p.Namespace+"/"+name] = append(groups[p.Namespace+"/"+name], p)
	}
	var out []Component
	for key, ps := range groups {
		ns, name, _ := strings.Cut(key, "/")
		newest := slices.MaxFunc(ps, func(a, b *corev1.Pod) int {
			return a.CreationTimestamp.Compare(b.CreationTimestamp.Time)
		})
		c := newComponent(ns, name, "StaticPod", newest.Spec)
		c.Desired = len(ps)
		addPods(&c, ps)
		out = append(out, c)
	}
	return out
}
