package cmd

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/report"
)

// ReportOptions are the inputs of `report`.
type ReportOptions struct {
	Output    string
	OutputDir string

	connect connector
	streams genericiooptions.IOStreams
	now     func() time.Time
}

// NewCmdReport returns the report command.
func NewCmdReport(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	return newCmdReport(connectWith(f), streams, time.Now)
}

// NewReportOptions returns the options of report; now is the clock (time.Now outside tests).
func NewReportOptions(connect connector, streams genericiooptions.IOStreams, now func() time.Time) *ReportOptions {
	return &ReportOptions{connect: connect, streams: streams, now: now, Output: "html", OutputDir: "."}
}

func newCmdReport(connect connector, streams genericiooptions.IOStreams, now func() time.Time) *cobra.Command {
	o := NewReportOptions(connect, streams, now)
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Write a report of the current or last run, for change records",
		Long: templates.LongDesc(`Write a self-contained report of the current or last run: its parameters,
			outcome, the durations of each phase, pool and batch, a timeline (batches as bars over
			time, and the nodes at the target over time), each failure with its node, step and
			message, the nodes left behind and why, and the pre-check result. It reads only what
			the run keeps in the cluster (the state ConfigMap, the Jobs and their pods, the
			Events) and writes nothing there: the edgeupgrade-viewer role is enough.
			-o html writes one HTML file with the timeline as SVG; -o md writes Markdown and the
			timeline as a PNG file beside it.`),
		Example: templates.Examples(`
			# An HTML report in the current directory
			kubectl edgeupgrade report

			# Markdown and a PNG, for a change record
			kubectl edgeupgrade report -o md --output-dir ./change-4711`),
		Args: cobra.NoArgs,
		RunE: runOptions(o),
	}
	cmd.Flags().StringVarP(&o.Output, "output", "o", o.Output, "Format: html (with an SVG timeline) or md (Markdown with a PNG timeline)")
	cmd.Flags().StringVar(&o.OutputDir, "output-dir", o.OutputDir, "Directory to write the report into (created if missing)")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"html", "md"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.MarkFlagDirname("output-dir")
	return cmd
}

// Complete has nothing to take from the arguments.
func (o *ReportOptions) Complete(_ []string) error { return nil }

// Validate checks the flags.
func (o *ReportOptions) Validate() error {
	if o.Output != "html" && o.Output != "md" {
		return fmt.Errorf("unknown --output %q: use html or md", o.Output)
	}
	return nil
}

// Run reads the run and writes the report's files.
func (o *ReportOptions) Run(ctx context.Context) error {
	c, err := o.connect()
	if err != nil {
		return err
	}
	r, err := report.Collect(ctx, c.Kube, o.now())
	if err != nil {
		return err
	}
	sum := report.Summarize(r)
	if err := os.MkdirAll(o.OutputDir, 0o755); err != nil {
		return fmt.Errorf("create the output directory: %w", err)
	}
	base := filepath.Join(o.OutputDir, "edgeupgrade-"+r.State.RunID)
	var doc bytes.Buffer
	files := map[string][]byte{}
	if o.Output == "html" {
		err = report.HTML(&doc, sum)
		files[base+".html"] = doc.Bytes()
	} else {
		var png []byte
		if png, err = sum.Timeline.PNG(); err == nil {
			files[base+".png"] = png
			err = report.Markdown(&doc, sum, filepath.Base(base)+".png")
			files[base+".md"] = doc.Bytes()
		}
	}
	if err != nil {
		return fmt.Errorf("render the report: %w", err)
	}
	for _, ext := range []string{".png", ".md", ".html"} {
		b, ok := files[base+ext]
		if !ok {
			continue
		}
		if err := os.WriteFile(base+ext, b, 0o644); err != nil {
			return fmt.Errorf("write the report: %w", err)
		}
		if _, err := fmt.Fprintf(o.streams.Out, "wrote %s\n", base+ext); err != nil {
			return err
		}
	}
	return nil
}
