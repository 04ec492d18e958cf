package cmd

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/yaml"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/api"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/version"
)

var testVersionInfo = version.Info{
	Version:   "v0.1.0",
	Commit:    "1e6cc67",
	Date:      "2026-01-02T03:04:05Z",
	GoVersion: "go1.26.8",
	Platform:  "linux/amd64",
}

func TestVersionOutput(t *testing.T) {
	for _, tt := range []struct{ output, golden string }{
		{"", "version.golden"},
		{"json", "version-json.golden"},
		{"yaml", "version-yaml.golden"},
		{"jsonpath={.version}", "version-jsonpath.golden"},
	} {
		t.Run("-o="+tt.output, func(t *testing.T) {
			streams, _, out, _ := genericiooptions.NewTestIOStreams()
			o := NewVersionOptions(streams)
			*o.PrintFlags.OutputFormat = tt.output
			if err := o.completePrinter(); err != nil {
				t.Fatal(err)
			}
			o.Info = testVersionInfo
			if err := o.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			compareGolden(t, tt.golden, out.String())
		})
	}
}

// TestVersionCommand runs the cobra command end to end with the binary's real build info.
func TestVersionCommand(t *testing.T) {
	streams, _, out, _ := genericiooptions.NewTestIOStreams()
	cmd := NewCmdVersion(streams)
	cmd.SetArgs([]string{"-o", "yaml"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	var got VersionObject
	if err := yaml.UnmarshalStrict(out.Bytes(), &got); err != nil {
		t.Fatalf("version -o yaml is not a Version object: %v\n%s", err, out)
	}
	want := VersionObject{Info: version.Get()}
	want.APIVersion, want.Kind = api.GroupVersion, versionKind
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("version -o yaml (-want +got):\n%s", diff)
	}
}

func TestVersionRejectsUnknownOutput(t *testing.T) {
	for _, output := range []string{"xml", "name", "wide"} {
		streams, _, out, _ := genericiooptions.NewTestIOStreams()
		cmd := NewCmdVersion(streams)
		cmd.SetArgs([]string{"-o", output})
		cmd.SilenceUsage, cmd.SilenceErrors = true, true
		err := cmd.Execute()
		if err == nil || !strings.Contains(err.Error(), "allowed formats are: go-template") {
			t.Errorf("-o %s: want an error listing the allowed formats, got %v", output, err)
		}
		if out.Len() != 0 {
			t.Errorf("-o %s printed %q", output, out)
		}
	}
}
