package components

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/version"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/precheck"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// KubeadmCoreDNS is the CoreDNS version kubeadm deploys (and `kubeadm upgrade apply`
// moves to) for each Kubernetes minor: the CoreDNSVersion constant of
// cmd/kubeadm/app/constants in that release's latest patch.
var KubeadmCoreDNS = map[string]string{
	"1.35": "v1.13.1",
	"1.36": "v1.14.2",
}

// expectations are what a target expects; zero target: nothing.
type expectations struct {
	target         string
	server, parsed *version.Version
}

func newExpectations(server, target string) (expectations, error) {
	var e expectations
	if target == "" {
		return e, nil
	}
	t, err := upgrade.CanonicalVersion(target)
	if err != nil {
		return e, fmt.Errorf("--to: %w", err)
	}
	e.target = t
	e.parsed, _ = upgrade.ParseVersion(t)
	if e.server, err = version.ParseGeneric(server); err != nil {
		e.server = e.parsed // the docker rule alone reads it
	}
	return e, nil
}

// component sets what the target expects of c and whether it must or should change.
// A skew across nodes is worth a should in any case: a rollout did not finish.
func (e expectations) component(c *Component) {
	if e.parsed != nil {
		switch c.Category {
		case CategoryKubeProxy:
			e.kubeProxy(c)
		case CategoryDNS:
			e.coreDNS(c)
		}
	}
	if c.Action == ActionNone && c.Skew {
		c.Action = ActionShould
		c.Reason = fmt.Sprintf("%d image versions run at once (%s): a rollout did not finish", len(c.Versions), versionList(c.Versions))
	}
}

func versionList(vs []VersionCount) string {
	parts := make([]string, 0, len(vs))
	for _, v := range vs {
		parts = append(parts, fmt.Sprintf("%s on %d", v.Version, v.Pods))
	}
	return strings.Join(parts, ", ")
}

// kubeProxy: kubeadm deploys kube-proxy tagged with the cluster's version; a minor
// behind the target is outside what kubeadm supports after the upgrade, a patch behind
// only lags.
func (e expectations) kubeProxy(c *Component) {
	img := mainImage(c, "kube-proxy")
	c.Expected = e.target
	low := lowestTag(c, img)
	v, err := version.ParseGeneric(low)
	switch {
	case err != nil:
		c.Action, c.Reason = ActionShould, fmt.Sprintf("kube-proxy tag %q is not a version; kubeadm deploys %s", low, e.target)
	case v.Major() == e.parsed.Major() && v.Minor() < e.parsed.Minor():
		c.Action, c.Reason = ActionMust, fmt.Sprintf("kube-proxy %s is a minor behind %s; kubeadm upgrade apply replaces it on kubeadm clusters, upgrade it with the control plane otherwise", low, e.target)
	case v.LessThan(e.parsed):
		c.Action, c.Reason = ActionShould, fmt.Sprintf("kube-proxy %s is behind %s", low, e.target)
	}
}

// coreDNS: kubeadm's CoreDNS for the target's minor; older is worth a should (kubeadm
// upgrade apply moves it on kubeadm clusters), newer is left alone.
func (e expectations) coreDNS(c *Component) {
	img := mainImage(c, "coredns")
	if img == "" {
		return // kube-dns, node-local-dns: kubeadm expects nothing of them
	}
	minor := fmt.Sprintf("%d.%d", e.parsed.Major(), e.parsed.Minor())
	want, ok := KubeadmCoreDNS[minor]
	if !ok {
		c.Reason = fmt.Sprintf("the CoreDNS version kubeadm deploys for %s is not known to this plugin", minor)
		return
	}
	c.Expected = want
	low := lowestTag(c, img)
	v, err1 := version.ParseGeneric(low)
	w, err2 := version.ParseGeneric(want)
	if err1 == nil && err2 == nil && v.LessThan(w) {
		c.Action, c.Reason = ActionShould, fmt.Sprintf("CoreDNS %s is older than the %s kubeadm deploys for %s", low, want, minor)
	}
}

// mainImage is the container whose image repository contains name ("" if none).
func mainImage(c *Component, name string) string {
	for _, ci := range c.Images {
		cn, img, _ := strings.Cut(ci, "=")
		if strings.Contains(repository(img), name) || cn == name {
			return cn
		}
	}
	return ""
}

// lowestTag is the oldest tag the container runs across the pods (the template's when
// no pod runs).
func lowestTag(c *Component, container string) string {
	var tags []string
	collect := func(images []string) {
		for _, ci := range images {
			if cn, img, _ := strings.Cut(ci, "="); cn == container {
				tags = append(tags, Tag(img))
			}
		}
	}
	for _, p := range c.Pods {
		collect(p.Images)
	}
	if len(tags) == 0 {
		collect(c.Images)
	}
	if len(tags) == 0 {
		return ""
	}
	return slices.MinFunc(tags, compareTags)
}

// compareTags orders versions by version, anything else after them by name.
func compareTags(a, b string) int {
	va, ea := version.ParseGeneric(a)
	vb, eb := version.ParseGeneric(b)
	switch {
	case ea == nil && eb == nil:
		switch {
		case va.LessThan(vb):
			return -1
		case vb.LessThan(va):
			return 1
		}
		return 0
	case ea == nil:
		return -1
	case eb == nil:
		return 1
	}
	return cmp.Compare(a, b)
}

// runtimes lists every node's runtime and, for a target, the pre-check's verdict on
// it (the runtime-version check's table: errors must, warnings should).
func (e expectations) runtimes(nodes []corev1.Node) []NodeRuntime {
	verdicts := map[string]precheck.Finding{}
	if e.parsed != nil {
		for _, f := range precheck.RuntimeFindings(nodes, e.server, e.parsed) {
			verdicts[strings.TrimPrefix(f.Object, "Node/")] = f
		}
	}
	out := make([]NodeRuntime, 0, len(nodes))
	for i := range nodes {
		n := &nodes[i]
		nr := NodeRuntime{Node: n.Name, Runtime: n.Status.NodeInfo.ContainerRuntimeVersion, Kubelet: n.Status.NodeInfo.KubeletVersion}
		if f, ok := verdicts[n.Name]; ok {
			nr.Action, nr.Reason = ActionShould, f.Message+"; "+f.Remediation
			if f.Severity == "" || f.Severity == precheck.SeverityError {
				nr.Action = ActionMust
			}
		}
		out = append(out, nr)
	}
	slices.SortFunc(out, func(a, b NodeRuntime) int { return cmp.Compare(a.Node, b.Node) })
	return out
}
