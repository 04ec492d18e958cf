package e2e

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/status"
	"github.com/edgeupgrade/kubectl-edgeupgrade/test/lab"
)

// klogLine is client-go's log header (severity, date, time): none may reach the
// operator's terminal by default.
var klogLine = regexp.MustCompile(`(?m)^[IWEF]\d{4} \d\d:\d\d:\d\d`)

// The API server goes away for half a minute while `start --wait` drives (a control
// plane restarting behind its load balancer, which closes every connection): the
// driver says once that the API server does not answer and once that it answers
// again, prints no log line per failed retry, and completes the run.
func TestAPIServerOutageWhileDriving(t *testing.T) {
	t.Parallel()
	e := startLab(t, lab.Config{Workers: 20, Pools: 1, JobDuration: 2 * time.Second})
	px := newProxy(t, e.lab.Server)
	cfg, err := clientcmd.LoadFromFile(e.kc)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Clusters[cfg.Contexts[cfg.CurrentContext].Cluster].Server = px.URL()
	viaProxy := &env{t: t, lab: e.lab, kc: filepath.Join(t.TempDir(), "kubeconfig")}
	if err := clientcmd.WriteToFile(*cfg, viaProxy.kc); err != nil {
		t.Fatal(err)
	}

	cmd, out := viaProxy.background(startArgs("--wait", "--no-tty")...)
	e.waitFor("the first worker batch", time.Minute, func(s *status.Status) bool {
		return s.CurrentBatch != nil && s.CurrentBatch.Role == "worker"
	})
	px.resetAll(true)            // the watches' connections drop, and so does every new one
	time.Sleep(25 * time.Second) // longer than client-go retries a request on its own
	px.resetAll(false)

	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("start --wait through the outage: %v\n%s", err, out)
		}
	case <-time.After(3 * time.Minute):
		t.Fatalf("start --wait did not end within 3m after the outage:\n%s", out)
	}
	text := out.String()
	t.Logf("start --wait:\n%s", text)
	if s := e.status(); s.Phase != "Completed" || s.Nodes.Upgraded != s.Nodes.Total {
		t.Fatalf("after the outage: %s, %+v", s.Phase, s.Nodes)
	}
	if n := strings.Count(text, "the API server fails this driver's requests since"); n != 1 {
		t.Errorf("the outage was reported %d times, want once", n)
	}
	if n := strings.Count(text, "the API server answers again"); n != 1 {
		t.Errorf("the end of the outage was reported %d times, want once", n)
	}
	if l := klogLine.FindString(text); l != "" || strings.Contains(text, "reflector") {
		t.Errorf("client-go log lines reached the operator: %q", l)
	}
}
