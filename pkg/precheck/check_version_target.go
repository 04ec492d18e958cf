package precheck

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/version"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// VersionTarget: the target parses, is one minor step at most, is not a downgrade, and
// fits the mode and the kind of control plane.
func (checks) VersionTarget() Check {
	return Check{
		ID:                   "version-target",
		Title:                "Target version is valid: at most one minor step, no downgrade",
		Severity:             SeverityError,
		Category:             CategoryVersion,
		NeedsTarget:          true,
		AcceptsInvalidTarget: true,
		Remediation:          "choose a target within one minor of the API server",
		Run:                  runVersionTarget,
	}
}

func runVersionTarget(v *View) []Finding {
	if v.TargetErr != nil {
		return []Finding{{Object: "target " + v.Options.TargetVersion, Message: v.TargetErr.Error(), Remediation: "pass --to with a version such as v1.36.3"}}
	}
	t, s := v.Target, v.Server
	obj := "target " + v.Options.TargetVersion
	var out []Finding
	if t.PreRelease() != "" {
		out = append(out, Finding{Object: obj, Severity: SeverityWarning,
			Message: "the target is a pre-release", Remediation: "use a released version unless you are testing"})
	}
	d := minorDiff(t, s)
	managed := v.ManagedControlPlane()
	mode := v.Options.mode()
	upgradesControlPlane := mode != upgrade.ModeNodes && !managed
	switch {
	case t.Major() != s.Major():
		return append(out, Finding{Object: obj, Message: fmt.Sprintf("the API server is %s: major version upgrades are not supported", v.ServerGitVersion)})
	case d < 0 || (upgradesControlPlane && compareRelease(t, s) < 0):
		return append(out, Finding{Object: obj, Message: fmt.Sprintf("downgrade refused: the API server is already %s", v.ServerGitVersion),
			Remediation: "pass a target at or above the API server version"})
	case d > 1:
		return append(out, Finding{Object: obj,
			Message:     fmt.Sprintf("the API server is %s: upgrades go one minor version at a time", v.ServerGitVersion),
			Remediation: fmt.Sprintf("upgrade to %d.%d first", s.Major(), s.Minor()+1)})
	case mode == upgrade.ModeNodes && d != 0:
		out = append(out, Finding{Object: obj,
			Message:     fmt.Sprintf("--mode nodes upgrades kubelets only, and the API server is still %s: kubelets must not be newer than the API server", v.ServerGitVersion),
			Remediation: fmt.Sprintf("upgrade the control plane to %s first (--mode control-plane or all)", minorString(t))})
	case mode == upgrade.ModeControlPlane && managed:
		out = append(out, Finding{Object: obj,
			Message:     "no control-plane node is visible (managed control plane): --mode control-plane has nothing to upgrade",
			Remediation: "upgrade the control plane with your provider, then run with --mode nodes"})
	case managed && d != 0:
		out = append(out, Finding{Object: obj,
			Message:     fmt.Sprintf("no control-plane node is visible (managed control plane) and the API server is %s", v.ServerGitVersion),
			Remediation: fmt.Sprintf("upgrade the control plane to %s with your provider first, then upgrade the nodes", minorString(t))})
	}
	for i := range v.Nodes {
		n := &v.Nodes[i]
		k, err := version.ParseGeneric(n.Status.NodeInfo.KubeletVersion)
		if err != nil || !v.Upgrades(n) || compareRelease(k, t) <= 0 {
			continue
		}
		out = append(out, Finding{Object: nodeObject(n.Name),
			Message:     fmt.Sprintf("kubelet %s is newer than the target: downgrades are refused", n.Status.NodeInfo.KubeletVersion),
			Remediation: "pass a target at or above the node's version, or leave the node out (--selector)"})
	}
	return out
}
