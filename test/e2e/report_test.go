package e2e

import (
	"bytes"
	"context"
	"errors"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/charmbracelet/x/vt"
	"github.com/creack/pty"

	"github.com/edgeupgrade/kubectl-edgeupgrade/test/lab"
)

// What the operator sees: without a terminal, one line per batch and phase change and
// the failure in full; after a run with a failure and a resume, the viewer writes the
// report (HTML with one SVG bar per batch, Markdown with a PNG) and reads each node's
// history, the agent's steps included.
func TestReportAndHistoryAfterFailureAndResume(t *testing.T) {
	const failure = "upgrade: kubelet healthz failed after restart; rolled back to v1.35.4"
	e := startLab(t, lab.Config{Masters: 1, Workers: 6, Pools: 2, Fail: map[string]string{"edge-a-002": failure}})
	e.bindRBAC()
	r := e.run(startArgs("--wait")...)
	if r.code != 3 {
		t.Fatalf("start --wait with a failing node: %s", r)
	}
	if !contains(r.out, "FAILED edge-a-002 (batch 2, container upgrade): "+failure) || contains(r.out, "NodeUpgraded") {
		t.Errorf("start --wait lines: the failure not in full, or a line per node:\n%s", r.out)
	}
	if n := strings.Count(r.out, "\n"); n > 20 {
		t.Errorf("start --wait printed %d lines for 4 batches:\n%s", n, r.out)
	}
	if err := e.lab.ClearFaults(context.Background(), "edge-a-002"); err != nil {
		t.Fatal(err)
	}
	if r := e.run("resume", "--retry-failed", "--wait"); r.code != 0 || !contains(r.out, "Completed in ") {
		t.Fatalf("resume --retry-failed --wait: %s", r)
	}
	s := e.status()
	viewer := e.lab.ViewerKubeconfig
	dir := t.TempDir()

	r = e.runAs(viewer, "report", "--output-dir", dir)
	html, err := os.ReadFile(filepath.Join(dir, "edgeupgrade-"+s.RunID+".html"))
	if r.code != 0 || err != nil {
		t.Fatalf("viewer report -o html (%v): %s", err, r)
	}
	// One bar per batch in the order of the run: every batch status shows (from the
	// Jobs), and batch 2, whose only node failed and was retried later (its Job is gone).
	// (Results are compared for batch 2 only: a read-only status may still see the last
	// Jobs running until the job controller marks them Complete.)
	var bars []string
	for _, m := range regexp.MustCompile(`<rect class="batch (\w+)" data-batch="(\w+)"`).FindAllStringSubmatch(string(html), -1) {
		if m[2] == "2" {
			m[2] += ":" + m[1]
		}
		bars = append(bars, m[2])
	}
	var want []string
	for _, b := range s.Batches {
		want = append(want, b.Index)
		if b.Index == "1" {
			want = append(want, "2:failed")
		}
	}
	if strings.Join(bars, " ") != strings.Join(want, " ") {
		t.Errorf("SVG bars %v, want %v", bars, want)
	}
	for _, want := range []string{"Completed", "edge-a-002", "kubelet healthz failed after restart", "retried in batch", "pre-check passed"} {
		if !contains(string(html), want) {
			t.Errorf("the HTML report lacks %q", want)
		}
	}

	r = e.runAs(viewer, "report", "-o", "md", "--output-dir", dir)
	md, err := os.ReadFile(filepath.Join(dir, "edgeupgrade-"+s.RunID+".md"))
	if r.code != 0 || err != nil || !contains(string(md), "![Batches over time") {
		t.Fatalf("viewer report -o md (%v): %s\n%s", err, r, md)
	}
	f, err := os.Open(filepath.Join(dir, "edgeupgrade-"+s.RunID+".png"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	if _, err := png.Decode(f); err != nil {
		t.Fatalf("the report's PNG: %v", err)
	}

	r = e.runAs(viewer, "history")
	if r.code != 0 || strings.Count(r.out, "Succeeded") != 7 || !regexp.MustCompile(`edge-a-002 .* Succeeded .* v1\.35\.4 +v1\.36\.3`).MatchString(r.out) {
		t.Fatalf("viewer history: want 7 nodes upgraded from %s to %s: %s", from, target, r)
	}
	r = e.runAs(viewer, "history", "edge-a-002")
	if r.code != 0 || !regexp.MustCompile(`upgrade +kubeadm +`).MatchString(r.out) || !regexp.MustCompile(`upgrade +verify +`).MatchString(r.out) {
		t.Fatalf("viewer history edge-a-002: want the agent's steps: %s", r)
	}
}

// The live view on a terminal: a whole small run under a pseudo-terminal, its last
// screen read through a terminal emulator.
func TestLiveViewOnATerminal(t *testing.T) {
	e := startLab(t, lab.Config{Masters: 1, Workers: 4, Pools: 1})
	const cols, rows = 100, 30
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, plugin, append(startArgs("--wait"), "--kubeconfig", e.kc)...)
	cmd.Env = append(os.Environ(), "TERM=xterm-256color")
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: rows, Cols: cols})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tty.Close() }()
	var raw bytes.Buffer
	_, err = io.Copy(&raw, tty) // until the plugin exits and the terminal closes (EIO)
	if err != nil && !errors.Is(err, syscall.EIO) {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("start --wait on a terminal: %v\n%s", err, raw.String())
	}
	term := vt.NewEmulator(cols, rows)
	go func() { _, _ = io.Copy(io.Discard, term) }() // answers to queries, if any
	if _, err := term.Write(raw.Bytes()); err != nil {
		t.Fatal(err)
	}
	screen := term.String()
	for _, want := range []string{"Phase   Completed", "5/5 nodes upgraded (100%)", "Masters 1/1 upgraded", "UpgradeCompleted"} {
		if !strings.Contains(screen, want) {
			t.Errorf("last screen lacks %q:\n%s", want, screen)
		}
	}
	if strings.Contains(screen, "waiting for the run") {
		t.Errorf("the view never drew the run:\n%s", screen)
	}
}
