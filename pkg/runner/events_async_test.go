package runner

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// TestEventsWrittenBeforeDriveReturns: while driving, Events are written in the
// background, and every one of them is written when the writers stop.
func TestEventsWrittenBeforeDriveReturns(t *testing.T) {
	f := setup(t, 2)
	ctx := context.Background()
	_, cm, err := f.runner.store.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tick := now
	f.runner.now = func() time.Time { tick = tick.Add(time.Millisecond); return tick } // distinct Event names
	stop := f.runner.startEvents(ctx)
	for range 50 {
		f.runner.Emit(ctx, f.st, cm, upgrade.Event{Type: upgrade.Normal, Reason: upgrade.ReasonNodeUpgraded, Node: "edge-01", Message: "m"})
	}
	stop()
	list, err := f.cs.CoreV1().Events("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 50 || f.runner.events != nil {
		t.Fatalf("after stop: %d Events, writer still set: %v", len(list.Items), f.runner.events != nil)
	}
}
