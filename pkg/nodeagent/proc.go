package nodeagent

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Process is one process of the host's PID namespace. PID and StartTime together
// identify it (a PID can be reused; its start time cannot).
type Process struct {
	PID       int
	PPID      int    // the parent's PID, /proc/PID/stat field 4
	StartTime uint64 // clock ticks after boot, /proc/PID/stat field 22
	Exe       string // /proc/PID/exe without " (deleted)"
	Deleted   bool   // the binary it runs was replaced or removed since it started
	Args      []string
}

// listProcesses returns the processes under procDir for which match is true.
func listProcesses(procDir string, match func(Process) bool) ([]Process, error) {
	ents, err := os.ReadDir(procDir)
	if err != nil {
		return nil, fmt.Errorf("list processes in %s: %w", procDir, err)
	}
	var out []Process
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		p, err := readProcess(procDir, pid)
		if err != nil {
			continue // gone, a kernel thread, or not ours to read
		}
		if match(p) {
			out = append(out, p)
		}
	}
	return out, nil
}

func readProcess(procDir string, pid int) (Process, error) {
	dir := filepath.Join(procDir, strconv.Itoa(pid))
	p := Process{PID: pid}
	stat, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return p, err
	}
	// The command name (field 2) is in parentheses and may contain spaces and ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return p, fmt.Errorf("parse %s/stat", dir)
	}
	fields := strings.Fields(string(stat[i+1:]))
	if len(fields) < 20 { // fields[0] is field 3 (state); starttime is field 22
		return p, fmt.Errorf("parse %s/stat", dir)
	}
	if p.StartTime, err = strconv.ParseUint(fields[19], 10, 64); err != nil {
		return p, err
	}
	if p.PPID, err = strconv.Atoi(fields[1]); err != nil {
		return p, err
	}
	cmdline, err := os.ReadFile(filepath.Join(dir, "cmdline"))
	if err != nil {
		return p, err
	}
	for _, a := range bytes.Split(bytes.TrimRight(cmdline, "\x00"), []byte{0}) {
		p.Args = append(p.Args, string(a))
	}
	if exe, err := os.Readlink(filepath.Join(dir, "exe")); err == nil {
		p.Exe, p.Deleted = strings.CutSuffix(exe, " (deleted)")
	}
	return p, nil
}

// kubeletMatcher matches the processes that run the kubelet binary at host path bin.
// A process is matched by the binary it executes (/proc/PID/exe, as seen through
// exePrefix), falling back to argv[0] when exe cannot be read.
func kubeletMatcher(exePrefix string, bins ...string) func(Process) bool {
	var wants []string
	for _, b := range bins {
		wants = append(wants, filepath.Clean(exePrefix+"/"+b))
	}
	return func(p Process) bool {
		if isVersionQuery(p.Args) {
			return false // `kubelet --version` (the agent's own, a supervisor's probe): not a kubelet that runs
		}
		for _, w := range wants {
			if p.Exe == w || (p.Exe == "" && len(p.Args) > 0 && p.Args[0] == w) {
				return true
			}
		}
		return false
	}
}

// isVersionQuery reports whether args ask a binary for its version and nothing else.
func isVersionQuery(args []string) bool {
	for _, a := range args[min(1, len(args)):] {
		if a == "--version" || strings.HasPrefix(a, "--version=") || a == "-version" {
			return true
		}
	}
	return false
}

// TicksPerSecond is the unit of process start times in /proc/PID/stat (USER_HZ, which
// is 100 on every Linux architecture Kubernetes runs on).
const TicksPerSecond = 100

// uptimeTicks is the time since boot, in the unit of process start times, read from
// procDir/uptime (both count CLOCK_BOOTTIME). A process whose start time is greater
// started after this call.
func uptimeTicks(procDir string) (uint64, error) {
	b, err := os.ReadFile(filepath.Join(procDir, "uptime"))
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, fmt.Errorf("parse %s/uptime: %q", procDir, b)
	}
	sec, frac, _ := strings.Cut(f[0], ".")
	s, err := strconv.ParseUint(sec, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse %s/uptime: %w", procDir, err)
	}
	ticks := s * TicksPerSecond
	frac = (frac + "00")[:2] // hundredths
	if c, err := strconv.ParseUint(frac, 10, 64); err == nil {
		ticks += c * TicksPerSecond / 100
	}
	return ticks, nil
}

// runningKubelets returns the processes running the kubelet at host path bin
// (normally one), also when bin is a symbolic link to the real binary.
func (h *Host) runningKubelets(bin string) ([]Process, error) {
	resolved := strings.TrimPrefix(h.Path(bin), strings.TrimSuffix(h.Root, "/"))
	ps, err := listProcesses(h.Proc, kubeletMatcher(h.ExePrefix, bin, resolved))
	return withoutChildren(ps), err
}

// withoutChildren drops the processes whose parent is in ps. A command the kubelet
// runs (mount, iptables, ...) is forked from it and runs the kubelet's binary, with its
// arguments, until it execs the command: for that instant it looks like another
// kubelet, and a starting kubelet runs many such commands. Counted as kubelets they
// made a healthy start look like a crash loop.
func withoutChildren(ps []Process) []Process {
	pids := make(map[int]bool, len(ps))
	for _, p := range ps {
		pids[p.PID] = true
	}
	out := ps[:0]
	for _, p := range ps {
		if !pids[p.PPID] {
			out = append(out, p)
		}
	}
	return out
}

// findKubeletBinary returns the host path of the binary of a running kubelet, if any
// process whose binary is named kubelet runs under ExePrefix.
func (h *Host) findKubeletBinary() string { return h.findBinary("kubelet") }

// findBinary returns the host path of the binary of a running process whose binary
// is named name (kubelet, containerd), if any runs under ExePrefix.
func (h *Host) findBinary(name string) string {
	ps, _ := listProcesses(h.Proc, func(p Process) bool {
		return filepath.Base(p.Exe) == name && strings.HasPrefix(p.Exe, h.ExePrefix+"/")
	})
	if len(ps) == 0 {
		return ""
	}
	return "/" + strings.TrimPrefix(strings.TrimPrefix(ps[0].Exe, h.ExePrefix), "/")
}
