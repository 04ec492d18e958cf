// Command agent-shim is LAB-ONLY (test/real): it stands at /edgeupgrade-node in the
// lab's variant of the upgrade image and execs the real agent (/edgeupgrade-node.real)
// with the same arguments plus, for `upgrade`, the flags in LAB_AGENT_UPGRADE_ARGS
// (whitespace-separated; set in the image's environment).
//
// Why: on this machine's cgroup v1 hosts `kubeadm upgrade apply` to 1.36 refuses to run
// unless SystemVerification is explicitly skipped, and the plugin has no way yet to pass
// the agent's --kubeadm-arg through the Job (docs/real-lab.md, "Gaps").
package main

import (
	"fmt"
	"os"
	"strings"
	"syscall"
)

const real = "/edgeupgrade-node.real"

func main() {
	args := append([]string{real}, os.Args[1:]...)
	if len(os.Args) > 1 && os.Args[1] == "upgrade" {
		args = append(args, strings.Fields(os.Getenv("LAB_AGENT_UPGRADE_ARGS"))...)
	}
	if err := syscall.Exec(real, args, os.Environ()); err != nil {
		fmt.Fprintf(os.Stderr, "agent-shim (lab only): exec %s: %v\n", real, err)
		os.Exit(127)
	}
}
