package nodeagent

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
)

// NsenterRunner runs the host's nsenter. The Job enters PID 1's namespaces; here the
// test enters its own (entering PID 1's needs privileges a test machine may lack).
func TestNsenterRunner(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/usr/bin/nsenter"); err != nil {
		t.Fatalf("this test needs nsenter (util-linux) at /usr/bin/nsenter: %v", err)
	}
	r := NsenterRunner{Root: "/", TargetPID: os.Getpid()}
	var live bytes.Buffer
	out, err := r.Run(context.Background(), Command{Name: "/bin/sh", Args: []string{"-c", "echo $PATH; echo progress >&2"}, Output: &live})
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(out)) != hostPATH || !strings.Contains(live.String(), "progress") {
		t.Errorf("stdout %q, live output %q", out, live.String())
	}
	_, err = r.Run(context.Background(), Command{Name: "/bin/sh", Args: []string{"-c", "echo first >&2; echo '[ERROR] the real cause' >&2; exit 3"}})
	if err == nil || err.Error() != "/bin/sh: exit status 3: [ERROR] the real cause" {
		t.Errorf("error %v", err)
	}
	_, err = NsenterRunner{Root: t.TempDir()}.Run(context.Background(), Command{Name: "true"})
	if err == nil || !strings.Contains(err.Error(), "nsenter not found on the host") {
		t.Errorf("error %v", err)
	}
}
