package precheck

import (
	"context"
	"fmt"
	"sort"

	"k8s.io/apimachinery/pkg/util/version"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// Run gathers the cluster view once, runs the deep host checks if asked, evaluates
// every check and returns the report. It returns an error only if the pre-check itself
// could not run (bad options, the server version or the nodes unreadable); problems
// found are in the report (see Report.Err and Report.Blocking).
func Run(ctx context.Context, c Clients, o Options) (*Report, error) {
	v, err := Gather(ctx, c, o)
	if err != nil {
		return nil, err
	}
	return Finish(ctx, c, v), nil
}

// Gather validates the options and reads the cluster view. start reads the view
// first, builds its run from the view's nodes and server version, then Finishes.
func Gather(ctx context.Context, c Clients, o Options) (*View, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	return gather(ctx, c, o)
}

// Finish runs the deep host checks if the options ask for them, then evaluates every
// check over the view.
func Finish(ctx context.Context, c Clients, v *View) *Report {
	if v.Options.Deep && !skipped(v.Options.Skip, "host-") {
		runDeep(ctx, c, v)
	}
	return Evaluate(v, Checks())
}

func (o *Options) validate() error {
	if o.Mode != "" {
		if err := upgrade.ValidateMode(o.Mode); err != nil {
			return err
		}
	}
	if err := ValidateSkips(o.Skip); err != nil {
		return err
	}
	if o.Deep && o.DeepImage == "" {
		return fmt.Errorf("deep checks need the node-preprocess image: pass --preprocess-image")
	}
	return nil
}

// skipped reports whether every check with the prefix is skipped ("host-" by "host-*").
func skipped(patterns []string, prefix string) bool {
	for _, p := range patterns {
		if p == prefix+"*" || p == "*" {
			return true
		}
	}
	return false
}

// parseTarget parses the target as start does (upgrade.ParseVersion): a release
// version such as "v1.36.3" or "1.36.3", pre-release kept; "1.36" is refused.
func parseTarget(s string) (*version.Version, error) {
	if s == "" {
		return nil, nil
	}
	return upgrade.ParseVersion(s)
}

// Evaluate runs the checks over a gathered view. It is pure: tests call it directly.
func Evaluate(v *View, cs []Check) *Report {
	r := &Report{Mode: v.Options.mode(), TargetVersion: v.Options.TargetVersion, ServerVersion: v.ServerGitVersion}
	r.APIVersion, r.Kind = ReportAPIVersion, ReportKind
	for _, c := range cs {
		res := evaluate(v, c)
		if res.Result == Failed {
			if res.Severity == SeverityError {
				r.Errors++
			} else {
				r.Warnings++
			}
		}
		r.Results = append(r.Results, res)
	}
	return r
}

func evaluate(v *View, c Check) Result {
	res := Result{ID: c.ID, Title: c.Title, Severity: c.Severity, Remediation: c.Remediation, Result: Passed}
	if reason := skipReason(v, c); reason != "" {
		res.Result, res.Reason = Skipped, reason
		return res
	}
	findings := c.Run(v)
	if len(findings) == 0 {
		return res
	}
	res.Result = Failed
	res.Severity = SeverityWarning
	for i := range findings {
		if findings[i].Severity == "" {
			findings[i].Severity = c.Severity
		}
		if findings[i].Severity == SeverityError {
			res.Severity = SeverityError
		}
	}
	// Errors first, then by object, so reports are stable whatever order the API
	// server listed the objects in.
	sort.SliceStable(findings, func(i, j int) bool {
		if findings[i].Severity != findings[j].Severity {
			return findings[i].Severity == SeverityError
		}
		return findings[i].Object < findings[j].Object
	})
	res.Findings = findings
	return res
}

func skipReason(v *View, c Check) string {
	for _, p := range v.Options.Skip {
		if skipMatches(p, c.ID) {
			return "skipped by --skip-check"
		}
	}
	if c.NeedsTarget && v.Options.TargetVersion == "" {
		return "no target version: pass --to VERSION"
	}
	if c.NeedsTarget && v.Target == nil && !c.AcceptsInvalidTarget {
		return "invalid target version"
	}
	if c.Deep && !v.Options.Deep {
		return "host checks run with --deep"
	}
	for _, s := range c.Needs {
		if err, ok := v.Unavailable[s]; ok {
			return fmt.Sprintf("cannot read %s: %v", s, err)
		}
	}
	if c.Skip != nil {
		return c.Skip(v)
	}
	return ""
}
