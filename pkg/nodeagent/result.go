package nodeagent

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"
)

// Exit codes of the agent.
const (
	// ExitOK: done, or nothing to do.
	ExitOK = 0
	// ExitFailed: refused or failed before anything on the node changed.
	ExitFailed = 1
	// ExitRolledBack: the upgrade failed and the node was restored to its old version.
	ExitRolledBack = 2
	// ExitRollbackFailed: the upgrade failed and the restore failed too; the node needs
	// a person (the backup is kept).
	ExitRollbackFailed = 3
)

// Results recorded in last-result.json.
const (
	ResultSucceeded      = "succeeded"
	ResultNoop           = "no-op"
	ResultRefused        = "refused"
	ResultFailed         = "failed"
	ResultInProgress     = "in-progress"
	ResultRolledBack     = "rolled-back"
	ResultRollbackFailed = "rollback-failed"
)

// Outcome is how a command ended: its exit code and one line for the pod's
// termination message.
type Outcome struct {
	Code    int
	Message string
}

// MaxMessageBytes is the size limit of a container termination message.
const MaxMessageBytes = 4096

// oneLine makes s a single line of at most MaxMessageBytes bytes.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
	if len(s) <= MaxMessageBytes {
		return s
	}
	cut := MaxMessageBytes - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// StepRecord is one step of a run in last-result.json.
type StepRecord struct {
	Name     string    `json:"name"`
	Started  time.Time `json:"started"`
	Duration string    `json:"duration"`
	Error    string    `json:"error,omitempty"`
}

// LastResult is /var/lib/edgeupgrade/last-result.json (last-preprocess.json for
// preprocess). The upgrade writes it as "in-progress" before it changes anything and
// again when it ends, so a node that crashed midway says so.
type LastResult struct {
	SchemaVersion  int    `json:"schemaVersion"`
	Command        string `json:"command"`
	RunID          string `json:"runID,omitempty"`
	Node           string `json:"node,omitempty"`
	Role           string `json:"role,omitempty"`
	FromVersion    string `json:"fromVersion,omitempty"`
	TargetVersion  string `json:"targetVersion"`
	Result         string `json:"result"`
	Step           string `json:"step,omitempty"`
	Message        string `json:"message,omitempty"`
	KubeletRestart string `json:"kubeletRestart,omitempty"`
	// RuntimeFrom and RuntimeVersion: the containerd versions before and after, when
	// the upgrade upgraded it.
	RuntimeFrom    string       `json:"runtimeFrom,omitempty"`
	RuntimeVersion string       `json:"runtimeVersion,omitempty"`
	StartedAt      time.Time    `json:"startedAt"`
	FinishedAt     *time.Time   `json:"finishedAt,omitempty"`
	Steps          []StepRecord `json:"steps,omitempty"`
}

// File names under the state directory.
const (
	lastResultFile     = "last-result.json"
	lastPreprocessFile = "last-preprocess.json"
)

func (a *Agent) writeResult(name string, r LastResult) {
	r.SchemaVersion = 1
	if _, err := os.Stat(a.Host.Path("/var")); err != nil {
		a.logf("warning: cannot record the result: no host at %s: %v", a.Host.Root, err)
		return
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err == nil {
		err = writeAtomic(a.Host.Path(filepath.Join(a.Config.StateDir, name)), strings.NewReader(string(b)+"\n"), 0o644, "-")
	}
	if err != nil {
		a.logf("warning: cannot record the result in %s: %v", filepath.Join(a.Config.StateDir, name), err)
	}
}

func (a *Agent) readResult(name string) (LastResult, error) {
	var r LastResult
	b, err := os.ReadFile(a.Host.Path(filepath.Join(a.Config.StateDir, name)))
	if errors.Is(err, os.ErrNotExist) {
		return r, nil
	}
	if err == nil {
		err = json.Unmarshal(b, &r)
	}
	if err != nil {
		return r, fmt.Errorf("read %s: %w", name, err)
	}
	return r, nil
}

// WriteTerminationMessage writes msg to the termination log (one line, ≤ 4 KiB).
func (a *Agent) WriteTerminationMessage(msg string) {
	if a.Config.TerminationLog == "" {
		return
	}
	if err := os.WriteFile(a.Config.TerminationLog, []byte(msg), 0o644); err != nil {
		a.logf("warning: cannot write the termination message to %s: %v", a.Config.TerminationLog, err)
	}
}
