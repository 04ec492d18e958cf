package upgrade

// Transcript tests, after etcd raft's interaction tests: each testdata/*.txt file sets
// up a cluster, then alternates inputs to Step and changes to what the cluster shows,
// each block followed by the output it must produce (transcript_world_test.go says
// what the commands are). A rule change shows as a text diff of these files:
//
//	make golden   (UPDATE_GOLDEN=1 go test ./pkg/upgrade -run TestTranscripts)
//
// rewrites every expected output from the actual one, for review before commit.
//
// A file is a sequence of blocks. A block is one or more command lines, a line
// "----", and the expected output up to the next blank line (outputs have no blank
// lines). Lines starting with "#" and blank lines between blocks are comments.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/internal/golden"
)

// block is one step of a transcript: the text before its "----" (comments and
// commands, kept as is when rewriting), its commands, and its expected output.
type block struct {
	head     []string
	commands []string
	want     string
	line     int // of the first command, for messages
}

func TestTranscripts(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcripts in testdata: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) { runTranscript(t, file) })
	}
}

func runTranscript(t *testing.T, file string) {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	blocks, tail := parseTranscript(string(data))
	for _, l := range tail {
		if l != "" && !strings.HasPrefix(l, "#") {
			t.Fatalf("%s: %q and the lines after it have no \"----\" line", file, l)
		}
	}
	w := &world{}
	var out strings.Builder
	for _, b := range blocks {
		got := w.run(b.commands)
		if got != b.want && !golden.Updating() {
			t.Errorf("%s:%d: %s\n--- want\n%s\n--- got\n%s", file, b.line, strings.Join(b.commands, " / "), b.want, got)
		}
		out.WriteString(strings.Join(b.head, "\n") + "\n----\n")
		if got != "" {
			out.WriteString(got + "\n")
		}
		out.WriteString("\n")
	}
	if !golden.Updating() {
		return
	}
	text := strings.TrimSuffix(out.String(), "\n")
	if len(tail) > 0 {
		text += "\n" + strings.Join(tail, "\n") + "\n"
	}
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// parseTranscript splits a transcript into blocks, and returns the lines after the
// last block (comments) as tail.
func parseTranscript(text string) (blocks []block, tail []string) {
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	var b block
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if line != "----" {
			b.head = append(b.head, line)
			if line != "" && !strings.HasPrefix(line, "#") {
				if len(b.commands) == 0 {
					b.line = i + 1
				}
				b.commands = append(b.commands, line)
			}
			continue
		}
		var want []string
		for i+1 < len(lines) && lines[i+1] != "" {
			i++
			want = append(want, lines[i])
		}
		i++ // the blank line that ends the block
		b.want = strings.Join(want, "\n")
		blocks = append(blocks, b)
		b = block{}
	}
	return blocks, b.head
}
