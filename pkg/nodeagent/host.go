// Package nodeagent is the node agent that runs inside the per-node Job: host checks
// and a backup (preprocess), the in-place kubeadm upgrade with rollback (upgrade), and
// the deep pre-check (check). Every access to the node goes through Host: files under
// its root directory, commands through its Runner.
package nodeagent

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Command is one command to run on the host.
type Command struct {
	Name string
	Args []string
	// Output, when set, also receives stdout and stderr as they are written (for long
	// commands such as kubeadm, whose progress belongs in the pod log).
	Output io.Writer
}

func (c Command) String() string { return strings.Join(append([]string{c.Name}, c.Args...), " ") }

// Runner runs commands in the host's namespaces and returns their standard output.
type Runner interface {
	Run(ctx context.Context, c Command) ([]byte, error)
}

// Host is the node as the agent sees it.
type Host struct {
	// Root is where the host's / is mounted ("/host" in the Job; "/" on the host).
	Root string
	// Proc is the procfs of the host's PID namespace ("/proc" with hostPID).
	Proc string
	// ExePrefix is what the paths of the host's processes (/proc/PID/exe) carry before
	// the host path: "" in the Job, whose processes share nothing with the host's mount
	// namespace but see its PIDs; tests set it to Root so that only their own fake
	// processes can ever match.
	ExePrefix string
	Runner    Runner
	// Kill signals a process of the host (nil: syscall.Kill). Tests whose /proc is a
	// fake layout set it, so that no real process is ever signalled.
	Kill func(pid int, sig syscall.Signal) error
	// Uptime returns the time since boot in the unit of process start times (nil:
	// read from Proc/uptime). Tests with a fake /proc give it the fake's clock.
	Uptime func() (uint64, error)
}

func (h *Host) uptime() (uint64, error) {
	if h.Uptime != nil {
		return h.Uptime()
	}
	return uptimeTicks(h.Proc)
}

// Path returns where the host's absolute path p is visible to the agent. Symbolic
// links are resolved inside Root (an absolute link such as /var/run -> /run must not
// escape to the container's own file system).
func (h *Host) Path(p string) string { return resolveInRoot(h.Root, p) }

// Run runs name with args on the host and returns its standard output.
func (h *Host) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	return h.Runner.Run(ctx, Command{Name: name, Args: args})
}

// HasSystemd reports whether systemd is the host's init (as sd_booted(3) decides it).
func (h *Host) HasSystemd() bool {
	st, err := os.Stat(h.Path("/run/systemd/system"))
	return err == nil && st.IsDir()
}

// resolveInRoot joins root and p, following symbolic links as if root were /.
func resolveInRoot(root, p string) string {
	if root == "" || root == "/" {
		return filepath.Clean("/" + p)
	}
	parts := strings.Split(filepath.Clean("/"+p), "/")[1:]
	cur := "/"
	for hops := 0; len(parts) > 0; {
		next := parts[0]
		parts = parts[1:]
		if next == "" || next == "." {
			continue
		}
		if next == ".." {
			cur = filepath.Dir(cur)
			continue
		}
		cand := filepath.Join(cur, next)
		target, err := os.Readlink(filepath.Join(root, cand))
		if err != nil || hops > 40 {
			cur = cand
			continue
		}
		hops++
		if filepath.IsAbs(target) {
			cur = "/"
		}
		parts = append(strings.Split(filepath.Clean(target), "/"), parts...)
	}
	return filepath.Join(root, cur)
}

// NsenterRunner runs host commands with the host's own nsenter, in the mount, UTS,
// IPC, network and PID namespaces of the host's PID 1:
//
//	chroot /host nsenter -t 1 -m -u -i -n -p -- CMD ARGS...
//
// The images carry no nsenter (they hold static Go binaries only); every kubeadm node
// has one (kubeadm's preflight requires it). The chroot only serves to find it: once
// nsenter has joined PID 1's mount namespace the command sees the host's / and the
// binaries copied onto the host.
type NsenterRunner struct {
	Root string
	// TargetPID is the process whose namespaces commands enter (0: the host's PID 1).
	TargetPID int
}

// hostPATH is the PATH of commands run on the host.
const hostPATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

func (r NsenterRunner) nsenter() (string, error) {
	for _, d := range filepath.SplitList(hostPATH) {
		p := filepath.Join(d, "nsenter")
		if st, err := os.Stat(resolveInRoot(r.Root, p)); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("nsenter not found on the host under %s (install util-linux; kubeadm needs it too)", r.Root)
}

// Run implements Runner.
func (r NsenterRunner) Run(ctx context.Context, c Command) ([]byte, error) {
	ns, err := r.nsenter()
	if err != nil {
		return nil, err
	}
	target := r.TargetPID
	if target == 0 {
		target = 1
	}
	args := append([]string{"-t", strconv.Itoa(target), "-m", "-u", "-i", "-n", "-p", "--", c.Name}, c.Args...)
	cmd := exec.CommandContext(ctx, ns, args...)
	if r.Root != "" && r.Root != "/" {
		cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: r.Root}
	}
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=" + hostPATH, "HOME=/root", "LANG=C"}
	return runCmd(cmd, c)
}

// runCmd runs cmd, teeing to c.Output, and puts the end of stderr into the error.
func runCmd(cmd *exec.Cmd, c Command) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if c.Output != nil {
		cmd.Stdout = io.MultiWriter(&stdout, c.Output)
		cmd.Stderr = io.MultiWriter(&stderr, c.Output)
	}
	if err := cmd.Run(); err != nil {
		msg := errorSummary(stderr.String())
		if msg == "" {
			msg = errorSummary(stdout.String())
		}
		if msg != "" {
			return stdout.Bytes(), fmt.Errorf("%s: %w: %s", c.Name, err, msg)
		}
		return stdout.Bytes(), fmt.Errorf("%s: %w", c.Name, err)
	}
	return stdout.Bytes(), nil
}

// kubeadm's last line after every error: not the cause.
const kubeadmStackTraceHint = "To see the stack trace of this error execute with --v=5 or higher"

// errorSummary is the line of a failed command's output that names the cause. For
// kubeadm that is its error (`error: error execution phase preflight: preflight checks
// failed`, which can span several lines) followed by its `[ERROR Check]: ...` lines,
// not its last line (the hint about --v=5):
//
//	error execution phase preflight: preflight checks failed: [ERROR SystemVerification]: cgroups v1 support is ...
//
// For other commands it is the last non-empty line.
func errorSummary(out string) string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	var checks []string
	errAt, hintAt := -1, len(lines)
	for i, l := range lines {
		switch {
		case strings.HasPrefix(l, "[ERROR ") && strings.Contains(l, "]"):
			checks = append(checks, l)
		case errAt < 0 && (strings.HasPrefix(l, "error: ") || strings.HasPrefix(l, "error execution phase ")):
			errAt = i
		case l == kubeadmStackTraceHint && hintAt == len(lines):
			hintAt = i
		}
	}
	var parts []string
	if errAt >= 0 && errAt < hintAt {
		parts = append(parts, strings.TrimPrefix(strings.Join(lines[errAt:hintAt], " "), "error: "))
	}
	if len(checks) > 0 {
		parts = append(parts, strings.Join(checks, "; "))
	}
	if len(parts) > 0 {
		return strings.Join(parts, ": ")
	}
	for i := len(lines) - 1; i >= 0; i-- {
		if lines[i] != kubeadmStackTraceHint {
			return lines[i]
		}
	}
	return ""
}
