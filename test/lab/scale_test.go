package lab_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/edgeupgrade/kubectl-edgeupgrade/test/lab"
)

// TestScale measures a big lab: EDGEUPGRADE_LAB_SCALE=N nodes (3 masters, the rest edge
// workers in pools of about 100), idle CPU and memory, and one batch of Jobs on 10% of
// the workers (EDGEUPGRADE_LAB_SCALE_JOBS overrides the count). It uses both cores for
// a while, so it only runs when asked: make lab-scale N=2000.
func TestScale(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("EDGEUPGRADE_LAB_SCALE"))
	if n == 0 {
		t.Skip("set EDGEUPGRADE_LAB_SCALE=N (make lab-scale N=...) to run the scale test")
	}
	workers := n - 3
	pools := max(1, workers/100)
	l := startLab(t, lab.Config{Masters: 3, Workers: workers, Pools: pools, From: from, JobDuration: 2 * time.Second})
	defer l.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()

	idle := sampleCPU(l, 30*time.Second)
	t.Logf("idle CPU over 30s with %d nodes: %s", n, idle)
	t.Logf("RSS: %s", rss(l))

	jobs := max(1, workers/10)
	if v, _ := strconv.Atoi(os.Getenv("EDGEUPGRADE_LAB_SCALE_JOBS")); v > 0 {
		jobs = min(v, workers)
	}
	createNamespace(ctx, t, l.Client)
	names := l.Topology.Workers()[:jobs]
	start := time.Now()
	var wg sync.WaitGroup
	ch := make(chan string)
	for range 16 {
		wg.Go(func() {
			for node := range ch {
				createJob(ctx, t, l.Client, node, 600)
			}
		})
	}
	for _, node := range names {
		ch <- node
	}
	close(ch)
	wg.Wait()
	created := time.Since(start)
	var done atomic.Int64
	err := wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		list, err := l.Client.BatchV1().Jobs("kube-upgrade").List(ctx, metav1.ListOptions{ResourceVersion: "0"})
		if err != nil {
			return false, nil
		}
		var complete int64
		for _, j := range list.Items {
			for _, c := range j.Status.Conditions {
				if c.Type == batchv1.JobComplete && c.Status == "True" {
					complete++
				}
				if c.Type == batchv1.JobFailed && c.Status == "True" {
					return false, fmt.Errorf("job %s failed: %s", j.Name, c.Message)
				}
			}
		}
		done.Store(complete)
		return complete == int64(jobs), nil
	})
	if err != nil {
		t.Fatalf("%d of %d jobs complete: %v", done.Load(), jobs, err)
	}
	t.Logf("%d jobs (2s each) created in %s, all Complete %s after the first was created",
		jobs, created.Round(10*time.Millisecond), time.Since(start).Round(10*time.Millisecond))
	t.Logf("RSS after the batch: %s", rss(l))
}

// sampleCPU returns the CPU the lab's processes used over d, in cores.
func sampleCPU(l *lab.Lab, d time.Duration) string {
	ticks := func() map[string]float64 {
		out := map[string]float64{}
		for name, pid := range l.PIDs() {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			if err != nil {
				continue
			}
			s := string(b)
			f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
			u, _ := strconv.ParseFloat(f[11], 64)
			st, _ := strconv.ParseFloat(f[12], 64)
			out[name] = (u + st) / 100 // USER_HZ
		}
		return out
	}
	before := ticks()
	time.Sleep(d)
	after := ticks()
	var parts []string
	var total float64
	for name, v := range after {
		c := (v - before[name]) / d.Seconds()
		total += c
		parts = append(parts, fmt.Sprintf("%s %.2f", name, c))
	}
	sort.Strings(parts)
	return fmt.Sprintf("%.2f cores (%s)", total, strings.Join(parts, ", "))
}

func rss(l *lab.Lab) string {
	var parts []string
	var total int
	for name, pid := range l.PIDs() {
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
				kb, _ := strconv.Atoi(f[1])
				total += kb
				parts = append(parts, fmt.Sprintf("%s %d MiB", name, kb/1024))
			}
		}
	}
	sort.Strings(parts)
	return fmt.Sprintf("%d MiB (%s; the simulator runs in the test process)", total/1024, strings.Join(parts, ", "))
}
