package cmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/fleet"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/runner"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/store"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// startTimeout bounds one cluster's start (pre-check, write-ahead, driver): longer
// than a read, as the pre-check reads the whole cluster once.
const startTimeout = 3 * time.Minute

// targetFactory is the factory of one fleet cluster: the same connection flags the
// single-cluster commands use, with the cluster's kubeconfig and context.
func targetFactory(t fleet.Target) cmdutil.Factory {
	cf := genericclioptions.NewConfigFlags(true).WithDiscoveryBurst(300).WithDiscoveryQPS(50)
	cf.Namespace = nil
	kc, ctx := t.Kubeconfig, t.Context
	cf.KubeConfig, cf.Context = &kc, &ctx
	cf.WrapConfigFn = runner.TuneConfig
	return cmdutil.NewFactory(cf)
}

// observeAll reads every cluster at once, each within timeout, so one unreachable
// cluster never holds up the others.
func observeAll(ctx context.Context, f *fleet.File, targets []fleet.Target, timeout time.Duration) []fleet.Observed {
	out := make([]fleet.Observed, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			out[i] = observe(cctx, t, f.Spec.TargetVersion, timeout)
		})
	}
	wg.Wait()
	return out
}

// observe reads one cluster's state ConfigMap and, when no run to the target tells
// where it is, its nodes' versions.
func observe(ctx context.Context, t fleet.Target, target string, timeout time.Duration) fleet.Observed {
	cs, err := clientFor(targetFactory(t))
	if err != nil {
		return fleet.Observed{Err: err.Error()}
	}
	st, _, err := runner.Load(ctx, cs)
	var o fleet.Observed
	switch {
	case errors.Is(err, store.ErrNoRun):
	case err != nil:
		return fleet.Observed{Err: unreachable(ctx, err, timeout)}
	default:
		o.Run = &st
	}
	if o.Run != nil && o.Run.Spec.TargetVersion == target {
		return o
	}
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: t.Options.Selector, ResourceVersion: "0"})
	if err != nil {
		return fleet.Observed{Err: unreachable(ctx, err, timeout)}
	}
	o.AtTarget = len(nodes.Items) > 0
	for _, n := range nodes.Items {
		v := n.Status.NodeInfo.KubeletVersion
		if !upgrade.Upgraded(v, target) {
			o.AtTarget = false
		}
		if o.Oldest == "" || !upgrade.Upgraded(v, o.Oldest) {
			o.Oldest = v
		}
	}
	return o
}

// unreachable words a failed read: a deadline says how long it waited.
func unreachable(ctx context.Context, err error, timeout time.Duration) string {
	if ctx.Err() != nil {
		return fmt.Sprintf("no answer within %s", timeout)
	}
	return oneLineErr(err)
}

func oneLineErr(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// clusterCommand runs one single-cluster command (start, pause, resume) in this
// process against the cluster, with its output captured: the fleet uses the same code
// paths as a person running the command with --context.
func clusterCommand(ctx context.Context, t fleet.Target, build func(connector, genericiooptions.IOStreams) *cobra.Command, args ...string) (string, error) {
	var out bytes.Buffer
	streams := genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &out}
	cmd := build(connectWith(targetFactory(t)), streams)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	err := cmd.ExecuteContext(ctx)
	return out.String(), err
}

func buildStart(c connector, s genericiooptions.IOStreams) *cobra.Command {
	return newCmdStart(c, s, time.Now)
}

// startArgs are start's arguments for the cluster.
func startArgs(f *fleet.File, t fleet.Target, extra ...string) []string {
	return append(append([]string{"--to", f.Spec.TargetVersion}, t.Options.Args()...), extra...)
}

// checkCluster runs start --dry-run (start's own pre-check, nothing written) and
// returns the pre-check's summary line.
func checkCluster(ctx context.Context, f *fleet.File, t fleet.Target) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	out, err := clusterCommand(ctx, t, buildStart, startArgs(f, t, "--dry-run")...)
	for _, l := range strings.Split(out, "\n") {
		if s, ok := strings.CutPrefix(l, "pre-check: "); ok {
			return s, err
		}
		if strings.HasPrefix(l, upgrade.ErrNothingToDo.Error()) {
			return l, err
		}
	}
	return "", err
}

// startCluster starts a detached run on the cluster.
func startCluster(ctx context.Context, f *fleet.File, t fleet.Target) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	return clusterCommand(ctx, t, buildStart, startArgs(f, t, "--detach")...)
}

// forEach runs fn on the named targets at once and returns their errors by name.
func forEach(targets []fleet.Target, names []string, fn func(fleet.Target) error) map[string]error {
	errs := map[string]error{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, t := range targets {
		if !slices.Contains(names, t.Name) {
			continue
		}
		wg.Go(func() {
			err := fn(t)
			mu.Lock()
			errs[t.Name] = err
			mu.Unlock()
		})
	}
	wg.Wait()
	return errs
}
