package components

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/internal/words"
)

// PrintTable writes the human view: one row per component, then the runtimes grouped
// by version (a thousand nodes on one runtime are one row), then what to upgrade and why.
// Per-node detail is in -o json|yaml.
func (r *Report) PrintTable(out io.Writer) error {
	w := &errWriter{w: tabwriter.NewWriter(out, 6, 4, 3, ' ', 0)}
	target := r.Target
	if target == "" {
		target = "(no --to)"
	}
	w.f("Components in %s, expectations for %s\n\n", strings.Join(r.Namespaces, ", "), target)
	w.f("NAMESPACE\tKIND\tNAME\tCATEGORY\tREADY\tVERSIONS\tEXPECTED\tACTION\n")
	for _, c := range r.Components {
		w.f("%s\t%s\t%s\t%s\t%d/%d\t%s\t%s\t%s\n", c.Namespace, c.Kind, c.Name, c.Category,
			c.Ready, c.Desired, versionsCell(c), dash(c.Expected), dash(string(c.Action)))
	}
	w.f("\nRUNTIME\tNODES\tACTION\n")
	for _, g := range groupRuntimes(r.Runtimes) {
		w.f("%s\t%d (%s)\t%s\n", dash(g.runtime), len(g.nodes), words.List(g.nodes, 3), dash(string(g.action)))
	}
	if w.err != nil {
		return w.err
	}
	if err := w.w.Flush(); err != nil {
		return err
	}
	return r.printReasons(out)
}

func (r *Report) printReasons(out io.Writer) error {
	var lines []string
	for _, c := range r.Components {
		if c.Action != ActionNone {
			lines = append(lines, fmt.Sprintf("  %s %s/%s: %s", c.Action, c.Namespace, c.Name, c.Reason))
		}
	}
	for _, g := range groupRuntimes(r.Runtimes) {
		if g.action != ActionNone {
			lines = append(lines, fmt.Sprintf("  %s runtime on %s: %s", g.action, words.List(g.nodes, 5), g.reason))
		}
	}
	if len(lines) == 0 {
		return nil
	}
	_, err := fmt.Fprintf(out, "\nTo upgrade:\n%s\n", strings.Join(lines, "\n"))
	return err
}

func dash(s string) string { return cmp.Or(s, "-") }

// versionsCell is the versions run, most common first, with counts when skewed.
func versionsCell(c Component) string {
	if len(c.Versions) == 0 {
		return "(no pods)"
	}
	if !c.Skew {
		return c.Versions[0].Version
	}
	return "SKEW " + versionList(c.Versions)
}

type runtimeGroup struct {
	runtime string
	action  Action
	reason  string
	nodes   []string
}

func groupRuntimes(rs []NodeRuntime) []runtimeGroup {
	var out []runtimeGroup
	for _, nr := range rs {
		i := slices.IndexFunc(out, func(g runtimeGroup) bool {
			return g.runtime == nr.Runtime && g.action == nr.Action && g.reason == nr.Reason
		})
		if i < 0 {
			out = append(out, runtimeGroup{runtime: nr.Runtime, action: nr.Action, reason: nr.Reason})
			i = len(out) - 1
		}
		out[i].nodes = append(out[i].nodes, nr.Node)
	}
	return out
}

// errWriter keeps the first write error, so a table is written without checking each row.
type errWriter struct {
	w   *tabwriter.Writer
	err error
}

func (e *errWriter) f(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}
