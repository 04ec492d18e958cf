package cmd

import (
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// NewCmdVersion is a placeholder: the distribution issue replaces this file.
func NewCmdVersion(streams genericiooptions.IOStreams) *cobra.Command {
	return &cobra.Command{Use: "version", Short: "Print the plugin version (not built yet)"}
}
