package main

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// batchStat is one batch as the recorder saw it (seconds since the epoch).
type batchStat struct {
	Label       string  `json:"label"`
	Size        int     `json:"size"`
	Start       float64 `json:"start"`       // first Job created
	CreatedLast float64 `json:"createdLast"` // last Job created
	RunningLast float64 `json:"runningLast"` // last pod Running (the simulated upgrade started)
	PodDoneLast float64 `json:"podDoneLast"` // last pod finished (the simulated upgrade ended)
	End         float64 `json:"end"`         // last Job Complete
	Recorded    float64 `json:"recorded"`    // the state ConfigMap first named this batch (write-ahead)
}

// transition is the hand-over from one batch to the next.
type transition struct {
	From, To string
	// Reaction: the last node of From done (its pod Succeeded: the node agent's work
	// ended) → first Job of To created. This is the metric; it includes the
	// job controller's delay when the plugin waits for the Job's Complete condition.
	Reaction float64
	// JobController: last pod of From finished → last Job of From Complete.
	JobController float64
	// Notice: last node of From done → the state ConfigMap names To (the Job status
	// update, the watch, settle, reconcile, the conditional write).
	Notice float64
	// Act: that write → first Job of To created (waiting for the write in the cache,
	// and whatever is done before the Jobs).
	Act float64
	// Decide: last node of From done → the plugin's ConfigMap update reaches the
	// proxy (the watch delivering the change, settle, observe and decide in the
	// plugin); Write: that request → the recorder sees the new ConfigMap.
	Decide, Write float64
	// CreateSpan: first → last Job of To created.
	CreateSpan float64
}

type dist struct {
	N                  int
	P50, P95, Max, Sum float64
}

func distOf(xs []float64) dist {
	if len(xs) == 0 {
		return dist{}
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	d := dist{N: len(s), Max: s[len(s)-1]}
	for _, x := range s {
		d.Sum += x
	}
	d.P50 = quantile(s, 0.50)
	d.P95 = quantile(s, 0.95)
	return d
}

// quantile of sorted xs, nearest rank (p95 of 20 values is the 19th).
func quantile(s []float64, q float64) float64 {
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

// summary is one row of the results table.
type summary struct {
	Nodes, Workers, Masters, Batches int
	Wall, Ideal, Ratio               float64
	RunWall, RunRatio                float64 // from the first Job: without the pre-check and plan
	// PluginRatio is (ideal + the plugin's own time: reactions and tail) / ideal, with
	// the start-up in PluginRatioStartup: what the ratio would be if the control plane
	// turned a Job into a running pod instantly.
	PluginRatio, PluginRatioStartup  float64
	Startup, Tail                    float64 // plugin start → first Job; last node done → plugin exit
	InBatchOverhead                  float64 // Σ (first Job → last node done − node duration)
	Gaps                             float64 // Σ reaction
	Reaction, JobController          dist
	Notice, Act, CreateSpan          dist
	Decide, Write                    dist
	Requests                         int
	PerNode                          float64
	ByVerb                           []tally
	Watches                          int
	CMDataMax, CMObjectMax, CMWrites int
	RSSMiB, AnonMiB, CPUSeconds      float64
	Status, StatusJSON               dist
	StatusRequests                   int
	StatusBytes, StatusJSONBytes     int64   // read through the proxy by the last run of each
	StatusCPU, StatusRSSMiB          float64 // of the last `status` run
	JobSeconds                       float64 // the simulated node work
	PodReads                         int     // list and watch pods: the pre-check's and the health gate's
	Watch                            map[string]int
	Batch                            []batchStat
	Trans                            []transition
}

func summarize(r *raw) summary {
	s := summary{Nodes: r.Masters + r.Workers, Workers: r.Workers, Masters: r.Masters, JobSeconds: r.JobSeconds}
	byLabel := map[string]*batchStat{}
	for _, j := range r.Jobs {
		b := byLabel[j.Batch]
		if b == nil {
			b = &batchStat{Label: j.Batch, Start: j.Created}
			byLabel[j.Batch] = b
		}
		b.Size++
		b.Start = math.Min(b.Start, j.Created)
		b.CreatedLast = math.Max(b.CreatedLast, j.Created)
		b.RunningLast = math.Max(b.RunningLast, j.PodRunning)
		b.PodDoneLast = math.Max(b.PodDoneLast, j.PodDone)
		b.End = math.Max(b.End, j.Done)
	}
	for _, c := range r.ConfigMap {
		if b := byLabel[c.Batch]; b != nil && (b.Recorded == 0 || c.At < b.Recorded) {
			b.Recorded = c.At
		}
	}
	for _, b := range byLabel {
		s.Batch = append(s.Batch, *b)
	}
	sort.Slice(s.Batch, func(i, j int) bool { return s.Batch[i].Start < s.Batch[j].Start })
	s.Batches = len(s.Batch)

	s.Wall = r.PluginEnd - r.PluginStart
	s.Ideal = float64(s.Batches) * r.JobSeconds
	if s.Ideal > 0 {
		s.Ratio = s.Wall / s.Ideal
	}
	var puts []float64 // ConfigMap updates as they reached the proxy, epoch seconds
	for _, q := range r.Requests {
		if q.Verb == "update" && q.Resource == "configmaps" {
			puts = append(puts, q.At+r.ProxyOffset)
		}
	}
	sort.Float64s(puts)
	var reaction, jobctl, notice, act, span, decide, write []float64
	for i, b := range s.Batch {
		s.InBatchOverhead += b.PodDoneLast - b.Start - r.JobSeconds
		if i == 0 {
			s.Startup = b.Start - r.PluginStart
			s.RunWall = r.PluginEnd - b.Start
			if s.Ideal > 0 {
				s.RunRatio = s.RunWall / s.Ideal
			}
			continue
		}
		p := s.Batch[i-1]
		t := transition{From: p.Label, To: b.Label, Reaction: b.Start - p.PodDoneLast, JobController: p.End - p.PodDoneLast,
			CreateSpan: b.CreatedLast - b.Start}
		if b.Recorded > 0 {
			t.Notice, t.Act = b.Recorded-p.PodDoneLast, b.Start-b.Recorded
			notice, act = append(notice, t.Notice), append(act, t.Act)
			// The update that named To: the last one sent before the recorder saw it.
			if i := sort.SearchFloat64s(puts, b.Recorded); i > 0 && puts[i-1] >= p.PodDoneLast-0.5 {
				t.Decide, t.Write = puts[i-1]-p.PodDoneLast, b.Recorded-puts[i-1]
				decide, write = append(decide, t.Decide), append(write, t.Write)
			}
		}
		s.Trans = append(s.Trans, t)
		reaction, jobctl, span = append(reaction, t.Reaction), append(jobctl, t.JobController), append(span, t.CreateSpan)
	}
	if n := len(s.Batch); n > 0 {
		s.Tail = r.PluginEnd - s.Batch[n-1].PodDoneLast
		jobctl = append(jobctl, s.Batch[n-1].End-s.Batch[n-1].PodDoneLast)
	}
	s.Reaction, s.JobController, s.Notice, s.Act, s.CreateSpan = distOf(reaction), distOf(jobctl), distOf(notice), distOf(act), distOf(span)
	s.Decide, s.Write = distOf(decide), distOf(write)
	s.Gaps = s.Reaction.Sum
	if s.Ideal > 0 {
		s.PluginRatio = (s.Ideal + s.Gaps + s.Tail) / s.Ideal
		s.PluginRatioStartup = (s.Ideal + s.Startup + s.Gaps + s.Tail) / s.Ideal
	}

	s.Requests = len(r.Requests)
	if s.Nodes > 0 {
		s.PerNode = float64(s.Requests) / float64(s.Nodes)
	}
	s.ByVerb = countByVerbResource(r.Requests)
	for _, q := range r.Requests {
		if q.Verb == "watch" {
			s.Watches++
		}
	}
	for _, c := range r.ConfigMap {
		s.CMDataMax = max(s.CMDataMax, c.DataBytes)
		s.CMObjectMax = max(s.CMObjectMax, c.ObjectBytes)
	}
	s.CMWrites = len(r.ConfigMap)
	s.Watch = r.WatchEvents
	s.RSSMiB, s.AnonMiB = float64(r.MaxRSSKiB)/1024, float64(r.MaxAnonKiB)/1024
	s.CPUSeconds = r.CPUSeconds
	var st, sj []float64
	for _, t := range r.StatusTimings {
		if len(t.Args) == 1 {
			st = append(st, t.Seconds)
			s.StatusRequests, s.StatusCPU, s.StatusRSSMiB, s.StatusBytes = t.Requests, t.CPU, float64(t.MaxRSS)/1024, t.Bytes
		} else {
			sj = append(sj, t.Seconds)
			s.StatusJSONBytes = t.Bytes
		}
	}
	for _, q := range r.Requests {
		if q.Resource == "pods" && (q.Verb == "list" || q.Verb == "watch") {
			s.PodReads++
		}
	}
	s.Status, s.StatusJSON = distOf(st), distOf(sj)
	return s
}

// upgradedCurve is the number of nodes at the target over time (sorted stamps).
func upgradedCurve(r *raw) []float64 {
	out := make([]float64, 0, len(r.Upgraded))
	for _, t := range r.Upgraded {
		out = append(out, t)
	}
	sort.Float64s(out)
	return out
}

func isMaster(label string) bool { return strings.HasPrefix(label, "m") }

// defaultJobSeconds is the node work of the runs keyed by size alone (raw/N.json);
// runs with other node work are kept apart (raw/N-60s.json).
const defaultJobSeconds = 5

// key names a run's raw file and plot: its size, and its node work unless the default.
func runKey(workers int, jobSeconds float64) string {
	if jobSeconds == defaultJobSeconds || jobSeconds == 0 {
		return fmt.Sprint(workers)
	}
	return fmt.Sprintf("%d-%gs", workers, jobSeconds)
}

// label heads a run's column: N=1000, or N=1000 (60 s) for other node work.
func (s summary) label() string {
	if s.JobSeconds == defaultJobSeconds || s.JobSeconds == 0 {
		return fmt.Sprintf("N=%d", s.Workers)
	}
	return fmt.Sprintf("N=%d (%g s)", s.Workers, s.JobSeconds)
}
