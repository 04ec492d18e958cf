// Package hostcheck holds the result format of host-level checks, shared by the node
// agent (which runs them on the node and writes the result as its termination message)
// and the pre-check (which reads it back from the deep-check pod).
package hostcheck

// Severity of a finding: an error blocks the upgrade; a warning does not.
type Severity string

const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
)

// Finding is one problem found on a host.
type Finding struct {
	// Check is a stable ID, e.g. "host-swap", "host-disk", "host-cgroup".
	Check       string   `json:"check"`
	Severity    Severity `json:"severity"`
	Message     string   `json:"message"`
	Remediation string   `json:"remediation,omitempty"`
}

// Result is what `edgeupgrade-node check` prints as the pod's termination message
// (kept under 4 KiB: findings are truncated with a final "... N more" finding).
type Result struct {
	Node           string    `json:"node"`
	KubeletVersion string    `json:"kubeletVersion,omitempty"`
	CgroupVersion  int       `json:"cgroupVersion,omitempty"`
	Findings       []Finding `json:"findings"`

	// TargetVersion is the version the checks were run against (added after v1 of
	// this format; readers must accept it missing).
	TargetVersion string `json:"targetVersion,omitempty"`
}
