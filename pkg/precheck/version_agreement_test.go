package precheck

import (
	"testing"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/hostcheck"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// TestVersionStepRuleAgrees: the one-minor-at-a-time rule (docs/design.md §2.8) is
// applied in three places: by start (upgrade.CheckStep), by the pre-check that check
// and start run (version-target) and, as a guard on the node, by the agent
// (hostcheck.CheckUpgradePath). On the same (from, to) they must give the same verdict.
// For the pre-check, from is the API server's version and every node's kubelet, with
// the control plane visible and --mode all.
func TestVersionStepRuleAgrees(t *testing.T) {
	for _, tc := range []struct {
		from, to string
		ok       bool
	}{
		{"v1.35.2", "v1.36.1", true},
		{"v1.35.2", "1.36.1", true},
		{"v1.35.2", "v1.35.4", true},
		{"v1.35.2", "v1.35.2", true},
		{"v1.35.2", "v1.36.0-rc.1", true}, // the pre-check only warns about a pre-release
		{"v1.36.0-rc.1", "v1.36.0", true},
		{"v1.35.2-aliyun.1", "v1.35.2", true},
		{"v1.35.2+k3s1", "v1.36.1", true},
		{"v1.35.2", "v1.37.0", false},
		{"v1.34.9", "v1.36.1", false},
		{"v1.35.2", "v1.35.1", false},
		{"v1.35.2", "v1.34.9", false},
		{"v1.36.0", "v1.36.0-rc.1", false},
		{"v1.35.2", "v2.0.0", false},
		{"v1.35.2", "1.36", false}, // a release has a patch number: start, check and the agent refuse "1.36"
		{"v1.35.2", "latest", false},
	} {
		t.Run(tc.from+"→"+tc.to, func(t *testing.T) {
			core := upgrade.CheckStep(tc.from, tc.to)

			v := newView(Options{TargetVersion: tc.to})
			v.ServerGitVersion, v.Server = tc.from, mustVersion(tc.from)
			kubeletAll(v, tc.from)
			res := evaluate(v, checkByID(t, "version-target"))
			blocks := res.Result == Failed && res.Severity == SeverityError

			var node error
			installed, err := hostcheck.ParseKubeletVersion("Kubernetes " + tc.from)
			if err != nil {
				t.Fatal(err)
			}
			if target, err := hostcheck.ParseKubeletVersion(tc.to); err != nil {
				node = err // the agent refuses a target it cannot parse (hostcheck.Gather)
			} else {
				node = hostcheck.CheckUpgradePath(installed, target)
			}

			if (core == nil) != tc.ok || blocks == tc.ok || (node == nil) != tc.ok {
				t.Errorf("want ok=%v; upgrade.CheckStep: %v; version-target blocks: %v %+v; hostcheck: %v",
					tc.ok, core, blocks, res.Findings, node)
			}
		})
	}
}

func checkByID(t *testing.T, id string) Check {
	t.Helper()
	for _, c := range Checks() {
		if c.ID == id {
			return c
		}
	}
	t.Fatalf("no check %s", id)
	return Check{}
}
