package precheck

import (
	"fmt"
	"time"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/nodes"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// NodeNotReady: every node in scope is Ready (NotReady workers may be deferred).
func (checks) NodeNotReady() Check {
	return Check{
		ID:          "node-not-ready",
		Title:       "Nodes in scope are Ready",
		Severity:    SeverityError,
		Category:    CategoryNode,
		Needs:       []Source{SourceNodes},
		Remediation: "bring the nodes back (kubelet, runtime, network), or defer workers with --skip-unready",
		Run:         runNodeNotReady,
	}
}

func runNodeNotReady(v *View) []Finding {
	var out []Finding
	for i := range v.Nodes {
		n := &v.Nodes[i]
		if !v.InScope(n) {
			continue
		}
		if nodes.Ready(n) {
			continue
		}
		c := nodes.ReadyCondition(n)
		msg := "no Ready condition reported"
		if c != nil {
			msg = fmt.Sprintf("Ready=%s (%s)", c.Status, c.Reason)
			if c.Message != "" {
				msg += ": " + c.Message
			}
			if !c.LastHeartbeatTime.IsZero() {
				msg += fmt.Sprintf("; last heartbeat %s ago", v.Now.Sub(c.LastHeartbeatTime.Time).Round(time.Second))
			}
		}
		f := Finding{Object: nodeObject(n.Name), Message: msg}
		switch {
		case v.Deferred(n):
			f.Severity = SeverityWarning
			f.Message = "deferred (--skip-unready): " + msg
			f.Remediation = "the run upgrades it in a catch-up batch if it is Ready again before the run ends, else a later run does"
		case nodes.Role(n) == upgrade.RoleMaster:
			f.Remediation = "a control-plane node must be Ready: fix it before upgrading (it cannot be deferred)"
		default:
			f.Remediation = "bring the node back, or pass --skip-unready to start without it (the run catches it up if it is back in time)"
		}
		out = append(out, f)
	}
	return out
}
