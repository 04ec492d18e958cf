package report

import (
	"bufio"
	"regexp"
	"strings"
	"time"
)

// The agent logs each step as "<RFC 3339 time> step <i>/<n> <name>" and a failed one
// as "<time> step <name> failed: <error>" (pkg/nodeagent). Steps are read back from
// these lines: a step lasts until the next one starts, the last until its container
// ended.
var (
	stepLine   = regexp.MustCompile(`^(\S+) step \d+/\d+ (\S+)$`)
	failedLine = regexp.MustCompile(`^\S+ step (\S+) failed: (.*)$`)
)

// ParseSteps reads the steps of one container's log; end is when the container
// ended (nil while it runs: the last step's duration is then unknown, 0).
func ParseSteps(container, log string, end *time.Time) []Step {
	var steps []Step
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if m := stepLine.FindStringSubmatch(line); m != nil {
			t, err := time.Parse(time.RFC3339Nano, m[1])
			if err != nil {
				continue
			}
			if n := len(steps); n > 0 {
				steps[n-1].Duration = t.Sub(steps[n-1].Start)
			}
			steps = append(steps, Step{Container: container, Name: m[2], Start: t})
			continue
		}
		if m := failedLine.FindStringSubmatch(line); m != nil {
			for i := len(steps) - 1; i >= 0; i-- {
				if steps[i].Name == m[1] {
					steps[i].Error = m[2]
					break
				}
			}
		}
	}
	if n := len(steps); n > 0 && end != nil {
		steps[n-1].Duration = max(0, end.Sub(steps[n-1].Start))
	}
	return steps
}
