package runner

import (
	"strings"
	"testing"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// A DaemonSet run is never handed to the in-cluster driver, whose roles do not reach
// the component's namespace: detaching it is refused before anything is created.
func TestDaemonSetRunIsNotDetached(t *testing.T) {
	st := upgrade.State{Spec: upgrade.Spec{Kind: upgrade.KindDaemonSet}}
	if _, err := (&Session{state: st}).driverParams("img"); err == nil || !strings.Contains(err.Error(), "cannot be detached") {
		t.Fatalf("driverParams of a DaemonSet run: %v", err)
	}
	st.Spec.Kind = upgrade.KindDeployment
	if _, err := (&Session{state: st}).driverParams("img"); err == nil || !strings.Contains(err.Error(), "cannot be detached") {
		t.Fatalf("driverParams of a Deployment run: %v", err)
	}
	if isDaemonSetRun(upgrade.State{}) || isDeploymentRun(upgrade.State{}) {
		t.Fatalf("a run without a kind is a Kubernetes run")
	}
}
