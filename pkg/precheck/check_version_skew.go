package precheck

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/version"
)

// VersionSkew: the cluster is within the supported version skew now.
func (checks) VersionSkew() Check {
	return Check{
		ID:          "version-skew",
		Title:       "Versions are within the supported skew now (kubelets, API servers, controllers)",
		Severity:    SeverityError,
		Category:    CategoryVersion,
		Needs:       []Source{SourceNodes},
		Remediation: "upgrade lagging nodes first; never run a kubelet newer than the API server",
		Run:         runVersionSkew,
	}
}

func runVersionSkew(v *View) []Finding {
	var out []Finding
	apiservers := apiServerVersions(v)
	oldestAPI := v.Server
	for _, a := range apiservers {
		if compareRelease(a.v, oldestAPI) < 0 {
			oldestAPI = a.v
		}
	}
	for i := range v.Nodes {
		n := &v.Nodes[i]
		kv := n.Status.NodeInfo.KubeletVersion
		k, err := version.ParseGeneric(kv)
		if err != nil {
			out = append(out, Finding{Object: nodeObject(n.Name), Severity: SeverityWarning,
				Message: fmt.Sprintf("kubelet version %q does not parse", kv)})
			continue
		}
		switch d := minorDiff(oldestAPI, k); {
		case d < 0:
			out = append(out, Finding{Object: nodeObject(n.Name),
				Message:     fmt.Sprintf("kubelet %s is newer than the API server %s", kv, oldestAPI),
				Remediation: "upgrade the control plane first, or reinstall this node's kubelet at the API server's minor"})
		case d > maxKubeletLag(k):
			out = append(out, Finding{Object: nodeObject(n.Name),
				Message:     fmt.Sprintf("kubelet %s is %d minors behind the API server %s (at most %d supported)", kv, d, oldestAPI, maxKubeletLag(k)),
				Remediation: "upgrade this node (with --mode nodes) before upgrading the control plane again"})
		}
	}
	if len(apiservers) > 1 {
		sort.Slice(apiservers, func(i, j int) bool { return compareRelease(apiservers[i].v, apiservers[j].v) < 0 })
		lo, hi := apiservers[0], apiservers[len(apiservers)-1]
		if d := minorDiff(hi.v, lo.v); d > 1 {
			out = append(out, Finding{Object: "Pod/kube-system/" + lo.pod,
				Message:     fmt.Sprintf("API servers differ by %d minors (%s on %s, %s on %s): at most one is supported", d, lo.v, lo.node, hi.v, hi.node),
				Remediation: "bring every API server to the same minor before going on"})
		}
	}
	for _, p := range v.ControlPlanePods {
		comp := p.Labels["component"]
		if comp == "kube-apiserver" {
			continue
		}
		cv := imageVersion(p)
		if cv == nil {
			continue
		}
		switch d := minorDiff(oldestAPI, cv); {
		case d < 0:
			out = append(out, Finding{Object: object("Pod", p.Namespace, p.Name),
				Message:     fmt.Sprintf("%s %s is newer than the API server %s", comp, cv, oldestAPI),
				Remediation: "upgrade the API servers first"})
		case d > 1:
			out = append(out, Finding{Object: object("Pod", p.Namespace, p.Name),
				Message:     fmt.Sprintf("%s %s is %d minors behind the API server %s (at most one supported)", comp, cv, d, oldestAPI),
				Remediation: "upgrade this control-plane node's components"})
		}
	}
	return out
}

type podVersion struct {
	pod, node string
	v         *version.Version
}

// apiServerVersions returns the versions of the kube-apiserver static pods that are
// visible (kubeadm control planes), from their image tags.
func apiServerVersions(v *View) []podVersion {
	var out []podVersion
	for _, p := range v.ControlPlanePods {
		if p.Labels["component"] != "kube-apiserver" {
			continue
		}
		if pv := imageVersion(p); pv != nil {
			out = append(out, podVersion{pod: p.Name, node: p.Spec.NodeName, v: pv})
		}
	}
	return out
}

// imageVersion parses the tag of a control-plane pod's first container image.
func imageVersion(p corev1.Pod) *version.Version {
	cs := p.Spec.Containers
	if len(cs) == 0 {
		return nil
	}
	img := cs[0].Image
	if i := strings.LastIndex(img, "@"); i >= 0 {
		img = img[:i]
	}
	i := strings.LastIndex(img, ":")
	if i < 0 || strings.Contains(img[i:], "/") {
		return nil
	}
	pv, err := version.ParseGeneric(img[i+1:])
	if err != nil {
		return nil
	}
	return pv
}
