package precheck

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
)

// Check is one pre-check: a stable ID (usable in --skip-check), a title, the severity
// it has when it fails, and a pure function of the View that returns findings (none =
// passed). Findings without a severity get the check's.
type Check struct {
	ID          string
	Title       string
	Severity    Severity
	Category    Category
	Remediation string
	// Needs names the View sources the check reads; if one could not be read the
	// check is skipped with the reason.
	Needs []Source
	// NeedsTarget: skipped unless a valid target version is given.
	NeedsTarget bool
	// Deep: skipped unless deep host checks run.
	Deep bool
	// AcceptsInvalidTarget: run even when the target does not parse (version-target
	// reports it).
	AcceptsInvalidTarget bool
	// Skip, when set, returns a reason to skip the check for this view ("" = run it).
	Skip func(v *View) string
	Run  func(v *View) []Finding
}

// Category orders the report: version, nodes, APIs, admission, workloads, upgrade
// leftovers, host.
type Category int

const (
	CategoryVersion Category = iota
	CategoryNode
	CategoryAPI
	CategoryAdmission
	CategoryWorkload
	CategoryUpgrade
	CategoryHost
)

// checks is the registry. Every check is an exported method of this type, in a file
// of its own (check_<id>.go), returning its Check. Checks enumerates the methods by
// reflection, so adding a check touches exactly one file, with no init() and no
// mutable package state.
type checks struct{}

// Checks returns every registered check, ordered by category, then ID.
func Checks() []Check {
	v := reflect.ValueOf(checks{})
	out := make([]Check, 0, v.NumMethod())
	for i := 0; i < v.NumMethod(); i++ {
		c, ok := v.Method(i).Interface().(func() Check)
		if !ok {
			continue
		}
		out = append(out, c())
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Category != out[j].Category {
			return out[i].Category < out[j].Category
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// CheckIDs returns the IDs of every registered check.
func CheckIDs() []string {
	cs := Checks()
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	return ids
}

// skipMatches reports whether a --skip-check pattern names the ID ("host-*" matches
// every ID with that prefix).
func skipMatches(pattern, id string) bool {
	if p, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(id, p)
	}
	return pattern == id
}

// ValidateSkips refuses --skip-check patterns that match no registered check.
func ValidateSkips(patterns []string) error {
	if u := UnknownSkips(patterns); len(u) > 0 {
		return fmt.Errorf("unknown check ID %s in --skip-check: kubectl edgeupgrade check --list shows the IDs", strings.Join(u, ", "))
	}
	return nil
}

// UnknownSkips returns the --skip-check patterns that match no registered check.
func UnknownSkips(patterns []string) []string {
	var unknown []string
	ids := CheckIDs()
	for _, p := range patterns {
		found := false
		for _, id := range ids {
			if skipMatches(p, id) {
				found = true
				break
			}
		}
		if !found {
			unknown = append(unknown, p)
		}
	}
	return unknown
}
