package runner

import (
	"fmt"

	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
)

// Client-side rate limits: the defaults (5 QPS) would make a 1,000-node batch take
// minutes to create. The burst covers the largest batch (Cap = 1,000 at 10,000
// workers), so a batch's Jobs are never throttled here; the API server is protected
// by the batch cap and by its own priority and fairness (429s are retried).
const (
	clientQPS   = 200
	clientBurst = 1000
)

// TuneConfig sets what every client of the plugin and of its in-cluster driver uses:
// the rate limits above, the user agent, and protobuf for built-in types (the dynamic
// client keeps JSON): lists and watches of thousands of Nodes, Jobs and pods decode
// several times faster and cost the API server less to encode.
func TuneConfig(c *rest.Config) *rest.Config {
	c.QPS, c.Burst = clientQPS, clientBurst
	c.UserAgent = "kubectl-edgeupgrade"
	c.ContentType = "application/vnd.kubernetes.protobuf"
	c.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	return c
}

// LeanCacheOptions are the cache options of a one-shot session (CacheOptions.Lean):
// md when given (a test's fake), else a metadata client of rc; and the nodes read as
// the API server's Table through a core/v1 REST client of rc (none without rc).
func LeanCacheOptions(rc *rest.Config, md metadata.Interface) (CacheOptions, error) {
	opts := CacheOptions{Lean: true, Metadata: md}
	if rc == nil {
		if md == nil {
			return CacheOptions{}, fmt.Errorf("connect to the cluster: no REST config for the metadata client")
		}
		return opts, nil
	}
	var err error
	if opts.Metadata == nil {
		if opts.Metadata, err = metadata.NewForConfig(rc); err != nil {
			return CacheOptions{}, fmt.Errorf("connect to the cluster: %w", err)
		}
	}
	core, err := corev1client.NewForConfig(rest.CopyConfig(rc))
	if err != nil {
		return CacheOptions{}, fmt.Errorf("connect to the cluster: %w", err)
	}
	opts.Table = core.RESTClient()
	return opts, nil
}
