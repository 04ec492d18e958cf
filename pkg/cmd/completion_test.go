package cmd

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// completionTestRoot is a stand-in for the plugin's root: the scripts depend only on
// the root's name and on cobra's generators.
func completionTestRoot(streams genericiooptions.IOStreams) *cobra.Command {
	root := &cobra.Command{Use: "kubectl-edgeupgrade", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(
		&cobra.Command{Use: "start", Short: "Start an upgrade", Run: func(*cobra.Command, []string) {}},
		&cobra.Command{Use: "status", Short: "Show the upgrade", Run: func(*cobra.Command, []string) {}},
		NewCmdCompletion(streams),
	)
	return root
}

func TestCompletionScripts(t *testing.T) {
	// Each script must register itself for the plugin binary and ask it for candidates.
	for shell, marks := range map[string][]string{
		"bash":       {"__start_kubectl-edgeupgrade", "complete -o default -F __start_kubectl-edgeupgrade kubectl-edgeupgrade"},
		"zsh":        {"#compdef kubectl-edgeupgrade", "__complete"},
		"fish":       {"complete -c kubectl-edgeupgrade", "__complete"},
		"powershell": {"Register-ArgumentCompleter", "kubectl-edgeupgrade", "__complete"},
	} {
		t.Run(shell, func(t *testing.T) {
			streams, _, out, _ := genericiooptions.NewTestIOStreams()
			root := completionTestRoot(streams)
			root.SetArgs([]string{"completion", shell})
			if err := root.Execute(); err != nil {
				t.Fatal(err)
			}
			for _, m := range marks {
				if !strings.Contains(out.String(), m) {
					t.Errorf("%s script lacks %q", shell, m)
				}
			}
		})
	}
}

func TestCompletionNoDescriptions(t *testing.T) {
	streams, _, out, _ := genericiooptions.NewTestIOStreams()
	root := completionTestRoot(streams)
	root.SetArgs([]string{"completion", "zsh", "--no-descriptions"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "__completeNoDesc") {
		t.Errorf("zsh --no-descriptions script does not use __completeNoDesc")
	}
}

func TestCompletionRejectsUnknownShell(t *testing.T) {
	streams, _, out, _ := genericiooptions.NewTestIOStreams()
	root := completionTestRoot(streams)
	root.SetArgs([]string{"completion", "tcsh"})
	err := root.Execute()
	if err == nil || err.Error() != `unsupported shell "tcsh": use one of bash, zsh, fish, powershell` {
		t.Errorf("got %v", err)
	}
	if out.Len() != 0 {
		t.Errorf("printed %q for an unknown shell", out)
	}
}

// TestCompletionCandidates drives cobra's __complete, which both the generated scripts
// and the kubectl_complete-edgeupgrade helper call.
func TestCompletionCandidates(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"st"}, []string{"start\tStart an upgrade", "status\tShow the upgrade", ":4"}},
		{[]string{"completion", ""}, []string{"bash", "zsh", "fish", "powershell", ":4"}},
	} {
		streams, _, out, _ := genericiooptions.NewTestIOStreams()
		root := completionTestRoot(streams)
		root.SetOut(out)
		root.SetArgs(append([]string{cobra.ShellCompRequestCmd}, tt.args...))
		if err := root.Execute(); err != nil {
			t.Fatal(err)
		}
		got := strings.Split(strings.TrimSpace(out.String()), "\n")
		if strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("__complete %q = %q, want %q", tt.args, got, tt.want)
		}
	}
}
