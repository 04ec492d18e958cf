package cmd

import "k8s.io/client-go/rest"

func raiseRateLimits(c *rest.Config) *rest.Config {
	c.QPS, c.Burst = clientQPS, clientBurst
	c.UserAgent = "kubectl-edgeupgrade"
	return c
}
