package upgrade

import "time"

// BatchRecord is when one finished batch ran: what status shows of a batch that the
// Jobs alone cannot say cheaply. Status reads a finished batch's nodes and results
// from its Jobs as the API server's Table (names and status only, no metadata), and
// its times from here, instead of every Job's metadata: at 5,000 nodes those are
// about 18 MiB per call, most of it managed fields.
type BatchRecord struct {
	// Index is the batch's label ("m1" for the first master, "3" for worker batch 3).
	Index string `json:"index"`
	Pool  string `json:"pool,omitempty"`
	// StartedAt is when the batch was recorded (its Jobs are created right after);
	// FinishedAt is when the last of its Jobs finished, as the run saw it.
	StartedAt  time.Time `json:"startedAt"`
	FinishedAt time.Time `json:"finishedAt"`
}

// MaxHistory bounds State.History: at most this many records (about 100 bytes each,
// a few KiB in all) are kept. A run with more batches than that (hundreds of small
// pools) stops recording, and status reads every Job's metadata again, as it does for
// a run started by a plugin that kept no history.
const MaxHistory = 40

// HistoryComplete reports whether the state holds a record of every finished batch
// of the run, so that status may read the Jobs lean.
func HistoryComplete(s State) bool { return s.HistoryKept }

// recordBatch adds the record of the current batch, whose Jobs have all finished.
func recordBatch(s *State, obs Observation, now time.Time) {
	if !s.HistoryKept {
		return
	}
	if len(s.History) == MaxHistory {
		s.History, s.HistoryKept = nil, false // too many batches: status reads the Jobs
		return
	}
	b := s.Current
	var end time.Time
	for _, n := range b.Nodes {
		if j, ok := obs.Jobs[n]; ok && j.Finished.After(end) {
			end = j.Finished
		}
	}
	if end.IsZero() {
		end = now
	}
	s.History = append(s.History, BatchRecord{Index: b.Label(), Pool: b.Pool, StartedAt: b.StartedAt, FinishedAt: end})
}

// RecordOf returns the record of the batch labelled index.
func RecordOf(s State, index string) (BatchRecord, bool) {
	for _, r := range s.History {
		if r.Index == index {
			return r, true
		}
	}
	return BatchRecord{}, false
}

// BatchLabels lists the labels of every batch the run started, masters first: the
// labels its Jobs can carry.
func BatchLabels(s State) []string {
	out := make([]string, 0, s.MasterSerial+s.Batches)
	for i := 1; i <= s.MasterSerial; i++ {
		out = append(out, BatchLabel(RoleMaster, i))
	}
	for i := 1; i <= s.Batches; i++ {
		out = append(out, BatchLabel(RoleWorker, i))
	}
	return out
}
