package lab

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Tests may send traffic only to loopback. The egress watch samples the sockets of the
// lab's processes (its daemons and the process that runs the lab) and records every one
// whose peer is outside 127.0.0.0/8 and ::1: a node address that is not loopback, a
// name looked up in the machine's DNS, anything that leaves the machine.

// Conn is one socket of a lab process with a peer outside loopback.
type Conn struct {
	Process string // daemon name, or "lab" for the process that runs the lab
	PID     int
	Proto   string // tcp, tcp6, udp, udp6
	Local   string
	Remote  string
}

func (c Conn) String() string {
	return fmt.Sprintf("%s (pid %d) %s %s -> %s", c.Process, c.PID, c.Proto, c.Local, c.Remote)
}

// egressWatch samples until stopped.
type egressWatch struct {
	procRoot string
	pids     func() map[int]string
	cancel   context.CancelFunc
	done     chan struct{}

	mu       sync.Mutex
	outside  []Conn
	seen     map[string]bool // outside connections already recorded
	loopback int             // sockets with a loopback peer seen: proof the watch sees traffic
	samples  int
	errs     int
}

const egressInterval = 100 * time.Millisecond

func startEgressWatch(procRoot string, pids func() map[int]string) *egressWatch {
	ctx, cancel := context.WithCancel(context.Background())
	w := &egressWatch{procRoot: procRoot, pids: pids, cancel: cancel, done: make(chan struct{}), seen: map[string]bool{}}
	go func() {
		defer close(w.done)
		t := time.NewTicker(egressInterval)
		defer t.Stop()
		for {
			w.sample()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return w
}

func (w *egressWatch) stop() {
	w.cancel()
	<-w.done
}

func (w *egressWatch) sample() {
	outside, loopback, err := sampleSockets(w.procRoot, w.pids())
	w.mu.Lock()
	defer w.mu.Unlock()
	w.samples++
	if err != nil {
		w.errs++
	}
	w.loopback += loopback
	for _, c := range outside {
		key := c.Process + " " + c.Proto + " " + c.Remote
		if !w.seen[key] {
			w.seen[key] = true
			w.outside = append(w.outside, c)
		}
	}
}

// EgressReport is what the egress watch saw.
type EgressReport struct {
	Outside  []Conn // every distinct process/protocol/peer outside loopback
	Loopback int    // socket observations with a loopback peer, summed over samples
	Samples  int
	Errors   int // samples that could not read a process (it may have exited)
}

func (w *egressWatch) report() EgressReport {
	w.mu.Lock()
	defer w.mu.Unlock()
	return EgressReport{Outside: append([]Conn(nil), w.outside...), Loopback: w.loopback, Samples: w.samples, Errors: w.errs}
}

// sampleSockets reads, for each process, its socket inodes (/proc/PID/fd) and the socket
// tables of its network namespace (/proc/PID/net/*), and returns the sockets of those
// processes whose peer is set and outside loopback, and how many have a loopback peer.
func sampleSockets(procRoot string, pids map[int]string) (outside []Conn, loopback int, err error) {
	var errs []string
	for pid, name := range pids {
		inodes, e := socketInodes(filepath.Join(procRoot, strconv.Itoa(pid), "fd"))
		if e != nil {
			errs = append(errs, e.Error())
			continue
		}
		if len(inodes) == 0 {
			continue
		}
		for _, proto := range []string{"tcp", "tcp6", "udp", "udp6"} {
			rows, e := readSocketTable(filepath.Join(procRoot, strconv.Itoa(pid), "net", proto))
			if e != nil {
				errs = append(errs, e.Error())
				continue
			}
			for _, r := range rows {
				if !inodes[r.inode] || r.remote.IP.IsUnspecified() {
					continue // another process's socket, or a listener / unconnected socket
				}
				if r.remote.IP.IsLoopback() {
					loopback++
					continue
				}
				outside = append(outside, Conn{Process: name, PID: pid, Proto: proto, Local: r.local.String(), Remote: r.remote.String()})
			}
		}
	}
	if len(errs) > 0 {
		err = fmt.Errorf("egress sample: %s", strings.Join(errs, "; "))
	}
	return outside, loopback, err
}

func socketInodes(fdDir string) (map[string]bool, error) {
	ents, err := os.ReadDir(fdDir)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, e := range ents {
		link, err := os.Readlink(filepath.Join(fdDir, e.Name()))
		if err != nil {
			continue // closed since the listing
		}
		if ino, ok := strings.CutPrefix(link, "socket:["); ok {
			out[strings.TrimSuffix(ino, "]")] = true
		}
	}
	return out, nil
}

type socketRow struct {
	local, remote *net.TCPAddr // the port fits UDP too
	inode         string
}

// readSocketTable parses /proc/net/{tcp,tcp6,udp,udp6}: after a header line, each row
// is "sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...",
// addresses as hex IP:port with the IP in the kernel's byte order.
func readSocketTable(path string) ([]socketRow, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	var rows []socketRow
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 {
			continue
		}
		local, err1 := parseProcAddr(fields[1])
		remote, err2 := parseProcAddr(fields[2])
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%s: bad row %q", path, sc.Text())
		}
		rows = append(rows, socketRow{local: local, remote: remote, inode: fields[9]})
	}
	return rows, sc.Err()
}

// parseProcAddr parses "0100007F:1F90" (IPv4) or 32 hex digits and a port (IPv6): the
// address is a sequence of 32-bit words, each in host (little-endian) byte order.
func parseProcAddr(s string) (*net.TCPAddr, error) {
	hexIP, hexPort, ok := strings.Cut(s, ":")
	if !ok {
		return nil, fmt.Errorf("no port in %q", s)
	}
	raw, err := hex.DecodeString(hexIP)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return nil, fmt.Errorf("bad address %q", s)
	}
	port, err := strconv.ParseUint(hexPort, 16, 16)
	if err != nil {
		return nil, fmt.Errorf("bad port %q", s)
	}
	ip := make(net.IP, len(raw))
	for w := 0; w < len(raw); w += 4 {
		ip[w], ip[w+1], ip[w+2], ip[w+3] = raw[w+3], raw[w+2], raw[w+1], raw[w]
	}
	if v4 := ip.To4(); v4 != nil {
		ip = v4 // an IPv4-mapped IPv6 peer is judged as IPv4
	}
	return &net.TCPAddr{IP: ip, Port: int(port)}, nil
}
