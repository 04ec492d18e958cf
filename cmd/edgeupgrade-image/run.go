package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

func newCmdRoot(out io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "edgeupgrade-image",
		Short: "Build container image archives from local files, without Docker or a registry",
		Long: `Build container image archives (OCI layout or docker save format) from local files,
without Docker and without a registry, and inspect them. The archives load with
'ctr -n k8s.io images import' and 'docker load'.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(out)
	root.AddCommand(newCmdBuild(out), newCmdInspect(out), newCmdSizes(out))
	return root
}

func run(args []string, out, errOut io.Writer) int {
	root := newCmdRoot(out)
	root.SetErr(errOut)
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		_, _ = fmt.Fprintln(errOut, "error: "+err.Error()) // nowhere left to report a failed write
		return 1
	}
	return 0
}
