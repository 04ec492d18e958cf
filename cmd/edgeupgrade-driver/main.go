// Command edgeupgrade-driver is the in-cluster driver of a detached upgrade run: the
// binary of the edgeupgrade image, which the driver Job and the watchdog CronJob run.
// It does what the plugin's `drive` command does (pkg/drive) and nothing else, so it
// links no command-line or terminal library and is half the plugin's size: the
// binary's pages are most of a small driver pod's memory.
//
//	edgeupgrade-driver drive [--run ID] [--once] [--driver-image IMAGE] [--kubeconfig PATH]
//	edgeupgrade-driver version
//
// In a pod it uses the pod's ServiceAccount; --kubeconfig is for running it elsewhere.
// Exit codes: 0 when the run completed, paused or was cancelled (or is no longer the
// current one), 1 on an error, 2 on bad arguments.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/drive"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/runner"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/version"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = "usage: edgeupgrade-driver drive [--run ID] [--once] [--driver-image IMAGE] [--kubeconfig PATH] | edgeupgrade-driver version"

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, out, errOut io.Writer) int {
	if len(args) == 1 && args[0] == "version" {
		v := version.Get()
		_, _ = fmt.Fprintf(out, "edgeupgrade-driver %s (commit %s)\n", v.Version, v.Commit)
		return 0
	}
	if len(args) == 0 || args[0] != "drive" {
		_, _ = fmt.Fprintln(errOut, usage)
		return 2
	}
	fs := flag.NewFlagSet("drive", flag.ContinueOnError)
	fs.SetOutput(errOut)
	var o drive.Options
	var kubeconfig string
	fs.StringVar(&o.RunID, "run", "", "drive only this run id; exit 0 when another run replaced it")
	fs.BoolVar(&o.Once, "once", false, "the watchdog's pass: one reconcile, then replace a lost driver Job")
	fs.StringVar(&o.Image, "driver-image", "", "the driver image a lost driver Job is recreated with (--once)")
	fs.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig file (default: the pod's ServiceAccount)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		_, _ = fmt.Fprintf(errOut, "unexpected arguments %q\n%s\n", fs.Args(), usage)
		return 2
	}
	if o.Once && o.Image == "" {
		_, _ = fmt.Fprintln(errOut, "--once needs --driver-image: the image to recreate a lost driver with")
		return 2
	}
	c, err := connect(kubeconfig)
	if err == nil {
		err = drive.Run(ctx, c, o, out)
	}
	if err != nil {
		_, _ = fmt.Fprintln(errOut, "error: "+err.Error())
		return 1
	}
	return 0
}

// connect builds the clients from the kubeconfig, or in a pod from its ServiceAccount,
// tuned as the plugin's (runner.TuneConfig).
func connect(kubeconfig string) (drive.Clients, error) {
	var rc *rest.Config
	var err error
	if kubeconfig != "" {
		rc, err = clientcmd.BuildConfigFromFlags("", kubeconfig)
	} else {
		rc, err = rest.InClusterConfig()
		if errors.Is(err, rest.ErrNotInCluster) {
			err = errors.New("not in a pod: pass --kubeconfig")
		}
	}
	if err != nil {
		return drive.Clients{}, fmt.Errorf("connect to the cluster: %w", err)
	}
	rc = runner.TuneConfig(rc)
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return drive.Clients{}, fmt.Errorf("connect to the cluster: %w", err)
	}
	return drive.Clients{Kube: cs, Rest: rc}, nil
}
