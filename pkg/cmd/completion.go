package cmd

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/kubectl/pkg/util/templates"
)

var (
	completionLong = templates.LongDesc(`
		Print a shell completion script for bash, zsh, fish or powershell.

		Completion of "kubectl edgeupgrade ..." is done by kubectl itself (1.26 or newer):
		load kubectl's own completion ("kubectl completion bash") and put the
		kubectl_complete-edgeupgrade helper from the release archive or the krew install
		directory on your PATH. kubectl runs the helper, which asks this plugin for the
		candidates, so subcommands, flags and their values complete as they would for a
		built-in command.

		The script printed here completes the binary when it is run directly as
		kubectl-edgeupgrade. Both paths ask the same code for candidates.`)

	completionExample = templates.Examples(`
		# Complete "kubectl edgeupgrade ..." (bash; kubectl 1.26 or newer): load kubectl's
		# completion and put the helper next to the plugin on PATH
		source <(kubectl completion bash)
		cp "$(dirname "$(readlink -f "$(command -v kubectl-edgeupgrade)")")/kubectl_complete-edgeupgrade" ~/.krew/bin/

		# Complete "kubectl-edgeupgrade ..." in the current bash session
		source <(kubectl edgeupgrade completion bash)

		# Install the zsh completion for every new session
		kubectl edgeupgrade completion zsh > "${fpath[1]}/_kubectl-edgeupgrade"

		# Install the fish completion
		kubectl edgeupgrade completion fish > ~/.config/fish/completions/kubectl-edgeupgrade.fish`)
)

// CompletionOptions holds the inputs of `kubectl edgeupgrade completion SHELL`.
type CompletionOptions struct {
	Shell          string
	NoDescriptions bool

	root *cobra.Command
	genericiooptions.IOStreams
}

// NewCmdCompletion returns the `completion` command; it replaces cobra's default one.
func NewCmdCompletion(streams genericiooptions.IOStreams) *cobra.Command {
	o := &CompletionOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:                   "completion (bash|zsh|fish|powershell)",
		Short:                 "Print a shell completion script",
		Long:                  completionLong,
		Example:               completionExample,
		DisableFlagsInUseLine: true,
		ValidArgs:             completionShellNames(),
		Args:                  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Complete(cmd, args)
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run()
		},
	}
	cmd.Flags().BoolVar(&o.NoDescriptions, "no-descriptions", false, "Leave the descriptions out of the completion candidates.")
	return cmd
}

// Complete records the shell and the command tree to describe.
func (o *CompletionOptions) Complete(cmd *cobra.Command, args []string) {
	o.Shell = args[0]
	o.root = cmd.Root()
}

// Validate refuses a shell cobra cannot generate for.
func (o *CompletionOptions) Validate() error {
	if !slices.Contains(completionShellNames(), o.Shell) {
		return fmt.Errorf("unsupported shell %q: use one of %s", o.Shell, strings.Join(completionShellNames(), ", "))
	}
	return nil
}

// Run writes cobra's script for the shell to the output stream.
func (o *CompletionOptions) Run() error {
	desc := !o.NoDescriptions
	switch o.Shell {
	case "bash":
		return o.root.GenBashCompletionV2(o.Out, desc)
	case "zsh":
		if desc {
			return o.root.GenZshCompletion(o.Out)
		}
		return o.root.GenZshCompletionNoDesc(o.Out)
	case "fish":
		return o.root.GenFishCompletion(o.Out, desc)
	case "powershell":
		if desc {
			return o.root.GenPowerShellCompletionWithDesc(o.Out)
		}
		return o.root.GenPowerShellCompletion(o.Out)
	}
	return fmt.Errorf("unsupported shell %q", o.Shell)
}

func completionShellNames() []string {
	return []string{"bash", "zsh", "fish", "powershell"}
}
