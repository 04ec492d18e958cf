// Command gen-removed-apis turns the two reference tables of removed Kubernetes APIs into
// the Go table the pre-check uses (pkg/precheck/zz_generated_removedapis.go).
//
// Inputs (copied from the team's reference folder, kept beside this file so the build
// needs nothing outside the repository):
//
//   - removed-apis-deprecation-guide.csv: the official "Deprecated API Migration Guide"
//     (removal release, replacement, notable changes), v1.16 to v1.32;
//   - k8s-prerelease-lifecycle.csv: the +k8s:prerelease-lifecycle-gen tags of k8s.io/api
//     (introduced, deprecated, removed, replacement) up to the planned removals, which is
//     what the API server's deleted-kinds evaluator enforces.
//
// Rows are merged per (group/version, kind). The lifecycle data wins for the removal
// release (it is what the API server enforces) except for kinds whose Go types were
// already deleted from k8s.io/api, where the guide is more accurate. Replacements are
// followed until one that is never removed, so flowcontrol v1beta1 points at v1.
//
// Usage: go run ./hack/gen-removed-apis [-out pkg/precheck/zz_generated_removedapis.go]
package main

import (
	"bytes"
	"encoding/csv"
	"flag"
	"fmt"
	"go/format"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
)

type row struct {
	GroupVersion     string
	Kind             string
	Deprecated       int // minor of 1.x; 0 = unknown
	Removed          int
	Replacement      string // group/version; "" = none
	ReplacementSince string
	Notes            string
	Sources          []string
}

func main() {
	here := sourceDir()
	guide := flag.String("guide", filepath.Join(here, "removed-apis-deprecation-guide.csv"), "deprecation guide CSV")
	lifecycle := flag.String("lifecycle", filepath.Join(here, "k8s-prerelease-lifecycle.csv"), "k8s.io/api lifecycle CSV")
	out := flag.String("out", filepath.Join(here, "..", "..", "pkg", "precheck", "zz_generated_removedapis.go"), "output Go file ('-' for stdout)")
	flag.Parse()

	src, err := Generate(*guide, *lifecycle)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gen-removed-apis: %v\n", err)
		os.Exit(1)
	}
	if *out == "-" {
		_, _ = os.Stdout.Write(src)
		return
	}
	if err := os.WriteFile(*out, src, 0o644); err != nil {
		fmt.Fprintf(os.Stderr, "gen-removed-apis: %v\n", err)
		os.Exit(1)
	}
}

func sourceDir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "."
	}
	return filepath.Dir(file)
}

// rowSet is the merged table, keyed by group/version and kind.
type rowSet map[string]*row

func key(gv, kind string) string { return gv + "|" + kind }

// Generate reads both CSVs and returns the formatted Go source.
func Generate(guidePath, lifecyclePath string) ([]byte, error) {
	rows, deletedTypes, err := readLifecycle(lifecyclePath)
	if err != nil {
		return nil, err
	}
	if err := mergeGuide(rows, deletedTypes, guidePath); err != nil {
		return nil, err
	}
	rows.followReplacements()
	return render(rows.sorted())
}

// readLifecycle reads the k8s.io/api lifecycle table. deletedTypes holds the kinds whose
// Go types are already gone from k8s.io/api (last field not "HEAD").
func readLifecycle(path string) (rowSet, map[string]bool, error) {
	lc, err := readCSV(path)
	if err != nil {
		return nil, nil, err
	}
	rows, deletedTypes := rowSet{}, map[string]bool{}
	for i, r := range lc {
		if len(r) < 7 {
			return nil, nil, fmt.Errorf("%s line %d: want 7 fields, got %d", path, i+2, len(r))
		}
		removed, err := minor(r[0])
		if err != nil {
			return nil, nil, fmt.Errorf("%s line %d: %w", path, i+2, err)
		}
		deprecated, _ := minor(r[3])
		k := key(r[1], r[2])
		rows[k] = &row{GroupVersion: r[1], Kind: r[2], Deprecated: deprecated, Removed: removed,
			Replacement: r[5], Sources: []string{"k8s.io/api"}}
		if r[6] != "HEAD" {
			deletedTypes[k] = true
		}
	}
	return rows, deletedTypes, nil
}

// mergeGuide adds the deprecation guide's rows; its removal release wins only for kinds
// whose types were deleted from k8s.io/api.
func mergeGuide(rows rowSet, deletedTypes map[string]bool, path string) error {
	gd, err := readCSV(path)
	if err != nil {
		return err
	}
	for i, r := range gd {
		if len(r) < 6 {
			return fmt.Errorf("%s line %d: want 6 fields, got %d", path, i+2, len(r))
		}
		removed, err := minor(r[0])
		if err != nil {
			return fmt.Errorf("%s line %d: %w", path, i+2, err)
		}
		replacement := ""
		if repl := strings.Fields(r[3]); len(repl) > 0 && repl[0] != "(none)" {
			replacement = repl[0]
		}
		for _, gv := range strings.Split(r[1], ";") {
			for _, kind := range strings.Split(r[2], ";") {
				x := rows.upsert(gv, kind, removed, deletedTypes)
				if replacement != "" {
					x.Replacement = replacement
				}
				x.ReplacementSince, x.Notes = r[4], r[5]
				x.Sources = append(x.Sources, "deprecation guide")
			}
		}
	}
	return nil
}

// upsert returns the row of gv/kind, created with the guide's removal release when the
// lifecycle table has none.
func (rows rowSet) upsert(gv, kind string, removed int, deletedTypes map[string]bool) *row {
	k := key(gv, kind)
	x, ok := rows[k]
	switch {
	case !ok:
		x = &row{GroupVersion: gv, Kind: kind, Removed: removed}
		rows[k] = x
	case x.Removed != removed && deletedTypes[k]:
		x.Removed = removed
	}
	return x
}

// followReplacements points every replacement at one that is not itself removed.
func (rows rowSet) followReplacements() {
	for _, x := range rows {
		seen := map[string]bool{}
		for x.Replacement != "" && !seen[x.Replacement] {
			seen[x.Replacement] = true
			next, ok := rows[key(x.Replacement, x.Kind)]
			if !ok || next.Replacement == "" {
				break
			}
			x.Replacement = next.Replacement
		}
	}
}

// sorted orders the rows by removal release, group/version and kind.
func (rows rowSet) sorted() []*row {
	list := make([]*row, 0, len(rows))
	for _, x := range rows {
		list = append(list, x)
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].Removed != list[j].Removed {
			return list[i].Removed < list[j].Removed
		}
		if list[i].GroupVersion != list[j].GroupVersion {
			return list[i].GroupVersion < list[j].GroupVersion
		}
		return list[i].Kind < list[j].Kind
	})
	return list
}

func render(list []*row) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("// Code generated by hack/gen-removed-apis from the deprecation guide and the k8s.io/api\n")
	b.WriteString("// lifecycle tables; DO NOT EDIT. Regenerate with `go generate ./pkg/precheck`.\n\n")
	b.WriteString("package precheck\n\n")
	b.WriteString("// removedAPIs lists every built-in API version/kind that Kubernetes removes, with the\n")
	b.WriteString("// minor release (1.x) that deprecates and removes it and its replacement.\n")
	b.WriteString("var removedAPIs = [...]removedAPI{\n")
	for _, x := range list {
		fmt.Fprintf(&b, "\t{GroupVersion: %q, Kind: %q, Deprecated: %d, Removed: %d, Replacement: %q, ReplacementSince: %q, Notes: %q, Source: %q},\n",
			x.GroupVersion, x.Kind, x.Deprecated, x.Removed, x.Replacement, x.ReplacementSince, x.Notes, strings.Join(x.Sources, ", "))
	}
	b.WriteString("}\n")
	return format.Source(b.Bytes())
}

func readCSV(path string) ([][]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	var out [][]string
	header := true
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if header {
			header = false
			continue
		}
		for i := range rec {
			rec[i] = strings.TrimSpace(rec[i])
		}
		out = append(out, rec)
	}
}

// minor parses "1.25" into 25.
func minor(s string) (int, error) {
	major, m, ok := strings.Cut(s, ".")
	if !ok || major != "1" {
		return 0, fmt.Errorf("version %q: want 1.<minor>", s)
	}
	return strconv.Atoi(m)
}
