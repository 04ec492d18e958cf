package view

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// syncBuffer is a bytes.Buffer safe for the program's writer and the test's reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The live view draws the latest snapshot, at most a few times a second however many
// arrive, and leaves the last one drawn when it stops.
func TestLiveDrawsTheLastSnapshotAndStops(t *testing.T) {
	var out syncBuffer
	l := StartLive(&out, false)
	for batch := 4; batch <= 9; batch++ {
		r := newRun(25, batch)
		for i := range 50 { // a burst of reconciles, each changing the clock line
			l.Show(NewSnapshot(r.st, r.obs, nil, r.now.Add(time.Duration(i)*time.Second)))
		}
	}
	r := newRun(25, -1)
	for _, n := range r.st.Current.Nodes {
		j := r.obs.Jobs[n]
		j.Phase, j.Finished = upgrade.JobSucceeded, r.now
		r.obs.Jobs[n] = j
		r.setVersion(n, "v1.36.3")
	}
	r.st.Current, r.st.Phase, r.st.FinishedAt = nil, upgrade.PhaseCompleted, &r.now
	l.Show(NewSnapshot(r.st, r.obs, nil, r.now))
	done := make(chan struct{})
	go func() { l.Stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop did not return")
	}
	got := out.String()
	if !strings.Contains(got, "Phase   Completed") || !strings.Contains(got, "25/25 nodes upgraded (100%)") {
		t.Fatalf("the last screen is not the completed run:\n%s", got)
	}
	// 301 snapshots, each with another clock, in well under a second: a handful of
	// frames (the renderer rewrites the lines that changed), not one per snapshot.
	if n := strings.Count(got, "elapsed "); n > 10 {
		t.Errorf("%d frames drawn for 301 snapshots", n)
	}
}
