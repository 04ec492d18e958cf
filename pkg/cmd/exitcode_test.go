package cmd

import (
	"errors"
	"strings"
	"testing"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// How a driven run ended is its exit code (README, "Exit codes").
func TestEndResultExitCodes(t *testing.T) {
	incomplete := upgrade.State{RunID: "r", Phase: upgrade.PhaseIncomplete, Spec: upgrade.Spec{TargetVersion: "v1.36.3"},
		LeftBehind: []upgrade.LeftNode{{Node: "edge-7", Reason: upgrade.LeftOffline}}, LeftBehindCount: 1}
	for _, tc := range []struct {
		st   upgrade.State
		code int
		says string
	}{
		{upgrade.State{Phase: upgrade.PhaseCompleted}, ExitOK, ""},
		{upgrade.State{Phase: upgrade.PhaseNodes, Pause: &upgrade.Pause{Reason: "node x failed"}}, ExitPaused, "node x failed"},
		{upgrade.State{Phase: upgrade.PhaseCancelled, EndReason: "cancelled by user"}, ExitCancelled, "cancelled by user"},
		{incomplete, ExitIncomplete, "edge-7 (offline (NotReady))"},
	} {
		err := endResult(tc.st)
		var ee *ExitError
		switch {
		case tc.code == ExitOK && err != nil:
			t.Errorf("%s: %v, want success", tc.st.Phase, err)
		case tc.code != ExitOK && (!errors.As(err, &ee) || ee.Code != tc.code || !strings.Contains(err.Error(), tc.says)):
			t.Errorf("%s: %v, want exit %d saying %q", tc.st.Phase, err, tc.code, tc.says)
		}
	}
}
