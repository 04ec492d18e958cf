package cmd

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/precheck"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// commandOptions is the one shape of every command, kubectl's: NewXOptions builds the
// options with their defaults, the flags fill them, Complete derives what the flags and
// arguments imply (printers, the positional node), Validate refuses bad input before
// anything is read from the cluster, and Run does the work.
type commandOptions interface {
	Complete(args []string) error
	Validate() error
	Run(ctx context.Context) error
}

var (
	_ commandOptions = (*StartOptions)(nil)
	_ commandOptions = (*PlanOptions)(nil)
	_ commandOptions = (*CheckOptions)(nil)
	_ commandOptions = (*StatusOptions)(nil)
	_ commandOptions = (*VerbOptions)(nil)
	_ commandOptions = (*LogsOptions)(nil)
	_ commandOptions = (*HistoryOptions)(nil)
	_ commandOptions = (*ReportOptions)(nil)
	_ commandOptions = (*VersionOptions)(nil)
)

// runOptions is every command's RunE: Complete, Validate, Run.
func runOptions(o commandOptions) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if err := o.Complete(args); err != nil {
			return err
		}
		if err := o.Validate(); err != nil {
			return err
		}
		return o.Run(cmd.Context())
	}
}

// validate checks the scope flags alone and returns the parsed selector (nil: every
// node).
func (s *scopeFlags) validate() (labels.Selector, error) {
	if err := upgrade.ValidateMode(upgrade.Mode(s.Mode)); err != nil {
		return nil, err
	}
	sel, err := labels.Parse(s.Selector)
	if err != nil {
		return nil, fmt.Errorf("invalid --selector %q: %w", s.Selector, err)
	}
	if err := precheck.ValidateSkips(s.SkipChecks); err != nil {
		return nil, err
	}
	if err := precheck.ValidateRuntimeVersion(s.RuntimeVersion); err != nil {
		return nil, err
	}
	if s.Selector == "" {
		return nil, nil
	}
	return sel, nil
}
