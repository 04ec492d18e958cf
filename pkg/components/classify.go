package components

import (
	"strings"
)

// markers name each category by what its workloads or images are called upstream; the
// first match wins, so the more specific names come first.
var markers = []struct {
	category Category
	names    []string
}{
	{CategoryKubeProxy, []string{"kube-proxy"}},
	{CategoryDNS, []string{"coredns", "kube-dns", "nodelocaldns", "node-local-dns"}},
	// OpenYurt (yurthub, raven, yurt-manager, the former yurt-tunnel), ACK@Edge's tunnel
	// and other tunnel agents, KubeEdge.
	{CategoryEdge, []string{"yurt-hub", "yurthub", "raven", "yurt-manager", "yurt-tunnel", "yurt-app-manager",
		"edge-tunnel", "tunnel-agent", "tunnel-server", "edgecore", "cloudcore", "edgemesh"}},
	{CategoryCNI, []string{"flannel", "calico", "cilium", "weave", "kube-router", "antrea", "canal", "kindnet", "terway", "multus"}},
	{CategoryMetrics, []string{"metrics-server"}},
}

// Classify names the category of a workload from its name and images.
func Classify(name string, images []string) Category {
	for _, m := range markers {
		for _, n := range m.names {
			if strings.Contains(name, n) {
				return m.category
			}
		}
	}
	for _, m := range markers {
		for _, n := range m.names {
			for _, img := range images {
				if strings.Contains(repository(img), n) {
					return m.category
				}
			}
		}
	}
	return CategoryOther
}

// repository is an image reference without its tag or digest.
func repository(image string) string {
	if i := strings.Index(image, "@"); i >= 0 {
		image = image[:i]
	}
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		image = image[:i]
	}
	return image
}

// Tag is an image reference's tag ("" when it has none, "latest" is kept as is).
func Tag(image string) string {
	if i := strings.Index(image, "@"); i >= 0 {
		image = image[:i]
	}
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		return image[i+1:]
	}
	return ""
}
