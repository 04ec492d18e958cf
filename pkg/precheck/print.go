package precheck

import (
	"fmt"
	"io"
	"strings"

	"k8s.io/cli-runtime/pkg/printers"
)

// maxAffected is how many objects the AFFECTED column names before "+N more".
const maxAffected = 3

// PrintTable writes the report as a table (CHECK, SEVERITY, RESULT, AFFECTED, FIX),
// then the findings of every failed check, and last the line "Result: normal" or
// "Result: N errors, M warnings".
func PrintTable(w io.Writer, r *Report) error {
	tw := printers.GetNewTabWriter(w)
	if _, err := fmt.Fprintln(tw, "CHECK\tSEVERITY\tRESULT\tAFFECTED\tFIX"); err != nil {
		return err
	}
	for _, res := range r.Results {
		affected, fix := "-", "-"
		switch res.Result {
		case Failed:
			affected = affectedColumn(res.Findings)
			fix = res.Remediation
		case Skipped:
			fix = res.Reason
		}
		if _, err := fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", res.ID, res.Severity, res.Result, affected, fix); err != nil {
			return err
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	failed := false
	for _, res := range r.Results {
		if res.Result != Failed {
			continue
		}
		if !failed {
			if _, err := fmt.Fprintln(w, "\nFindings:"); err != nil {
				return err
			}
			failed = true
		}
		if _, err := fmt.Fprintf(w, "%s (%s): %s\n", res.ID, res.Severity, res.Title); err != nil {
			return err
		}
		for _, f := range res.Findings {
			src := ""
			if f.Source != "" {
				src = " [" + f.Source + "]"
			}
			if _, err := fmt.Fprintf(w, "  - %s %s: %s%s\n", f.Severity, f.Object, f.Message, src); err != nil {
				return err
			}
			if f.Remediation != "" {
				if _, err := fmt.Fprintf(w, "    fix: %s\n", f.Remediation); err != nil {
					return err
				}
			}
		}
	}
	_, err := fmt.Fprintf(w, "\nResult: %s\n", r.Summary())
	return err
}

func affectedColumn(fs []Finding) string {
	seen := map[string]bool{}
	var names []string
	for _, f := range fs {
		if !seen[f.Object] {
			seen[f.Object] = true
			names = append(names, f.Object)
		}
	}
	if len(names) > maxAffected {
		return fmt.Sprintf("%s (+%d more)", strings.Join(names[:maxAffected], ","), len(names)-maxAffected)
	}
	return strings.Join(names, ",")
}
