package cmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/yaml"

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
			if err := o.Run(); err != nil {
				t.Fatal(err)
			}
			checkVersionGolden(t, tt.golden, out.Bytes())
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
	want.APIVersion, want.Kind = versionAPIVersion, versionKind
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

// checkVersionGolden compares got with testdata/name; UPDATE_GOLDEN=1 rewrites the file.
func checkVersionGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if os.Getenv("UPDATE_GOLDEN") == "1" {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (UPDATE_GOLDEN=1 creates it): %v", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
	}
}
