package lab

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeProc lays out /proc/PID/fd (socket links) and /proc/PID/net/* for one process.
func fakeProc(t *testing.T, pid string, inodes []string, tables map[string]string) string {
	t.Helper()
	root := t.TempDir()
	fd := filepath.Join(root, pid, "fd")
	netDir := filepath.Join(root, pid, "net")
	for _, d := range []string{fd, netDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for i, ino := range inodes {
		if err := os.Symlink("socket:["+ino+"]", filepath.Join(fd, string(rune('3'+i)))); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("/dev/null", filepath.Join(fd, "0")); err != nil {
		t.Fatal(err)
	}
	header := "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	for _, proto := range []string{"tcp", "tcp6", "udp", "udp6"} {
		if err := os.WriteFile(filepath.Join(netDir, proto), []byte(header+tables[proto]), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func row(local, remote, inode string) string {
	return "   0: " + local + " " + remote + " 01 00000000:00000000 00:00000000 00000000     0        0 " + inode + " 1 0000000000000000 20 4 30 10 -1\n"
}

func TestSampleSocketsFlagsPeersOutsideLoopback(t *testing.T) {
	tables := map[string]string{
		"tcp": row("0100007F:1F90", "0100007F:9C40", "100") + // 127.0.0.1:8080 -> 127.0.0.1:40000: fine
			row("0100007F:1F91", "0500010A:280A", "101") + // -> 10.1.0.5:10250: a node address that is not loopback
			row("00000000:1F92", "00000000:0000", "102") + // a listener
			row("0100007F:1F93", "0400010A:280A", "999"), // another process's socket (inode not ours)
		"udp": row("0100007F:D431", "35350A0A:0035", "103"), // DNS to 10.10.53.53:53
		"tcp6": row("00000000000000000000000001000000:1F94", "00000000000000000000000001000000:9C41", "104") + // ::1 -> ::1
			row("0000000000000000FFFF00000100007F:1F95", "0000000000000000FFFF00000600010A:1F96", "105"), // mapped 10.1.0.6
	}
	root := fakeProc(t, "42", []string{"100", "101", "102", "103", "104", "105"}, tables)
	outside, loopback, err := sampleSockets(root, map[int]string{42: "kube-apiserver"})
	if err != nil {
		t.Fatal(err)
	}
	if loopback != 2 {
		t.Errorf("loopback peers = %d, want 2 (127.0.0.1 and ::1)", loopback)
	}
	var got []string
	for _, c := range outside {
		got = append(got, c.Proto+" "+c.Remote)
		if c.Process != "kube-apiserver" || c.PID != 42 {
			t.Errorf("conn %s: wrong process", c)
		}
	}
	want := "tcp 10.1.0.5:10250,tcp6 10.1.0.6:8086,udp 10.10.53.53:53"
	if strings.Join(got, ",") != want {
		t.Errorf("outside = %v, want %s", got, want)
	}
}

func TestSampleSocketsReportsAProcessItCannotRead(t *testing.T) {
	_, _, err := sampleSockets(t.TempDir(), map[int]string{7: "gone"})
	if err == nil {
		t.Fatal("no error for a process without /proc entries")
	}
}

func TestParseProcAddr(t *testing.T) {
	for in, want := range map[string]string{
		"0100007F:0050":                         "127.0.0.1:80",
		"0500010A:280A":                         "10.1.0.5:10250",
		"00000000000000000000000001000000:01BB": "[::1]:443",
		"0000000000000000FFFF00000100007F:0016": "127.0.0.1:22",
		"B80D0120000000000000000001000000:0035": "[2001:db8::1]:53",
	} {
		a, err := parseProcAddr(in)
		if err != nil || a.String() != want {
			t.Errorf("parseProcAddr(%s) = %v, %v; want %s", in, a, err, want)
		}
	}
	for _, bad := range []string{"", "0100007F", "01007F:0050", "zz00007F:0050", "0100007F:fffff"} {
		if _, err := parseProcAddr(bad); err == nil {
			t.Errorf("parseProcAddr(%q): no error", bad)
		}
	}
	if !net.ParseIP("::1").IsLoopback() {
		t.Fatal("net: ::1 not loopback")
	}
}
