package cmd

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/precheck"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/runner"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// Shell completion for arguments and flag values (cobra asks through `__complete`).

type completeFunc = func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective)

// completionTimeout bounds the cluster read behind a completion: a shell waits for it.
const completionTimeout = 5 * time.Second

// completeNodeNames completes one node name from the cluster, as kubectl does for
// `kubectl drain NODE`. An unreachable cluster completes nothing.
func completeNodeNames(f cmdutil.Factory) completeFunc {
	return nodeNameCompleter(func() (kubernetes.Interface, error) { return clientFor(f) })
}

func nodeNameCompleter(client func() (kubernetes.Interface, error)) completeFunc {
	return func(_ *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		cs, err := client()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ctx, cancel := context.WithTimeout(context.Background(), completionTimeout)
		defer cancel()
		names, err := runner.NodeNames(ctx, cs, toComplete)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}

// completeModes completes --mode.
func completeModes(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	out := make([]string, len(upgrade.Modes))
	for i, m := range upgrade.Modes {
		out[i] = string(m)
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeContainers completes logs --container.
func completeContainers(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return []string{job.ContainerPreprocess, job.ContainerUpgrade}, cobra.ShellCompDirectiveNoFileComp
}

// completeCheckIDs completes --skip-check, a comma-separated list: the IDs not yet in
// the list, each after what was typed before the last comma.
func completeCheckIDs(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	done, last := "", toComplete
	if i := strings.LastIndex(toComplete, ","); i >= 0 {
		done, last = toComplete[:i+1], toComplete[i+1:]
	}
	listed := map[string]bool{}
	for _, id := range strings.Split(done, ",") {
		listed[id] = true
	}
	var out []string
	for _, id := range precheck.CheckIDs() {
		if !listed[id] && strings.HasPrefix(id, last) {
			out = append(out, done+id)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
}
