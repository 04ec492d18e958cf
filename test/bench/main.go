// Command bench measures kubectl-edgeupgrade's orchestration overhead on the simulated
// lab (docs/bench.md): for each size it starts a lab (test/lab), runs the real plugin's
// `start --wait` as a subprocess through a counting API proxy while a recorder watches
// Jobs, pods, Nodes, Events and the state ConfigMap, then times `status` and
// `status -o json`. It writes raw/N.json per size and regenerates RESULTS.md and the
// PNG plots from every raw file in -out. `make bench` runs it; docs/bench.md explains
// the method.
//
//	go run ./bench -plugin ../bin/kubectl-edgeupgrade -sizes 100,1000,5000 -out ../bench/results
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/edgeupgrade/kubectl-edgeupgrade/test/lab"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run() error {
	sizes := flag.String("sizes", "100,1000,5000", "comma-separated worker counts, one lab each")
	masters := flag.Int("masters", 3, "control-plane nodes of each lab")
	pools := flag.Int("pools", 1, "edge node pools the workers are spread over")
	jobDuration := flag.Duration("job-duration", 5*time.Second, "simulated duration of every node upgrade")
	plugin := flag.String("plugin", "", "path of the kubectl-edgeupgrade binary to measure (required unless -report-only)")
	out := flag.String("out", "bench/results", "results directory (raw/N.json, RESULTS.md, PNGs)")
	timeout := flag.Duration("timeout", 45*time.Minute, "limit for one size, lab start included")
	statusRuns := flag.Int("status-runs", 3, "runs of status and of status -o json at the end")
	hold := flag.Bool("hold", false, "keep each lab after measuring it (for profiling by hand) until its dir/release file exists")
	reportOnly := flag.Bool("report-only", false, "only regenerate RESULTS.md and the plots from raw/*.json")
	driverBin := flag.String("driver", "", "path of the edgeupgrade-driver binary: measure the in-cluster driver's memory at -driver-sizes instead")
	driverSizes := flag.String("driver-sizes", "1000,5000", "comma-separated worker counts of the driver's detached runs (with -driver)")
	st := stagingFlags()
	probe := probeFlags()
	flag.Parse()
	if st.enabled() {
		return st.run(*plugin, *out, *timeout)
	}

	if *reportOnly {
		if err := writeReport(*out); err != nil {
			return err
		}
		return rewriteStagingReports(*out)
	}
	if *plugin == "" {
		return errors.New("-plugin is required: build it with `go build -o bin/ ./cmd/kubectl-edgeupgrade`")
	}
	abs, err := filepath.Abs(*plugin)
	if err != nil {
		return err
	}
	if _, err := os.Stat(abs); err != nil {
		return fmt.Errorf("plugin: %w", err)
	}
	if _, err := lab.DefaultBinaries(); err != nil {
		return fmt.Errorf("%w (make lab-tools builds them)", err)
	}
	if *driverBin != "" {
		*sizes = *driverSizes
	}
	var ns []int
	for _, f := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return fmt.Errorf("-sizes: %q is not a positive number", f)
		}
		ns = append(ns, n)
	}
	if probe.enabled() {
		for _, n := range ns {
			c := sizeConfig{Workers: n, Masters: *masters, Pools: min(*pools, n), Plugin: *plugin, From: "v1.35.4", Target: "v1.36.3",
				Timeout: *timeout, StatusRuns: *statusRuns, Hold: *hold, Log: os.Stderr}
			if err := probe.run(c); err != nil {
				return fmt.Errorf("status probe at %d workers: %w", n, err)
			}
		}
		return nil
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *driverBin != "" {
		return runDrivers(ctx, *driverBin, ns, sizeConfig{Masters: *masters, Pools: *pools, JobDuration: *jobDuration, Plugin: abs,
			From: "v1.35.4", Target: "v1.36.3", Timeout: *timeout, Log: os.Stderr}, *out)
	}

	var failed []string
	for _, n := range ns {
		c := sizeConfig{Workers: n, Masters: *masters, Pools: min(*pools, n), JobDuration: *jobDuration, Plugin: abs,
			From: "v1.35.4", Target: "v1.36.3", Timeout: *timeout, StatusRuns: *statusRuns, Hold: *hold, Log: os.Stderr}
		r, err := measure(ctx, c)
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted during N=%d; the lab was stopped", n)
		}
		if err != nil {
			c.logf("FAILED: %v", err)
			failed = append(failed, fmt.Sprintf("N=%d: %v", n, err))
			if r == nil {
				r = &raw{Workers: n, Masters: *masters, Pools: c.Pools, JobSeconds: jobDuration.Seconds(),
					Date: time.Now().UTC().Format(time.RFC3339), Machine: describeMachine()}
			}
			r.Error = err.Error()
		}
		r.Machine.Kube, r.Machine.Etcd, r.Machine.Kwok = lab.KubeVersion, lab.EtcdVersion, lab.KwokVersion
		if err := saveRaw(*out, r); err != nil {
			return err
		}
		if err := writeReport(*out); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "bench: results in %s\n", filepath.Join(*out, "RESULTS.md"))
	if len(failed) > 0 {
		return fmt.Errorf("%d size(s) did not complete:\n  %s", len(failed), strings.Join(failed, "\n  "))
	}
	return nil
}
