package precheck

import (
	"fmt"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/store"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// NodeCountChanged: while a run is in progress, the cluster has as many nodes in the
// run's scope as when it started. A change means nodes joined or left mid-upgrade;
// batch sizes and progress were computed for the old count.
func (checks) NodeCountChanged() Check {
	return Check{
		ID:          "node-count-changed",
		Title:       "Node count unchanged since the upgrade started",
		Severity:    SeverityWarning,
		Category:    CategoryNode,
		Needs:       []Source{SourceNodes, SourceUpgradeNS},
		Remediation: "check the nodes that joined or left; new nodes may need their own upgrade run",
		Skip: func(v *View) string {
			if _, live := liveRun(v); !live {
				return "no upgrade in progress"
			}
			return ""
		},
		Run: runNodeCountChanged,
	}
}

func runNodeCountChanged(v *View) []Finding {
	st, _ := liveRun(v)
	sel, err := labels.Parse(st.Spec.Selector)
	if err != nil {
		return nil // the state was validated when the run started; upgrade-leftovers reports the run
	}
	n := 0
	for i := range v.Nodes {
		if sel.Matches(labels.Set(v.Nodes[i].Labels)) {
			n++
		}
	}
	// The run counted the nodes its selector listed, of either role.
	if was := st.Workers + st.Masters; n != was {
		what := "nodes"
		if st.Spec.Selector != "" {
			what = fmt.Sprintf("nodes matching %q:", st.Spec.Selector)
		}
		return []Finding{{Object: "Cluster", Message: fmt.Sprintf("%s %d now, %d when the upgrade started (run %s)", what, n, was, st.RunID)}}
	}
	return nil
}

// liveRun returns the run recorded in the state ConfigMap when it has not ended.
func liveRun(v *View) (st upgrade.State, live bool) {
	if v.UpgradeState == nil {
		return st, false
	}
	st, err := store.Decode(v.UpgradeState)
	return st, err == nil && !st.Phase.Terminal()
}
