package lab

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// daemon is one process the lab started, in its own process group.
type daemon struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{} // closed when the process exited
	err  error
}

// startDaemon starts argv in its own process group with output to logDir/name.log.
// Unless detach is set, the daemon also gets SIGKILL when the lab's process dies
// (Pdeathsig), so a killed test binary orphans nothing.
func startDaemon(name, logDir string, detach bool, argv []string) (*daemon, error) {
	logPath := filepath.Join(logDir, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	// The child writes through its own descriptor; this process writes nothing to f.
	defer func() { _ = f.Close() }()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if !detach {
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	d := &daemon{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		d.err = cmd.Wait()
		close(d.done)
	}()
	return d, nil
}

func (d *daemon) pid() int { return d.cmd.Process.Pid }

func (d *daemon) exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// deadErr describes an exited daemon with the end of its log.
func (d *daemon) deadErr() error {
	return fmt.Errorf("%s exited (%v); last lines of %s:\n%s", d.name, d.err, d.log, tail(d.log, 15))
}

// kill sends SIGKILL to the daemon's process group and waits for it to exit.
// Throw-away clusters need no graceful shutdown (the API server takes >10 s for one).
func (d *daemon) kill() {
	_ = syscall.Kill(-d.pid(), syscall.SIGKILL)
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
	}
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// ---- the pids file: how `down` finds a detached lab ----

// pidsFile lists "name pid" per line.
const pidsFile = "pids"

func writePids(dir string, ds []*daemon) error {
	var b bytes.Buffer
	for _, d := range ds {
		fmt.Fprintf(&b, "%s %d\n", d.name, d.pid())
	}
	tmp := filepath.Join(dir, pidsFile+".tmp")
	if err := os.WriteFile(tmp, b.Bytes(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, pidsFile))
}

type pidEntry struct {
	name string
	pid  int
}

func readPids(dir string) ([]pidEntry, error) {
	f, err := os.Open(filepath.Join(dir, pidsFile))
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }() // read only
	var out []pidEntry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 2 {
			continue
		}
		pid, err := strconv.Atoi(fields[1])
		if err != nil || pid <= 1 {
			continue
		}
		out = append(out, pidEntry{fields[0], pid})
	}
	return out, sc.Err()
}

// ownedBy reports whether pid is alive and one of this lab's processes: every daemon
// the lab starts names the lab directory on its command line, so a recycled PID is
// never killed.
func ownedBy(pid int, dir string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || len(b) == 0 { // gone, or a zombie
		return false
	}
	return bytes.Contains(b, []byte(dir))
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || (s[i+2] != 'Z' && s[i+2] != 'X')
}

// killPids kills each listed process group that still belongs to the lab in dir and
// waits until the leaders are gone.
func killPids(dir string, entries []pidEntry) error {
	var errs []error
	var waiting []pidEntry
	for _, e := range entries {
		if !ownedBy(e.pid, dir) {
			continue
		}
		if err := syscall.Kill(-e.pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, fmt.Errorf("kill %s (pid %d): %w", e.name, e.pid, err))
			continue
		}
		waiting = append(waiting, e)
	}
	deadline := time.Now().Add(15 * time.Second)
	for _, e := range waiting {
		for alive(e.pid) {
			if time.Now().After(deadline) {
				errs = append(errs, fmt.Errorf("%s (pid %d) did not exit after SIGKILL", e.name, e.pid))
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return errors.Join(errs...)
}
