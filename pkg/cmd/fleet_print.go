package cmd

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/fleet"
)

// fleetView is `fleet status -o json` and `fleet plan -o json`: the fleet file's
// waves and every cluster's place, as read from the clusters.
type fleetView struct {
	APIVersion    string     `json:"apiVersion"`
	Kind          string     `json:"kind"`
	Name          string     `json:"name,omitempty"`
	TargetVersion string     `json:"targetVersion"`
	Waves         []waveView `json:"waves"`
	fleet.Decision
	// Plan is plan's: per cluster, the pre-check and what start would do.
	Plan []planRow `json:"plan,omitempty"`
}

type waveView struct {
	Name          string   `json:"name,omitempty"`
	MaxConcurrent int      `json:"maxConcurrent"`
	Soak          string   `json:"soak,omitempty"`
	Clusters      []string `json:"clusters"`
}

type planRow struct {
	Name     string `json:"name"`
	PreCheck string `json:"preCheck,omitempty"`
	Action   string `json:"action"`
}

func (o *FleetOptions) view(d fleet.Decision, plan []planRow) fleetView {
	v := fleetView{APIVersion: fleet.APIVersion, Kind: "FleetStatus", Name: o.fleet.Metadata.Name,
		TargetVersion: o.fleet.Spec.TargetVersion, Decision: d, Plan: plan}
	if plan != nil {
		v.Kind = "FleetPlan"
	}
	for _, w := range o.fleet.Spec.Waves {
		wv := waveView{Name: w.Name, MaxConcurrent: w.Limit()}
		if w.Soak.Duration > 0 {
			wv.Soak = w.Soak.String()
		}
		for _, c := range w.Clusters {
			wv.Clusters = append(wv.Clusters, c.DisplayName())
		}
		v.Waves = append(v.Waves, wv)
	}
	return v
}

// waveLabel names a wave in lines: "wave 2/2 (workloads)".
func waveLabel(f *fleet.File, i int) string {
	if i >= len(f.Spec.Waves) {
		return "no wave left"
	}
	s := fmt.Sprintf("wave %d/%d", i+1, len(f.Spec.Waves))
	if n := f.Spec.Waves[i].Name; n != "" {
		s += " (" + n + ")"
	}
	return s
}

// printTable prints the fleet: a headline, one row per cluster, and what comes next.
func (o *FleetOptions) printTable(w io.Writer, d fleet.Decision, plan []planRow) error {
	head := "Fleet"
	if n := o.fleet.Metadata.Name; n != "" {
		head += " " + n
	}
	where := waveLabel(o.fleet, d.Wave)
	if d.Complete {
		where = "complete"
	}
	_, _ = fmt.Fprintf(w, "%s → %s: %s, %s\n", head, o.fleet.Spec.TargetVersion, progress(d), where)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	hdr := "WAVE\tCLUSTER\tPHASE\tVERSION\tDETAIL"
	if plan != nil {
		hdr += "\tPRE-CHECK\tSTART WOULD"
	}
	_, _ = fmt.Fprintln(tw, hdr)
	for i, c := range d.Clusters {
		version := c.Version
		if c.Phase == fleet.Done {
			version = o.fleet.Spec.TargetVersion
		}
		row := fmt.Sprintf("%d\t%s\t%s\t%s\t%s", c.Wave+1, c.Name, c.Phase, dash(version), dash(c.Detail))
		if plan != nil {
			row += fmt.Sprintf("\t%s\t%s", dash(plan[i].PreCheck), plan[i].Action)
		}
		_, _ = fmt.Fprintln(tw, row)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, o.next(d))
	return err
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// next says in one line what fleet start would do now.
func (o *FleetOptions) next(d fleet.Decision) string {
	switch {
	case d.Complete:
		return "Next: nothing; every cluster is at " + o.fleet.Spec.TargetVersion
	case len(d.Stopped) > 0:
		return "Next: nothing new starts while " + strings.Join(d.Stopped, ", ") + " is paused or failed"
	case d.SoakUntil != nil:
		return fmt.Sprintf("Next: %s starts after the soak, at %s", waveLabel(o.fleet, d.Wave), d.SoakUntil.Local().Format("15:04:05"))
	case len(d.Start) > 0:
		return fmt.Sprintf("Next: fleet start starts %s (%s, at most %d at once)", strings.Join(d.Start, ", "), waveLabel(o.fleet, d.Wave), o.fleet.Spec.Waves[d.Wave].Limit())
	case count(d, fleet.Running) > 0:
		return "Next: the running clusters finish, then fleet start starts the next ones"
	}
	return "Next: blocked until the unreachable clusters answer"
}

// plan reads every cluster, pre-checks the pending ones (start --dry-run: start's own
// pre-check, nothing written) and shows what start would do, wave by wave.
func (o *FleetOptions) plan(ctx context.Context) error {
	d, _ := o.decide(ctx, nil)
	var pending []string
	for _, c := range d.Clusters {
		if c.Phase == fleet.Pending {
			pending = append(pending, c.Name)
		}
	}
	summaries := map[string]string{}
	var mu sync.Mutex
	errs := forEach(o.targets, pending, func(t fleet.Target) error {
		s, err := checkCluster(ctx, o.fleet, t)
		mu.Lock()
		summaries[t.Name] = s
		mu.Unlock()
		return err
	})
	rows, code := o.planRows(d, summaries, errs)
	var err error
	if o.Output == "json" {
		err = writeJSON(o.streams.Out, o.view(d, rows))
	} else {
		err = o.printTable(o.streams.Out, d, rows)
	}
	if err != nil || code == 0 {
		return err
	}
	return &ExitError{Code: code, Err: fmt.Errorf("%s: see the PRE-CHECK column (kubectl edgeupgrade check --to %s --context CLUSTER shows each finding)",
		map[int]string{ExitPreCheck: "clusters would not start", ExitUnreachable: "clusters did not answer"}[code], o.fleet.Spec.TargetVersion)}
}

// planRows says per cluster what start would do; code is ExitPreCheck when a pending
// cluster's pre-check failed, else ExitUnreachable when a cluster did not answer.
func (o *FleetOptions) planRows(d fleet.Decision, summaries map[string]string, errs map[string]error) ([]planRow, int) {
	rows := make([]planRow, len(d.Clusters))
	code := 0
	for i, c := range d.Clusters {
		row := planRow{Name: c.Name, PreCheck: summaries[c.Name]}
		switch c.Phase {
		case fleet.Pending:
			row.Action = o.pendingAction(d, c)
			if err := errs[c.Name]; err != nil {
				row.PreCheck, row.Action, code = "error: "+oneLineErr(err), "refuse to start it", ExitPreCheck
			}
		case fleet.Done:
			row.Action = "skip it (done)"
		case fleet.Running:
			row.Action = "follow it"
		case fleet.Unreachable:
			row.Action = "report it; its wave waits"
			if code == 0 {
				code = ExitUnreachable
			}
		default:
			row.Action = "stop the fleet"
		}
		rows[i] = row
	}
	return rows, code
}

func (o *FleetOptions) pendingAction(d fleet.Decision, c fleet.ClusterStatus) string {
	w := o.fleet.Spec.Waves[c.Wave]
	switch {
	case slices.Contains(d.Start, c.Name):
		return "start it now"
	case c.Wave == d.Wave:
		return fmt.Sprintf("start it when a slot frees (at most %d at once)", w.Limit())
	}
	return fmt.Sprintf("start it in wave %d, once wave %d is done", c.Wave+1, c.Wave)
}
