package cmd

import (
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
)

// NewCmdCheck is a placeholder: the pre-check issue replaces this file.
func NewCmdCheck(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	return &cobra.Command{Use: "check", Short: "Run the pre-check (not built yet)"}
}
