package status

import (
	"fmt"
	"io"
	"time"
)

// Driver says who drives an unfinished run (status `driver`): an in-cluster driver
// (Kind "in-cluster": Pod, Node), a terminal (Kind "terminal": Holder), or nobody
// (Kind "none"), and, when nobody does, the one command that restarts progress.
type Driver struct {
	Kind   string `json:"kind"` // in-cluster | terminal | none
	Holder string `json:"holder,omitempty"`
	Pod    string `json:"pod,omitempty"`
	Node   string `json:"node,omitempty"`
	// Since the holder took the driver Lease; LastReconcile is its latest decision.
	Since         *time.Time `json:"since,omitempty"`
	LastReconcile *time.Time `json:"lastReconcile,omitempty"`
	// Detached: the run was handed to the cluster (its watchdog CronJob exists).
	Detached bool `json:"detached"`
	// DriverJob is the state of the in-cluster driver Job: Active, Complete, Failed,
	// or empty when there is none.
	DriverJob string `json:"driverJob,omitempty"`
	// Restart is the command that restarts progress when nobody drives.
	Restart string `json:"restart,omitempty"`
}

// printDriver renders the driver line of the human status.
func printDriver(w io.Writer, d *Driver) error {
	if d == nil {
		return nil
	}
	var line string
	switch d.Kind {
	case "in-cluster":
		line = fmt.Sprintf("in-cluster driver pod %s on node %s", d.Pod, dash(d.Node))
	case "terminal":
		line = "a terminal: " + d.Holder
	default:
		line = "none"
	}
	if d.Since != nil {
		line += ", since " + d.Since.UTC().Format(time.RFC3339)
	}
	if d.LastReconcile != nil {
		line += ", last reconcile " + d.LastReconcile.UTC().Format(time.RFC3339)
	}
	if d.Detached {
		line += " (detached"
		if d.DriverJob != "" {
			line += ", driver Job " + d.DriverJob
		}
		line += ")"
	}
	if d.Restart != "" {
		line += "; restart progress with: " + d.Restart
	}
	_, err := fmt.Fprintf(w, "Driven by:\t%s\n", line)
	return err
}
