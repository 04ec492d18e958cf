package lab

import (
	_ "embed"
	"fmt"
	"os"
)

// kwokStages are kwok v0.8.0's own stages plus the lab's changes (see the file header).
//
//go:embed kwok/stages.yaml
var kwokStages string

// writeKwokConfig writes kwok's configuration: its options, then every stage (standalone
// kwok has no built-in stages and exits with "no stages found" without them).
//
// kwok's server is every node's kubelet API (on 127.0.0.1, over TLS with a certificate
// of the lab's CA): the API server sends `kubectl logs` there, and kwok answers from the
// files its Logs objects name (the simulator writes them; sim.ContainerLogs).
func writeKwokConfig(path, serverAddress string, port int, certFile, keyFile string, leaseSeconds int) error {
	opts := fmt.Sprintf(`apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokConfiguration
options:
  manageAllNodes: false
  manageNodesWithAnnotationSelector: %s=%s
  cidr: 10.0.0.0/16
  nodeIP: %s
  nodePort: %d
  serverAddress: %s
  tlsCertFile: %s
  tlsPrivateKeyFile: %s
  enableCRDs: [Logs]
  enableDebuggingHandlers: true
  nodeLeaseDurationSeconds: %d
  nodeLeaseParallelism: 8
  nodePlayStageParallelism: 8
  podPlayStageParallelism: 8
`, annotationKwokNode, kwokNodeValue, NodeAddress, port, serverAddress, certFile, keyFile, leaseSeconds)
	return os.WriteFile(path, []byte(opts+"---\n"+kwokStages), 0o644)
}
