package cmd

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/api"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/version"
)

// versionKind types the object `version -o json|yaml` prints (apiVersion api.GroupVersion),
// so scripts can tell it apart from the other documents the plugin prints.
const versionKind = "Version"

var (
	versionLong = templates.LongDesc(`
		Print the version, git commit and build date of this plugin binary.

		It reads nothing from the cluster and needs no kubeconfig. Release archives and
		krew installs carry the values set at build time; a binary built with
		"go install" reports the module version instead.`)

	versionExample = templates.Examples(`
		# Print the plugin version
		kubectl edgeupgrade version

		# Print it as a typed object, e.g. for a bug report
		kubectl edgeupgrade version -o yaml

		# Print only the version
		kubectl edgeupgrade version -o jsonpath='{.version}'`)
)

// VersionObject is what `version -o json|yaml` prints.
type VersionObject struct {
	metav1.TypeMeta `json:",inline"`
	version.Info    `json:",inline"`
}

// DeepCopyObject implements runtime.Object; every field is a value.
func (v *VersionObject) DeepCopyObject() runtime.Object {
	out := *v
	return &out
}

// VersionOptions holds the flags and inputs of `kubectl edgeupgrade version`.
type VersionOptions struct {
	PrintFlags *genericclioptions.PrintFlags

	// Info is the build information to print; Complete fills it from the binary.
	Info    version.Info
	printer printers.ResourcePrinter

	genericiooptions.IOStreams
}

// NewVersionOptions returns options printing plain text to streams.
func NewVersionOptions(streams genericiooptions.IOStreams) *VersionOptions {
	pf := documentPrintFlags()
	return &VersionOptions{PrintFlags: pf, IOStreams: streams}
}

// NewCmdVersion returns the `version` command.
func NewCmdVersion(streams genericiooptions.IOStreams) *cobra.Command {
	o := NewVersionOptions(streams)
	cmd := &cobra.Command{
		Use:     "version",
		Short:   "Print the plugin version, commit and build date",
		Long:    versionLong,
		Example: versionExample,
		Args:    cobra.NoArgs,
		RunE:    runOptions(o),
	}
	o.PrintFlags.AddFlags(cmd)
	return cmd
}

// Complete reads the build information and picks the printer for -o; an unknown
// format is an error naming the allowed ones.
func (o *VersionOptions) Complete(_ []string) error {
	o.Info = version.Get()
	return o.completePrinter()
}

func (o *VersionOptions) completePrinter() error {
	if o.outputFormat() == "" && !o.templateGiven() {
		return nil
	}
	p, err := o.PrintFlags.ToPrinter()
	if err != nil {
		return err
	}
	o.printer = p
	return nil
}

// Validate has nothing to check: Complete already refused an unknown -o.
func (o *VersionOptions) Validate() error { return nil }

// Run prints the build information.
func (o *VersionOptions) Run(_ context.Context) error {
	if o.printer == nil {
		_, err := fmt.Fprintf(o.Out, "Version: %s\nCommit:  %s\nBuilt:   %s\nGo:      %s %s\n",
			o.Info.Version, o.Info.Commit, o.Info.Date, o.Info.GoVersion, o.Info.Platform)
		return err
	}
	obj := &VersionObject{
		TypeMeta: metav1.TypeMeta{APIVersion: api.GroupVersion, Kind: versionKind},
		Info:     o.Info,
	}
	return o.printer.PrintObj(obj, o.Out)
}

func (o *VersionOptions) outputFormat() string {
	if o.PrintFlags.OutputFormat == nil {
		return ""
	}
	return *o.PrintFlags.OutputFormat
}

func (o *VersionOptions) templateGiven() bool {
	t := o.PrintFlags.TemplatePrinterFlags
	return t != nil && t.TemplateArgument != nil && *t.TemplateArgument != ""
}
