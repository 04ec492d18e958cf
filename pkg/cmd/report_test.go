package cmd

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/precheck/prechecktest"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/status"
)

func reportCmd(connect connector, streams genericiooptions.IOStreams) *cobra.Command {
	return newCmdReport(connect, streams, time.Now)
}

func historyCmd(connect connector, streams genericiooptions.IOStreams) *cobra.Command {
	return newCmdHistory(nil, connect, streams, time.Now)
}

func TestReportWritesFiles(t *testing.T) {
	c := prechecktest.NewCluster("v1.35.2", append(prechecktest.Healthy(), failedUpgrade("edge-2")...)...)
	seedRun(t, c, paused("upgrade of edge-2 failed"))
	for format, files := range map[string][]string{"html": {".html"}, "md": {".md", ".png"}} {
		dir := filepath.Join(t.TempDir(), "out")
		out, _, err := execute(t, c, reportCmd, "-o", format, "--output-dir", dir)
		if err != nil {
			t.Fatalf("report -o %s: %v", format, err)
		}
		for _, ext := range files {
			path := filepath.Join(dir, "edgeupgrade-"+testRunID+ext)
			b, err := os.ReadFile(path)
			if err != nil || len(b) == 0 || !strings.Contains(out, "wrote "+path) {
				t.Fatalf("report -o %s: %s missing or not announced (%v):\n%s", format, path, err, out)
			}
			if ext != ".png" && (!strings.Contains(string(b), "edge-2") || !strings.Contains(string(b), "upgrade of edge-2 failed")) {
				t.Errorf("report -o %s does not name the failed node and the pause:\n%s", format, b)
			}
		}
	}
	if _, _, err := execute(t, c, reportCmd, "-o", "pdf"); err == nil || !strings.Contains(err.Error(), "use html or md") {
		t.Errorf("-o pdf: err = %v", err)
	}
}

func TestHistory(t *testing.T) {
	c := prechecktest.NewCluster("v1.35.2", append(prechecktest.Healthy(), failedUpgrade("edge-2")...)...)
	seedRun(t, c, paused("upgrade of edge-2 failed"))
	out, _, err := execute(t, c, historyCmd)
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[0], "BATCH") || !strings.Contains(lines[1], "edge-2") || !strings.Contains(lines[1], "Failed") {
		t.Errorf("history:\n%s", out)
	}
	out, _, err = execute(t, c, historyCmd, "edge-2")
	if err != nil || !regexp.MustCompile(`Node:\s+edge-2\n`).MatchString(out) || !regexp.MustCompile(`Result:\s+Failed\n`).MatchString(out) {
		t.Errorf("history edge-2 (%v):\n%s", err, out)
	}
	out, _, err = execute(t, c, historyCmd, "-o", "json")
	if err != nil || !strings.Contains(out, `"kind": "UpgradeHistory"`) {
		t.Errorf("history -o json (%v):\n%s", err, out)
	}
	if _, _, err := execute(t, c, historyCmd, "edge-1"); err == nil || !strings.Contains(err.Error(), `node "edge-1" has no upgrade Job in run `+testRunID) {
		t.Errorf("history of a node without a Job: err = %v", err)
	}
}

func TestDriveOutputFlags(t *testing.T) {
	for name, tc := range map[string]struct {
		cmd  func(connector, genericiooptions.IOStreams) *cobra.Command
		args []string
		want string
	}{
		"status watch yaml": {newCmdStatus, []string{"--watch", "-o", "yaml"}, "use -o json"},
		"resume wait yaml":  {newCmdResume, []string{"--wait", "-o", "yaml"}, "use -o json"},
		"start json":        {startAt, []string{"--to", "v1.36.1", "-o", "json"}, "add --wait"},
	} {
		if _, _, err := execute(t, healthy(), tc.cmd, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", name, err, tc.want)
		}
	}
}

// status --watch -o json streams one status object per change, one per line, to the end.
func TestStatusWatchStreamsJSON(t *testing.T) {
	c := healthy()
	seedRun(t, c, nil)
	defer fakeKubelets(t, c)()
	out, _, err := execute(t, c, newCmdStatus, "--watch", "-o", "json")
	if err != nil {
		t.Fatalf("status --watch -o json: exit %d (%v)\n%s", exitCode(err), err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var last status.Status
	for _, l := range lines {
		if err := json.Unmarshal([]byte(l), &last); err != nil || last.Kind != "UpgradeStatus" {
			t.Fatalf("not one status object per line (%v): %q", err, l)
		}
	}
	if len(lines) < 3 || last.Phase != "Completed" || last.Nodes.Upgraded != last.Nodes.Total {
		t.Errorf("%d objects, the last %s with %d/%d upgraded; want several, the last Completed", len(lines), last.Phase, last.Nodes.Upgraded, last.Nodes.Total)
	}
}
