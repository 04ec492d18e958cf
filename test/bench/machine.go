package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// machine describes where the numbers were measured.
type machine struct {
	CPU      string `json:"cpu"`
	Cores    int    `json:"cores"`
	MemGiB   int    `json:"memGiB"`
	Kernel   string `json:"kernel"`
	Go       string `json:"go"`
	Kube     string `json:"kube"`
	Etcd     string `json:"etcd"`
	Kwok     string `json:"kwok"`
	Hostname string `json:"hostname"`
}

func describeMachine() machine {
	m := machine{Cores: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			m.MemGiB = (kb + 512*1024) / (1024 * 1024)
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	m.Hostname, _ = os.Hostname()
	return m
}

// loadavg returns the 1, 5 and 15 minute load averages.
func loadavg() [3]float64 {
	var l [3]float64
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(b))
		for i := 0; i < 3 && i < len(f); i++ {
			l[i], _ = strconv.ParseFloat(f[i], 64)
		}
	}
	return l
}

// clkTck is USER_HZ, 100 on every Linux this runs on.
const clkTck = 100.0

// procCPU returns a process's user+system CPU seconds (not its children's).
func procCPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the command name may contain spaces
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / clkTck
}

func cpuOf(pids map[string]int) map[string]float64 {
	out := map[string]float64{}
	for name, pid := range pids {
		out[name] = procCPU(pid)
	}
	return out
}

func cpuDelta(a, b map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range b {
		out[k] = v - a[k]
	}
	return out
}

// busy is the machine's busy and total jiffies from /proc/stat.
type busy struct{ busy, total float64 }

func machineBusy() busy {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return busy{}
	}
	f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0])
	var out busy
	for i, v := range f[1:] {
		x, _ := strconv.ParseFloat(v, 64)
		out.total += x
		if i != 3 && i != 4 { // idle, iowait
			out.busy += x
		}
	}
	return out
}

// busyCores is the average number of busy cores between two samples.
func busyCores(a, b busy) float64 {
	if b.total <= a.total {
		return 0
	}
	return (b.busy - a.busy) / (b.total - a.total) * float64(runtime.NumCPU())
}
