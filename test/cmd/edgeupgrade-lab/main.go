// Command edgeupgrade-lab starts and stops the offline test lab of kubectl-edgeupgrade:
// a real control plane on 127.0.0.1 with kwok nodes and a simulated kubelet upgrade.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/edgeupgrade/kubectl-edgeupgrade/test/lab"
	"github.com/edgeupgrade/kubectl-edgeupgrade/test/lab/sim"
)

func main() {
	if err := newRoot(os.Stdout, os.Stderr).Execute(); err != nil {
		fmt.Fprintf(os.Stderr, "error: %v\n", err)
		os.Exit(1)
	}
}

const defaultDir = "/tmp/edgeupgrade-lab"

func newRoot(out, errOut io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "edgeupgrade-lab",
		Short: "Start and stop the offline test lab of kubectl-edgeupgrade",
		Long: `Start and stop a throw-away Kubernetes cluster for testing kubectl-edgeupgrade.

The lab runs etcd, kube-apiserver, kube-controller-manager and kube-scheduler on
127.0.0.1, simulates the nodes with kwok, and simulates the kubelet upgrade that the
plugin's Jobs perform. It needs no Internet and no container registry; the binaries
come from the cache that 'make lab-tools' fills.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(out)
	root.SetErr(errOut)
	root.AddCommand(newUp(out, errOut), newDown(out), newSet(out), newSim(errOut))
	return root
}

type upOptions struct {
	cfg            lab.Config
	unready        []string
	fail           []string
	hang           []string
	notReadyDuring []string
	kubeconfig     string
	pull           pullFlags
}

func newUp(out, errOut io.Writer) *cobra.Command {
	o := &upOptions{cfg: lab.Config{Dir: defaultDir}}
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start a lab and return once every node is Ready",
		Long: `Start a lab and return once the control plane is healthy and every node is Ready.

The daemons keep running after 'up' returns; their PIDs are in DIR/pids and their logs
in DIR/logs. DIR/kubeconfig is the admin's (system:masters); DIR/kubeconfig-operator
and DIR/kubeconfig-viewer are the users edgeupgrade-operator and edgeupgrade-viewer,
who have no rights until RBAC binds them. Ctrl-C during 'up' stops everything.

Node names are stable: master-1.., edge-a-001.. (pool-a), edge-b-001.. (pool-b), ...,
cloud-01.. (pool cloud).`,
		Example: `  # A demo-sized lab: 3 masters, 60 edge workers in 3 pools, 2 cloud workers
  edgeupgrade-lab up --dir /tmp/lab --masters 3 --workers 60 --pools 3 --cloud-workers 2 --from v1.35.4
  export KUBECONFIG=/tmp/lab/kubeconfig

  # Plant faults: a failing node, a failing pre-process step, a hanging node
  edgeupgrade-lab up --dir /tmp/lab --workers 10 --from v1.35.4 \
    --fail edge-a-002='kubeadm upgrade node: exit status 1' --fail edge-a-003='preprocess: swap is on' \
    --hang edge-a-004 --not-ready-during edge-a-005 --unready edge-a-010`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("pools") && o.cfg.Pools > o.cfg.Workers {
				o.cfg.Pools = o.cfg.Workers
			}
			if err := o.complete(); err != nil {
				return err
			}
			return o.run(cmd.Context(), out, errOut)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.cfg.Dir, "dir", o.cfg.Dir, "lab directory (data, logs, kubeconfigs, pids); removed by down")
	f.IntVar(&o.cfg.Masters, "masters", 3, "control-plane nodes")
	f.IntVar(&o.cfg.Workers, "workers", 20, "edge workers, spread over --pools")
	f.IntVar(&o.cfg.Pools, "pools", 2, "edge node pools (pool-a, pool-b, ...)")
	f.IntVar(&o.cfg.CloudWorkers, "cloud-workers", 0, "cloud workers (pool cloud, openyurt.io/is-edge-worker=false)")
	f.StringVar(&o.cfg.From, "from", "v1.35.4", "kubelet version every node reports")
	f.StringSliceVar(&o.unready, "unready", nil, "nodes that are NotReady from the start (comma-separated or repeated)")
	f.DurationVar(&o.cfg.JobDuration, "job-duration", sim.DefaultJobDuration, "how long a simulated node upgrade takes")
	f.StringArrayVar(&o.fail, "fail", nil, "NODE=MESSAGE: the node's upgrade fails with MESSAGE ('preprocess: ...' fails the init container); repeatable")
	f.StringSliceVar(&o.hang, "hang", nil, "nodes whose upgrade pod never finishes (the Job deadline fails it)")
	f.StringSliceVar(&o.notReadyDuring, "not-ready-during", nil, "NODE or NODE=DURATION: the node goes NotReady when its upgrade starts (for good, or for DURATION and then the upgrade completes)")
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "also write the admin kubeconfig to this path")
	f.IntVar(&o.cfg.NodeLeaseSeconds, "node-lease-seconds", 0, "kwok node lease duration (default 40, or 240 from 500 nodes)")
	f.StringVar(&o.cfg.PodSecurityDefault, "pod-security-default", "baseline", "Pod Security level enforced in namespaces without an enforce label")
	o.pull.add(f)
	return cmd
}

func (o *upOptions) complete() error {
	o.cfg.Unready = o.unready
	o.cfg.Hang = o.hang
	if len(o.fail) > 0 {
		o.cfg.Fail = map[string]string{}
	}
	for _, s := range o.fail {
		node, msg, ok := strings.Cut(s, "=")
		if !ok || node == "" {
			return fmt.Errorf("--fail %q: want NODE=MESSAGE", s)
		}
		o.cfg.Fail[node] = msg
	}
	if len(o.notReadyDuring) > 0 {
		o.cfg.NotReadyDuring = map[string]time.Duration{}
	}
	for _, s := range o.notReadyDuring {
		node, dur, hasDur := strings.Cut(s, "=")
		var d time.Duration
		if hasDur {
			var err error
			if d, err = time.ParseDuration(dur); err != nil || d <= 0 {
				return fmt.Errorf("--not-ready-during %q: want NODE or NODE=DURATION such as 5s", s)
			}
		}
		o.cfg.NotReadyDuring[node] = d
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	o.cfg.SimCommand = []string{self, "sim"}
	o.cfg.Detach = true
	return nil
}

func (o *upOptions) run(parent context.Context, out, errOut io.Writer) error {
	if parent == nil {
		parent = context.Background()
	}
	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	defer stop()
	o.cfg.Progress = errOut
	l, err := lab.Start(ctx, o.cfg)
	if err != nil {
		return err
	}
	if err := o.pull.apply(ctx, l, errOut); err != nil {
		return err
	}
	if o.kubeconfig != "" {
		b, err := os.ReadFile(l.Kubeconfig)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(o.kubeconfig), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(o.kubeconfig, b, 0o600); err != nil {
			return err
		}
	}
	t := l.Topology
	var b strings.Builder
	fmt.Fprintf(&b, "lab is up: %d masters, %d edge workers in %d pools, %d cloud workers, kubelet %s, control plane %s\n",
		len(t.Masters), len(t.Workers())-len(t.Cloud), len(t.Pools), len(t.Cloud), o.cfg.From, lab.KubeVersion)
	fmt.Fprintf(&b, "  admin:    export KUBECONFIG=%s\n", l.Kubeconfig)
	fmt.Fprintf(&b, "  operator: %s (user %s)\n", l.OperatorKubeconfig, lab.OperatorUser)
	fmt.Fprintf(&b, "  viewer:   %s (user %s)\n", l.ViewerKubeconfig, lab.ViewerUser)
	fmt.Fprintf(&b, "  logs:     %s/logs\n", l.Dir)
	fmt.Fprintf(&b, "  stop:     edgeupgrade-lab down --dir %s\n", l.Dir)
	_, err = io.WriteString(out, b.String())
	return err
}

func newDown(out io.Writer) *cobra.Command {
	dir := defaultDir
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Stop a lab and remove its directory",
		Long: `Stop a lab: SIGKILL every process group recorded in DIR/pids that still belongs
to the lab, then remove DIR. Stopping a lab that is not running is not an error.`,
		Example: `  edgeupgrade-lab down --dir /tmp/lab`,
		Args:    cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if err := lab.Down(dir); err != nil {
				return err
			}
			_, err := fmt.Fprintf(out, "lab in %s stopped\n", dir)
			return err
		},
	}
	cmd.Flags().StringVar(&dir, "dir", dir, "lab directory")
	return cmd
}

type setOptions struct {
	dir                      string
	fail, hang, clear, ready []string
	notReady, notReadyDuring []string
	nodeDuration             []string
	noHang                   []string
	defaultDuration          time.Duration
	pull                     pullFlags
	pullFail                 []string
}

func newSet(out io.Writer) *cobra.Command {
	o := &setOptions{dir: defaultDir}
	cmd := &cobra.Command{
		Use:   "set",
		Short: "Change the simulated behaviour of nodes in a running lab",
		Long: `Change the simulated behaviour of nodes in a running lab. The knobs are node
annotations (lab.edgeupgrade.io/...), so 'kubectl annotate' works as well; they apply
to upgrade pods that have not finished yet.`,
		Example: `  edgeupgrade-lab set --dir /tmp/lab --fail edge-a-003='kubelet did not become healthy'
  edgeupgrade-lab set --dir /tmp/lab --hang edge-b-001 --not-ready edge-b-002
  edgeupgrade-lab set --dir /tmp/lab --clear edge-a-003,edge-b-001,edge-b-002 --job-duration 500ms`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.Context(), out)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.dir, "dir", o.dir, "lab directory")
	f.StringArrayVar(&o.fail, "fail", nil, "NODE=MESSAGE: fail the node's upgrade ('preprocess: ...' fails the init container)")
	f.StringSliceVar(&o.hang, "hang", nil, "nodes whose upgrade pod never finishes")
	f.StringSliceVar(&o.noHang, "no-hang", nil, "nodes whose upgrade pod may finish again")
	f.StringSliceVar(&o.notReadyDuring, "not-ready-during", nil, "NODE or NODE=DURATION: NotReady when its upgrade starts")
	f.StringSliceVar(&o.notReady, "not-ready", nil, "nodes to report NotReady now")
	f.StringSliceVar(&o.ready, "ready", nil, "nodes to report Ready now")
	f.StringSliceVar(&o.clear, "clear", nil, "nodes to reset: no faults, Ready")
	f.StringArrayVar(&o.nodeDuration, "node-job-duration", nil, "NODE=DURATION: the node's upgrade duration (0 = default)")
	f.DurationVar(&o.defaultDuration, "job-duration", 0, "the default upgrade duration")
	f.StringArrayVar(&o.pullFail, "pull-fail", nil, "NODE=MESSAGE: the node's staging pulls fail (NODE= clears it)")
	o.pull.add(f)
	return cmd
}

func (o *setOptions) run(ctx context.Context, out io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	l, err := lab.Attach(o.dir)
	if err != nil {
		return err
	}
	var errs []error
	do := func(what, node string, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", what, node, err))
		} else if _, err := fmt.Fprintf(out, "%s: %s\n", node, what); err != nil {
			errs = append(errs, err)
		}
	}
	for _, n := range o.clear {
		do("cleared", n, l.ClearFaults(ctx, n))
	}
	for _, s := range o.fail {
		n, msg, ok := strings.Cut(s, "=")
		if !ok {
			errs = append(errs, fmt.Errorf("--fail %q: want NODE=MESSAGE", s))
			continue
		}
		do("fails with "+msg, n, l.SetFail(ctx, n, msg))
	}
	for _, n := range o.hang {
		do("hangs", n, l.SetHang(ctx, n, true))
	}
	for _, n := range o.noHang {
		do("no longer hangs", n, l.SetHang(ctx, n, false))
	}
	for _, s := range o.notReadyDuring {
		n, dur, hasDur := strings.Cut(s, "=")
		var d time.Duration
		if hasDur {
			if d, err = time.ParseDuration(dur); err != nil {
				errs = append(errs, fmt.Errorf("--not-ready-during %q: %w", s, err))
				continue
			}
		}
		do("goes NotReady during its upgrade", n, l.SetNotReadyDuring(ctx, n, true, d))
	}
	for _, n := range o.notReady {
		do("NotReady", n, l.SetReady(ctx, n, false))
	}
	for _, n := range o.ready {
		do("Ready", n, l.SetReady(ctx, n, true))
	}
	for _, s := range o.nodeDuration {
		n, dur, _ := strings.Cut(s, "=")
		d, err := time.ParseDuration(dur)
		if err != nil {
			errs = append(errs, fmt.Errorf("--node-job-duration %q: %w", s, err))
			continue
		}
		do("upgrade takes "+d.String(), n, l.SetJobDuration(ctx, n, d))
	}
	if o.defaultDuration > 0 {
		do("default upgrade duration "+o.defaultDuration.String(), "all nodes", l.SetDefaultJobDuration(ctx, o.defaultDuration))
	}
	for _, s := range o.pullFail {
		n, msg, _ := strings.Cut(s, "=")
		do("staging pulls fail: "+msg, n, l.SetPullFail(ctx, n, msg))
	}
	errs = append(errs, o.pull.apply(ctx, l, out))
	return errors.Join(errs...)
}

func newSim(errOut io.Writer) *cobra.Command {
	var kubeconfig, readyFile, logDir string
	var workers int
	cmd := &cobra.Command{
		Use:    "sim",
		Short:  "Run the simulated kubelet upgrade (started by up)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
			if err != nil {
				return err
			}
			rc.QPS, rc.Burst = 500, 1000
			rc.ContentType = "application/vnd.kubernetes.protobuf"
			rc.UserAgent = "edgeupgrade-lab-sim"
			c, err := kubernetes.NewForConfig(rc)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			opts := sim.Options{Log: errOut, Workers: workers}
			if logDir != "" {
				dyn, err := dynamic.NewForConfig(rc)
				if err != nil {
					return err
				}
				if opts.ContainerLogs, err = sim.NewContainerLogs(logDir, dyn); err != nil {
					return err
				}
			}
			s := sim.New(c, opts)
			go func() {
				select {
				case <-s.Synced():
					if readyFile != "" {
						_ = os.WriteFile(readyFile, []byte("ok\n"), 0o644)
					}
				case <-ctx.Done():
				}
			}()
			return s.Run(ctx)
		},
	}
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", "admin kubeconfig of the lab")
	cmd.Flags().StringVar(&readyFile, "ready-file", "", "file to create once the simulator runs")
	cmd.Flags().IntVar(&workers, "workers", 8, "pods handled concurrently")
	cmd.Flags().StringVar(&logDir, "container-logs", "", "directory for the simulated agent's container logs (served by kwok)")
	return cmd
}
