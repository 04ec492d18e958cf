package cmd

import "k8s.io/client-go/rest"

func raiseRateLimits(c *rest.Config) *rest.Config {
	c.QPS, c.Burst = clientQPS, clientBurst
	c.UserAgent = "kubectl-edgeupgrade"
	// Protobuf for built-in types (the dynamic client keeps JSON): lists and watches of
	// thousands of Nodes, Jobs and pods decode several times faster and cost the API
	// server less to encode.
	c.ContentType = "application/vnd.kubernetes.protobuf"
	c.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	return c
}
