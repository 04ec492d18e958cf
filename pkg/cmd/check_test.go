package cmd

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/precheck"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/precheck/prechecktest"
)

func runCheck(t *testing.T, c *prechecktest.Cluster, edit func(*CheckOptions)) (string, error) {
	t.Helper()
	streams, _, out, _ := genericiooptions.NewTestIOStreams()
	o := NewCheckOptions(fakeConnect(c), streams)
	o.now = prechecktest.Now
	if edit != nil {
		edit(o)
	}
	if err := o.Complete(nil); err != nil {
		return "", err
	}
	if err := o.Validate(); err != nil {
		return "", err
	}
	err := o.Run(context.Background())
	return out.String(), err
}

func plantedCluster() *prechecktest.Cluster {
	c := prechecktest.NewCluster("v1.35.2", append(prechecktest.Planted(), prechecktest.FailedUpgradePod("edge-2"))...)
	c.Metrics = "apiserver_requested_deprecated_apis{group=\"storagemigration.k8s.io\",removed_release=\"1.36\",resource=\"storageversionmigrations\",subresource=\"\",version=\"v1alpha1\"} 1\n"
	return c
}

func TestCheckGolden(t *testing.T) {
	for _, tc := range []struct {
		golden string
		output string
	}{
		{"check-table.golden", ""},
		{"check-json.golden", "json"},
		{"check-yaml.golden", "yaml"},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			out, err := runCheck(t, plantedCluster(), func(o *CheckOptions) {
				o.To = "v1.36.1"
				*o.PrintFlags.OutputFormat = tc.output
			})
			if !errors.Is(err, precheck.ErrBlocking) || !strings.Contains(err.Error(), "checks failed (") {
				t.Errorf("err = %v, want Report.Err (ErrBlocking, exit 2)", err)
			}
			compareGolden(t, tc.golden, out)
		})
	}
}

func TestCheckHealthyClusterIsNormal(t *testing.T) {
	c := prechecktest.NewCluster("v1.35.2", prechecktest.Healthy()...)
	out, err := runCheck(t, c, func(o *CheckOptions) { o.To = "v1.36.1" })
	if err != nil {
		t.Fatalf("err = %v\n%s", err, out)
	}
	compareGolden(t, "check-normal.golden", out)
}

func TestCheckWarningsDoNotFail(t *testing.T) {
	c := prechecktest.NewCluster("v1.35.2", prechecktest.Planted()...)
	_, err := runCheck(t, c, func(o *CheckOptions) {
		o.To = "v1.36.1"
		o.SkipUnready = true
		o.SkipChecks = []string{"removed-api-*", "webhook-no-endpoints", "runtime-version"}
	})
	if err != nil {
		t.Errorf("warnings only: err = %v, want nil (exit 0)", err)
	}
}

func TestCheckBadInput(t *testing.T) {
	c := prechecktest.NewCluster("v1.35.2", prechecktest.Healthy()...)
	for name, edit := range map[string]func(*CheckOptions){
		"mode":     func(o *CheckOptions) { o.Mode = "workers" },
		"selector": func(o *CheckOptions) { o.Selector = "a in (" },
		"skip":     func(o *CheckOptions) { o.SkipChecks = []string{"no-such-check"} },
		"output":   func(o *CheckOptions) { *o.PrintFlags.OutputFormat = "xml" },
	} {
		if _, err := runCheck(t, c, edit); err == nil || errors.Is(err, precheck.ErrBlocking) {
			t.Errorf("%s: err = %v, want an input error", name, err)
		}
	}
}

func TestCheckList(t *testing.T) {
	out, err := runCheck(t, prechecktest.NewCluster("v1.35.2"), func(o *CheckOptions) { o.List = true })
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range precheck.CheckIDs() {
		if !bytes.Contains([]byte(out), []byte(id)) {
			t.Errorf("--list lacks %s", id)
		}
	}
}

func TestCheckCommandFlags(t *testing.T) {
	cmd := NewCmdCheck(nil, genericiooptions.NewTestIOStreamsDiscard())
	for _, name := range []string{"to", "mode", "selector", "drain", "skip-unready", "skip-check", "deep", "preprocess-image", "output", "list"} {
		if cmd.Flags().Lookup(name) == nil {
			t.Errorf("flag --%s missing", name)
		}
	}
}

// TestCheckRuntimeVersion: a containerd too old for the target blocks unless the run
// upgrades it (--runtime-version auto, the flag's default, or a version that fits).
func TestCheckRuntimeVersion(t *testing.T) {
	for _, tc := range []struct {
		flag    string
		blocked bool
		out     string
	}{
		{precheck.RuntimeAuto, false, "the run upgrades containerd to v2.2.9 on the node before the kubelet"},
		{"v2.3.1", false, "the run upgrades containerd to v2.3.1"},
		{precheck.RuntimeNone, true, "rerun with --runtime-version v2.2.9"},
		{"v1.7.30", true, "rerun with --runtime-version v2.2.9"},
	} {
		t.Run(tc.flag, func(t *testing.T) {
			c := prechecktest.NewCluster("v1.35.2", prechecktest.Planted()...)
			out, err := runCheck(t, c, func(o *CheckOptions) {
				o.To, o.SkipUnready, o.RuntimeVersion = "v1.36.1", true, tc.flag
				o.SkipChecks = []string{"removed-api-*", "webhook-no-endpoints"}
			})
			if blocked := err != nil && strings.Contains(err.Error(), "runtime-version"); blocked != tc.blocked || (err != nil && !blocked) {
				t.Errorf("err = %v; want blocked by runtime-version: %v", err, tc.blocked)
			}
			if !strings.Contains(out, tc.out) {
				t.Errorf("output does not say %q:\n%s", tc.out, out)
			}
		})
	}
	c := prechecktest.NewCluster("v1.35.2", prechecktest.Healthy()...)
	if _, err := runCheck(t, c, func(o *CheckOptions) { o.To, o.RuntimeVersion = "v1.36.1", "2.x" }); err == nil || !strings.Contains(err.Error(), "invalid --runtime-version") {
		t.Errorf("--runtime-version 2.x: err = %v, want invalid --runtime-version", err)
	}
}
