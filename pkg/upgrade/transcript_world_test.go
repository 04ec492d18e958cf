package upgrade

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// world is what a transcript drives: a fake cluster, the run's state and a clock
// that starts at t0. The commands:
//
//	cluster [mode=M] [max-batch=N] [drain] [skip-unready] [expiry=15d] [api=V]
//	        [grace=DURATION] [soak=DURATION] [max-deferred=N|N%] [stage] [max-pulls=N]
//	        [runtime=V]                (containerd V, from registry.local/up:rt)
//	  master NAMES | worker NAMES [pool=P] [version=V] [containerd=V] [notready]   (one per line)
//	tick | pause [reason=TEXT] | resume [retry-failed|skip-failed] | cancel | drain-failed TEXT
//	jobs succeed                     every active Job succeeds; its node reports the target
//	job NODE succeeds | job NODE times out | job NODE deleted | job NODE pods deleted
//	job NODE fails [in CONTAINER:] TEXT
//	job NODE pending                 its pod has not started (new Jobs start at once)
//	job NODE progress TEXT           what the API server last heard of its upgrade
//	node NODE ready|notready | time +DURATION (d for days)   (notready: since now)
//	pod NODE NAME ready|notready|restarted   a DaemonSet pod on NODE (restarted: now)
//	drain fails                      the next Drain fails
//	crash                            the next input's state is saved, then the process dies
//	stages succeed                   every pulling staging Job succeeds (image IDs by digest)
//	stage NODE succeeds|fails        one staging Job finishes
//
// NAMES is a name or a range such as w01..12 (w01, w02, ... w12). Inputs print their
// error, then the actions they returned, then the state; changes to the cluster print
// nothing. Actions are applied to the cluster: CreateJobs creates active Jobs,
// DeleteJobs and DeleteRun delete them; after a Drain that fails, only Events are,
// and after a crash nothing is.
type world struct {
	c          *cluster
	st         State
	now        time.Time
	drainFails bool // the next Drain fails
	crash      bool // the process dies after saving the next input's state
}

func (w *world) run(commands []string) string {
	var out []string
	switch {
	case len(commands) == 0:
		return ""
	case strings.HasPrefix(commands[0], "cluster"):
		return strings.Join(w.setup(commands), "\n")
	case w.c == nil:
		return "bad command: " + commands[0] + ": no cluster yet"
	}
	for _, cmd := range commands {
		verb, arg, _ := strings.Cut(cmd, " ")
		in, isInput := w.input(verb, arg)
		if !isInput {
			if err := w.change(verb, arg); err != nil {
				out = append(out, "bad command: "+cmd+": "+err.Error())
			}
			continue
		}
		next, acts, err := Step(w.st, w.c.obs(), in, w.now)
		switch {
		case errors.Is(err, ErrNoop):
			out = append(out, "noop: "+err.Error())
		case err != nil:
			out = append(out, "refused: "+err.Error())
		}
		w.st = next
		out = append(out, w.apply(acts)...)
		out = append(out, w.summary()...)
	}
	return strings.Join(out, "\n")
}

func (w *world) input(verb, arg string) (Input, bool) {
	switch verb {
	case "tick":
		return Tick{}, true
	case "pause":
		return RequestPause{Reason: strings.TrimPrefix(arg, "reason=")}, true
	case "resume":
		return Resume{RetryFailed: arg == "retry-failed", SkipFailed: arg == "skip-failed"}, true
	case "cancel":
		return Cancel{}, true
	case "drain-failed":
		return DrainFailed{Message: arg}, true
	}
	return nil, false
}

func (w *world) setup(lines []string) []string {
	sp := spec()
	api := from
	for _, opt := range strings.Fields(lines[0])[1:] {
		k, v, _ := strings.Cut(opt, "=")
		switch k {
		case "mode":
			sp.Mode = Mode(v)
		case "max-batch":
			sp.MaxBatchSize, _ = strconv.Atoi(v)
		case "drain":
			sp.Drain = true
		case "skip-unready":
			sp.SkipUnready = true
		case "expiry":
			sp.PauseExpiry.Duration = parseDuration(v)
		case "api":
			api = v
		case "grace":
			sp.OfflineGrace.Duration = parseDuration(v)
		case "soak":
			sp.Soak.Duration = parseDuration(v)
		case "max-deferred":
			sp.MaxDeferred = v
		case "stage":
			sp.Stage = true
		case "max-pulls":
			sp.MaxConcurrentPulls, _ = strconv.Atoi(v)
		case "runtime":
			sp.RuntimeVersion, sp.RuntimeImage = v, "registry.local/up:rt"
		}
	}
	w.c, w.now = &cluster{jobs: map[string]Job{}, sp: sp}, t0
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		for _, name := range expand(f[1]) {
			n := Node{Name: name, Role: RoleMaster, Version: from, Ready: true}
			if f[0] == "worker" {
				n.Role = RoleWorker
			}
			for _, opt := range f[2:] {
				k, v, _ := strings.Cut(opt, "=")
				switch k {
				case "pool":
					n.Pool = v
				case "version":
					n.Version = v
				case "containerd":
					n.Runtime = "containerd://" + v
				case "notready":
					n.Ready, n.NotReadySince = false, t0
				}
			}
			w.c.nodes = append(w.c.nodes, n)
		}
	}
	st, err := NewState(sp, "run1", Cluster{APIServerVersion: api, Nodes: w.c.nodes}, w.now)
	if err != nil {
		return []string{"refused: " + err.Error()}
	}
	w.st = st
	return w.summary()
}

// change applies a change to what the cluster shows.
func (w *world) change(verb, arg string) error {
	f := strings.Fields(arg)
	switch {
	case verb == "jobs" && arg == "succeed":
		for _, name := range slices.Sorted(maps.Keys(w.c.jobs)) {
			if w.c.jobs[name].Phase == JobActive {
				w.c.succeed(name, w.now)
			}
		}
	case verb == "stages" && arg == "succeed":
		for _, name := range slices.Sorted(maps.Keys(w.c.stage)) {
			if w.c.stage[name].Phase == JobActive {
				w.c.stage[name] = stageDone(w.c.stage[name], JobSucceeded, w.now)
			}
		}
	case verb == "stage" && len(f) == 2 && w.c.stage != nil && w.c.stage[f[0]].Phase == JobActive:
		phase := map[string]JobPhase{"succeeds": JobSucceeded, "fails": JobFailed}[f[1]]
		if phase == "" {
			return errors.New("unknown")
		}
		w.c.stage[f[0]] = stageDone(w.c.stage[f[0]], phase, w.now)
	case verb == "time":
		w.now = w.now.Add(parseDuration(strings.TrimPrefix(arg, "+")))
	case verb == "drain" && arg == "fails":
		w.drainFails = true
	case verb == "crash" && arg == "":
		w.crash = true
	case verb == "node" && len(f) == 2 && w.c.node(f[0]) != nil:
		n := w.c.node(f[0])
		n.Ready, n.NotReadySince = f[1] == "ready", time.Time{}
		if !n.Ready {
			n.NotReadySince = w.now
		}
	case verb == "pod" && len(f) == 3 && w.c.node(f[0]) != nil:
		w.c.setPod(f[0], Pod{Name: f[1], Ready: f[2] != "notready"}, f[2] == "restarted", w.now)
	case verb == "job" && len(f) >= 2:
		return w.changeJob(f[0], strings.TrimSpace(strings.TrimPrefix(arg, f[0])))
	default:
		return errors.New("unknown")
	}
	return nil
}

func (w *world) changeJob(node, what string) error {
	j, ok := w.c.jobs[node]
	switch {
	case !ok:
		return errors.New("no Job for " + node)
	case what == "succeeds":
		w.c.succeed(node, w.now)
	case what == "times out":
		j.Phase, j.Reason, j.Finished, j.FailedPods = JobFailed, "DeadlineExceeded", w.now, 0
		w.c.jobs[node] = j
	case what == "deleted":
		delete(w.c.jobs, node)
	case what == "pods deleted":
		j.FailedPods = 0
		w.c.jobs[node] = j
	case what == "pending":
		j.Started = false
		w.c.jobs[node] = j
	case strings.HasPrefix(what, "progress "):
		j.Progress = strings.TrimPrefix(what, "progress ")
		w.c.jobs[node] = j
	case strings.HasPrefix(what, "fails "):
		msg, container := strings.TrimPrefix(what, "fails "), ""
		if rest, ok := strings.CutPrefix(msg, "in "); ok {
			container, msg, _ = strings.Cut(rest, ": ")
		}
		w.c.fail(node, container, msg, w.now)
	default:
		return errors.New("unknown")
	}
	return nil
}

// apply performs the actions on the cluster and prints them, one a line.
func (w *world) apply(acts []Action) []string {
	var out []string
	failed, crashed := false, w.crash
	w.crash = false
	for _, a := range acts {
		out = append(out, formatAction(a)+w.runtimeNodes(a))
		switch {
		case crashed:
			out[len(out)-1] += "  (not performed: the process died)"
			continue
		case failed && a.Kind != Emit:
			out[len(out)-1] += "  (not performed: the drain failed)"
			continue
		}
		switch a.Kind {
		case Drain:
			failed, w.drainFails = w.drainFails, false
		case DeleteRun:
			clear(w.c.jobs)
		case CreateJobs, DeleteJobs, DeferJobs, MarkSkipped, CreateStage, DeleteStage:
			w.c.apply([]Action{a}, w.now)
		}
	}
	return out
}

func formatAction(a Action) string {
	switch a.Kind {
	case Emit:
		e := a.Event
		on := ""
		if e.Node != "" {
			on = " on " + e.Node
		}
		return fmt.Sprintf("emit %s %s%s: %s", e.Type, e.Reason, on, e.Message)
	case CreateJobs:
		first := ""
		if a.Batch.MasterFirst {
			first = " (kubeadm upgrade apply)"
		}
		return fmt.Sprintf("create-jobs batch %s: %s%s", a.Batch.Label(), strings.Join(a.Nodes, " "), first)
	case DeleteRun:
		return "delete-run"
	}
	verb := map[ActionKind]string{Drain: "drain", Uncordon: "uncordon", DeleteJobs: "delete-jobs",
		DeferJobs: "defer-jobs", MarkSkipped: "mark-skipped", CreateStage: "create-stage", DeleteStage: "delete-stage"}[a.Kind]
	return fmt.Sprintf("%s: %s", verb, strings.Join(a.Nodes, " "))
}

// runtimeNodes says, in a run with a runtime variant, which upgrade image each node of
// a CreateStage (StageImages) or CreateJobs (NodeImages) gets: "runtime" or "base",
// and for a node Job whether by digest ("@cccc…", "@bbbb…") or by tag.
func (w *world) runtimeNodes(a Action) string {
	if w.st.Spec.RuntimeImage == "" || (a.Kind != CreateJobs && a.Kind != CreateStage) {
		return ""
	}
	var items []string
	for _, n := range a.Nodes {
		rt := w.c.node(n).Runtime
		img := ""
		if a.Kind == CreateStage {
			_, img = StageImages(w.st, rt)
		} else {
			_, img = NodeImages(w.st, rt)
		}
		what := "base"
		if NodeVariant(w.st.Spec, rt) == VariantRuntime {
			what = "runtime"
		}
		if _, digest, ok := strings.Cut(img, "@sha256:"); ok {
			what += "@" + digest[:4] + "…"
		}
		items = append(items, n+"="+what)
	}
	return " [" + strings.Join(items, " ") + "]"
}

// summary prints the state in a few lines, leaving out what is not set.
func (w *world) summary() []string {
	s, obs := w.st, w.c.obs()
	up, total := 0, 0
	for _, n := range obs.Nodes {
		if InMode(s.Spec.Mode, n.Role) {
			total++
			if Upgraded(n.Version, s.Spec.TargetVersion) {
				up++
			}
		}
	}
	name := string(s.Phase)
	if sn := StateName(s, obs); sn != name {
		name += " " + sn
	}
	out := []string{fmt.Sprintf("state: %s, upgraded %d/%d, masters started %d, batches %d, ramp %d, cap %d",
		name, up, total, s.MasterSerial, s.Batches, s.Ramp, s.Cap)}
	if b := s.Current; b != nil {
		line := fmt.Sprintf("  batch %s", b.Label())
		if b.Role == RoleWorker {
			line += fmt.Sprintf(" (pool %q)", b.Pool)
		}
		line += ": " + strings.Join(b.Nodes, " ")
		if !b.JobsCreated {
			line += "; Jobs not yet seen"
		}
		if len(b.Failed) > 0 {
			line += "; failed: " + strings.Join(b.Failed, " ")
		}
		if b.GateSince != nil {
			line += "; gate since " + since(*b.GateSince)
		}
		out = append(out, line)
	}
	if p := s.Pause; p != nil {
		by := "user"
		if p.ByError {
			by = "error"
		}
		out = append(out, fmt.Sprintf("  paused by %s at %s: %s", by, since(p.Since), p.Reason))
	}
	if n := len(s.Failures); n > 0 {
		f := s.Failures[n-1]
		out = append(out, fmt.Sprintf("  failures %d, last: %s (batch %s, container %q, %s) at %s: %s",
			s.FailureCount, f.Node, f.Batch, f.Container, f.Reason, since(f.At), f.Message))
	}
	if n := len(s.History); n > 0 {
		r := s.History[n-1]
		out = append(out, fmt.Sprintf("  history %d, last: batch %s (pool %q) %s..%s", n, r.Index, r.Pool, since(r.StartedAt), since(r.FinishedAt)))
	}
	if s.FinishedAt != nil {
		line := "  finished at " + since(*s.FinishedAt)
		if s.EndReason != "" {
			line += ": " + s.EndReason
		}
		out = append(out, line)
	}
	if d := Deferred(s, obs); len(d) > 0 {
		out = append(out, "  deferred: "+strings.Join(d, " "))
	}
	if s.Digests != nil {
		pre, up := ImagesOf(s)
		out = append(out, "  images: "+pre+" "+up)
		if DigestRecorded(s, VariantRuntime) {
			out = append(out, "  runtime images: "+s.Digests.Runtime)
		}
	}
	if ps := StageProgress(s, obs); len(ps) > 0 {
		var items []string
		for _, p := range ps {
			items = append(items, fmt.Sprintf("%s %d/%d (pulling %d, failed %d, offline %d)", p.Pool, p.Staged, p.Total, p.Pulling, p.Failed, p.Offline))
		}
		out = append(out, "  staged: "+strings.Join(items, "; "))
	}
	if len(s.Skipped) > 0 {
		out = append(out, fmt.Sprintf("  skipped %d: %s", s.SkippedCount, strings.Join(s.Skipped, " ")))
	}
	if s.LeftBehindCount > 0 {
		var items []string
		for _, l := range s.LeftBehind {
			items = append(items, l.Node+" ("+l.Reason+")")
		}
		out = append(out, fmt.Sprintf("  left behind %d: %s", s.LeftBehindCount, strings.Join(items, ", ")))
	}
	return out
}

// since prints a time as t0+DURATION, days first.
func since(t time.Time) string {
	d := t.Sub(t0)
	days := d / (24 * time.Hour)
	d -= days * 24 * time.Hour
	out := "t0"
	if days > 0 {
		out += fmt.Sprintf("+%dd", days)
	}
	if d > 0 {
		out += "+" + d.String()
	}
	return out
}

// parseDuration reads a Go duration with an optional leading number of days: 16d, 15d1s, 2m.
func parseDuration(s string) time.Duration {
	var days time.Duration
	if d, rest, ok := strings.Cut(s, "d"); ok {
		n, _ := strconv.Atoi(d)
		days, s = time.Duration(n)*24*time.Hour, rest
	}
	if s == "" {
		return days
	}
	v, _ := time.ParseDuration(s)
	return days + v
}

// expand reads a node name or a range: w01..12 is w01, w02, ... w12.
func expand(names string) []string {
	first, last, ok := strings.Cut(names, "..")
	if !ok {
		return []string{first}
	}
	digits := len(first) - len(strings.TrimRight(first, "0123456789"))
	prefix := first[:len(first)-digits]
	lo, _ := strconv.Atoi(first[len(prefix):])
	hi, _ := strconv.Atoi(last)
	var out []string
	for i := lo; i <= hi; i++ {
		out = append(out, fmt.Sprintf("%s%0*d", prefix, digits, i))
	}
	return out
}

// stageDone is a finished staging Job; a succeeded one reports its images by digest
// (the runtime variant's: sha256:cccc…).
func stageDone(sj StageJob, phase JobPhase, now time.Time) StageJob {
	sj.Phase, sj.Finished = phase, now
	if phase == JobSucceeded {
		sj.Reported = true
		sj.PreprocessID = "registry.local/pre@sha256:" + strings.Repeat("a", 64)
		sj.UpgradeID = "registry.local/up@sha256:" + strings.Repeat("b", 64)
		if sj.UpgradeImage == "registry.local/up:rt" {
			sj.UpgradeID = "registry.local/up@sha256:" + strings.Repeat("c", 64)
		}
	}
	return sj
}
