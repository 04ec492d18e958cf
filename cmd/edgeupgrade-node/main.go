// Command edgeupgrade-node is the node agent of kubectl edgeupgrade: it runs inside
// the per-node Job (subcommands preprocess, upgrade and check). See docs/node-agent.md.
package main

import (
	"os"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/nodeagent"
)

// version is set at build time: -ldflags "-X main.version=v0.3.0".
var version = "dev"

func main() {
	os.Exit(nodeagent.Main(os.Args[1:], nodeagent.Streams{Out: os.Stdout, ErrOut: os.Stderr}, version))
}
