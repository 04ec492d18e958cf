// Package components finds the system components that run beside the kubelet — kube-proxy,
// CoreDNS, the CNI, edge components, metrics-server and any DaemonSet or Deployment in the
// namespaces asked for — with what runs on each node or replica, the container runtime of
// every node, and what a target Kubernetes version expects of them. Build is pure; Gather
// reads the cluster.
package components

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Kind of the document `components -o json|yaml` prints.
const Kind = "Components"

// Category says what a component is for.
type Category string

const (
	CategoryKubeProxy Category = "kube-proxy"
	CategoryDNS       Category = "dns"
	CategoryCNI       Category = "cni"
	CategoryEdge      Category = "edge"
	CategoryMetrics   Category = "metrics"
	CategoryOther     Category = "other"
)

// Action is what a component or runtime needs for the target.
type Action string

const (
	// ActionNone: nothing to do (or no target given).
	ActionNone Action = ""
	// ActionShould: the target works without it, but it lags (a patch behind, skew
	// across nodes, an older CoreDNS than kubeadm deploys).
	ActionShould Action = "should-upgrade"
	// ActionMust: the target does not support what runs (a kube-proxy a minor behind,
	// a runtime below the floor).
	ActionMust Action = "must-upgrade"
)

// Report is every component found, and every node's container runtime.
type Report struct {
	metav1.TypeMeta `json:",inline"`
	// Target is the Kubernetes version the expectations are for ("" = none given).
	Target     string        `json:"target,omitempty"`
	Namespaces []string      `json:"namespaces"`
	Components []Component   `json:"components"`
	Runtimes   []NodeRuntime `json:"runtimes"`
}

// DeepCopyObject makes Report printable by cli-runtime printers.
func (r *Report) DeepCopyObject() runtime.Object {
	out := *r
	out.Namespaces = append([]string(nil), r.Namespaces...)
	out.Components = make([]Component, len(r.Components))
	for i, c := range r.Components {
		out.Components[i] = c.deepCopy()
	}
	out.Runtimes = append([]NodeRuntime(nil), r.Runtimes...)
	return &out
}

// Component is one DaemonSet, Deployment or group of edge static pods.
type Component struct {
	Namespace string   `json:"namespace"`
	Name      string   `json:"name"`
	Kind      string   `json:"kind"` // DaemonSet, Deployment, StaticPod
	Category  Category `json:"category"`
	// Images are the template's images, "container=image"; for static pods, those of
	// the newest pod.
	Images []string `json:"images"`
	// Desired and Ready count nodes (DaemonSet) or replicas (Deployment).
	Desired int `json:"desired"`
	Ready   int `json:"ready"`
	// Versions counts the pods per image set they run, most common first.
	Versions []VersionCount `json:"versions"`
	// Skew: pods run more than one image set (a rollout not finished, or stalled).
	Skew bool `json:"skew,omitempty"`
	// Pods are what runs, per node (DaemonSet, static pods) or per replica.
	Pods []PodImages `json:"pods"`
	// Expected is what the target expects of the component ("" = no expectation).
	Expected string `json:"expected,omitempty"`
	Action   Action `json:"action,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

func (c Component) deepCopy() Component {
	c.Images = append([]string(nil), c.Images...)
	c.Versions = append([]VersionCount(nil), c.Versions...)
	pods := make([]PodImages, len(c.Pods))
	for i, p := range c.Pods {
		p.Images = append([]string(nil), p.Images...)
		pods[i] = p
	}
	c.Pods = pods
	return c
}

// VersionCount is how many pods run one image set.
type VersionCount struct {
	Version string `json:"version"`
	Pods    int    `json:"pods"`
}

// PodImages is one pod of a component.
type PodImages struct {
	Node   string   `json:"node,omitempty"`
	Pod    string   `json:"pod"`
	Images []string `json:"images"`
	Ready  bool     `json:"ready"`
}

// NodeRuntime is the container runtime of one node and what the target needs of it.
type NodeRuntime struct {
	Node    string `json:"node"`
	Runtime string `json:"runtime"` // status.nodeInfo.containerRuntimeVersion
	Kubelet string `json:"kubelet"`
	Action  Action `json:"action,omitempty"`
	Reason  string `json:"reason,omitempty"`
}
