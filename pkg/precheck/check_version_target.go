package precheck

import (
	"fmt"

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

// runVersionTarget applies the core's step rule (upgrade.CheckStep, docs/design.md
// §2.8) as start does: from the API server and from every kubelet in scope that is
// below the target. Its own findings are the pre-release warning and what the mode
// and a managed control plane require of the API server.
func runVersionTarget(v *View) []Finding {
	obj := "target " + v.Options.TargetVersion
	if v.TargetErr != nil {
		return []Finding{{Object: obj, Message: v.TargetErr.Error(), Remediation: "pass --to with a version such as v1.36.3"}}
	}
	t, s := v.Target, v.Server
	var out []Finding
	if t.PreRelease() != "" {
		out = append(out, Finding{Object: obj, Severity: SeverityWarning,
			Message: "the target is a pre-release", Remediation: "use a released version unless you are testing"})
	}
	if err := upgrade.CheckStep(v.ServerGitVersion, v.Options.TargetVersion); err != nil {
		return append(out, Finding{Object: obj, Message: err.Error()})
	}
	d := minorDiff(t, s)
	managed := v.ManagedControlPlane()
	switch mode := v.Options.mode(); {
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
		kubelet := n.Status.NodeInfo.KubeletVersion
		if !v.InScope(n) || upgrade.Upgraded(kubelet, v.Options.TargetVersion) {
			continue // a node at or above the target is never touched
		}
		if err := upgrade.CheckStep(kubelet, v.Options.TargetVersion); err != nil {
			out = append(out, Finding{Object: nodeObject(n.Name), Message: err.Error(),
				Remediation: "upgrade the node one minor at a time first, or leave it out (--selector)"})
		}
	}
	return out
}
