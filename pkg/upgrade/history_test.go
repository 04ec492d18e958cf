package upgrade

import (
	"slices"
	"testing"
	"time"
)

// TestRecordBatch: a finished batch is recorded with its pool, its start and the
// latest finish of its Jobs; past MaxHistory batches the history is dropped and no
// longer kept (status then reads the Jobs), and a state that kept none records none.
func TestRecordBatch(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	batch := func(i int) *Batch {
		return &Batch{Index: i, Role: RoleWorker, Pool: "a", Nodes: []string{"w1", "w2"}, StartedAt: t0.Add(time.Duration(i) * time.Minute)}
	}
	obs := Observation{Jobs: map[string]Job{
		"w1": {Node: "w1", Phase: JobSucceeded, Finished: t0.Add(90 * time.Second)},
		"w2": {Node: "w2", Phase: JobFailed, Finished: t0.Add(2 * time.Minute)},
	}}
	s := State{HistoryKept: true, Current: batch(1)}
	recordBatch(&s, obs, t0.Add(time.Hour))
	want := []BatchRecord{{Index: "1", Pool: "a", StartedAt: t0.Add(time.Minute), FinishedAt: t0.Add(2 * time.Minute)}}
	if !slices.Equal(s.History, want) || !HistoryComplete(s) {
		t.Fatalf("history %+v kept %v, want %+v", s.History, s.HistoryKept, want)
	}
	if r, ok := RecordOf(s, "1"); !ok || r != want[0] {
		t.Fatalf("RecordOf(1) = %+v %v", r, ok)
	}
	// Jobs with no finish time known: the batch ends when the run saw it end.
	s.Current = batch(2)
	recordBatch(&s, Observation{}, t0.Add(time.Hour))
	if got := s.History[1].FinishedAt; !got.Equal(t0.Add(time.Hour)) {
		t.Fatalf("finish of a batch without Job times: %s", got)
	}
	for i := 3; len(s.History) < MaxHistory; i++ {
		s.Current = batch(i)
		recordBatch(&s, obs, t0)
	}
	s.Current = batch(MaxHistory + 1)
	recordBatch(&s, obs, t0)
	if s.History != nil || HistoryComplete(s) {
		t.Fatalf("past %d batches: %d records, kept %v", MaxHistory, len(s.History), s.HistoryKept)
	}
	recordBatch(&s, obs, t0)
	if s.History != nil {
		t.Fatal("a state that no longer keeps its history recorded a batch")
	}
}

func TestBatchLabels(t *testing.T) {
	got := BatchLabels(State{MasterSerial: 2, Batches: 3})
	if want := []string{"m1", "m2", "1", "2", "3"}; !slices.Equal(got, want) {
		t.Fatalf("BatchLabels = %v, want %v", got, want)
	}
}

// TestNewStateKeepsHistory: a run started by this plugin keeps its batch history.
func TestNewStateKeepsHistory(t *testing.T) {
	sp := Spec{TargetVersion: "v1.36.3", Mode: ModeAll, JobTimeout: Duration{time.Minute}, PauseExpiry: Duration{time.Hour},
		DrainTimeout: Duration{time.Minute}, PreprocessImage: "p", UpgradeImage: "u"}
	s, err := NewState(sp, "r", Cluster{APIServerVersion: "v1.36.3", Nodes: []Node{{Name: "w1", Role: RoleWorker, Version: "v1.35.4"}}}, time.Now())
	if err != nil || !HistoryComplete(s) {
		t.Fatalf("NewState: %v, history kept %v", err, s.HistoryKept)
	}
}
