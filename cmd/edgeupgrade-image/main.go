// Command edgeupgrade-image assembles container image archives from local files,
// without Docker and without a registry: `make images` builds the node-preprocess and
// upgrade images with it, and it builds any image made of static binaries (for
// example control-plane images from kube-apiserver & co.). See docs/node-agent.md.
package main

import "os"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
