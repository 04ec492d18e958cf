// Package precheck finds what would break an upgrade before it starts.
//
// One gatherer (gather.go) does every read of the cluster once and fills a read-only
// View; each check (one check_*.go file each) is a pure function of that View that
// returns findings. Run ties the two together and returns a Report; `kubectl
// edgeupgrade check` prints it and `start` refuses to start while it has errors.
package precheck

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/api"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/internal/words"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

//go:generate go run ../../hack/gen-removed-apis -out zz_generated_removedapis.go

// ErrBlocking is wrapped in the error check and start return when the report has
// errors (Report.Err); main maps errors.Is(err, ErrBlocking) to exit code 2.
var ErrBlocking = errors.New("pre-check found errors")

// Severity of a check or finding: an error blocks the upgrade, a warning does not.
type Severity string

const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
)

// Outcome of one check.
type Outcome string

const (
	Passed  Outcome = "passed"
	Failed  Outcome = "failed"
	Skipped Outcome = "skipped"
)

// Options select what is checked and how strictly.
type Options struct {
	// TargetVersion is the Kubernetes version to upgrade to; "" skips the checks that
	// need one (result "skipped").
	TargetVersion string
	// Mode is the run's mode: upgrade.ModeAll, ModeControlPlane or ModeNodes ("" means
	// all).
	Mode upgrade.Mode
	// Drain makes a PodDisruptionBudget that allows no disruption an error.
	Drain bool
	// SkipUnready defers NotReady worker nodes: a warning listing them, not an error.
	SkipUnready bool
	// Selector limits the nodes in scope (nil = all nodes).
	Selector labels.Selector
	// Deep runs the host checks (host-*) as one short Job per node.
	Deep bool
	// Skip lists check IDs reported as skipped; "host-*" style prefixes are accepted.
	Skip []string
	// DeepImage is the image of the deep-check Jobs (the node-preprocess image).
	DeepImage string
	// DeepParallelism bounds the deep-check Jobs running at once (default 20).
	DeepParallelism int
	// DeepTimeoutSeconds is each deep-check Job's activeDeadlineSeconds (default 120).
	DeepTimeoutSeconds int64
	// ProbeWebhookTLS fetches the serving certificate of each webhook endpoint by a TLS
	// handshake from this machine (URL webhooks, and Service webhooks at their pod IPs:
	// useful when the plugin runs on the cluster network, e.g. on a master). Off by
	// default: from elsewhere those addresses may belong to unrelated hosts.
	ProbeWebhookTLS bool
	// Now is the clock (nil = time.Now); findings compare ages with it.
	Now func() time.Time
	// RuntimeVersion is the run's --runtime-version (RuntimeAuto, RuntimeNone or a
	// containerd version): a containerd that the run upgrades is no error.
	RuntimeVersion string
}

// mode is the run's mode, all when none is given.
func (o *Options) mode() upgrade.Mode {
	if o.Mode == "" {
		return upgrade.ModeAll
	}
	return o.Mode
}

// Clients are what the gatherer reads the cluster with. Kube is required; the others
// are built from Rest when nil (tests inject fakes instead).
type Clients struct {
	Kube kubernetes.Interface
	Rest *rest.Config

	Dynamic  dynamic.Interface
	Metadata metadata.Interface
	// Raw GETs a non-resource path of the API server (/metrics, /readyz).
	Raw func(ctx context.Context, path string) ([]byte, error)
	// DialTLS fetches the serving certificate chain of a webhook endpoint. nil = a
	// real TLS dial with a short timeout.
	DialTLS TLSDialer
}

// Finding is one problem, on one object.
type Finding struct {
	// Object names what is affected: "Node/edge-1", "Deployment default/web".
	Object      string   `json:"object"`
	Severity    Severity `json:"severity"`
	Message     string   `json:"message"`
	Remediation string   `json:"remediation,omitempty"`
	// Source says where the evidence comes from (e.g. "last-applied annotation").
	Source string `json:"source,omitempty"`
}

// Result of one check.
type Result struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	// Severity is the highest severity among the findings when the check failed,
	// otherwise the severity the check has when it fails.
	Severity Severity `json:"severity"`
	Result   Outcome  `json:"result"`
	// Reason says why a check was skipped.
	Reason string `json:"reason,omitempty"`
	// Remediation is the general fix; findings may carry a more precise one.
	Remediation string    `json:"remediation,omitempty"`
	Findings    []Finding `json:"findings,omitempty"`
}

// ReportAPIVersion and ReportKind identify a Report in -o json|yaml output.
const (
	ReportAPIVersion = api.GroupVersion
	ReportKind       = "PreCheckReport"
)

// Report is the outcome of Run.
type Report struct {
	metav1.TypeMeta `json:",inline"`
	ServerVersion   string       `json:"serverVersion,omitempty"`
	TargetVersion   string       `json:"targetVersion,omitempty"`
	Mode            upgrade.Mode `json:"mode"`
	Results         []Result     `json:"results"`
	// Errors and Warnings count the failed checks by severity (skipped ones excluded).
	Errors   int `json:"errors"`
	Warnings int `json:"warnings"`
}

// Blocking returns the failed checks with severity error that were not skipped.
func (r *Report) Blocking() []Result {
	var out []Result
	for _, res := range r.Results {
		if res.Result == Failed && res.Severity == SeverityError {
			out = append(out, res)
		}
	}
	return out
}

// Summary is the last line of the table: "normal" or "N errors, M warnings".
func (r *Report) Summary() string {
	if r.Errors == 0 && r.Warnings == 0 {
		return "normal"
	}
	return fmt.Sprintf("%d %s, %d %s", r.Errors, words.Plural(r.Errors, "error", "errors"), r.Warnings, words.Plural(r.Warnings, "warning", "warnings"))
}

// Err returns nil when nothing blocks, otherwise the one error check and start return
// for a failed pre-check: it wraps ErrBlocking (exit code 2) and names the failed
// checks and the way out.
func (r *Report) Err() error {
	b := r.Blocking()
	if len(b) == 0 {
		return nil
	}
	ids := make([]string, len(b))
	for i, res := range b {
		ids[i] = res.ID
	}
	return fmt.Errorf("%w: %d %s (%s); fix them, or skip a check with --skip-check ID",
		ErrBlocking, len(b), words.Plural(len(b), "check failed", "checks failed"), strings.Join(ids, ", "))
}

// DeepCopyObject makes Report a runtime.Object for the kubectl printers.
func (r *Report) DeepCopyObject() runtime.Object {
	if r == nil {
		return nil
	}
	out := *r
	out.Results = make([]Result, len(r.Results))
	for i, res := range r.Results {
		res.Findings = append([]Finding(nil), res.Findings...)
		out.Results[i] = res
	}
	return &out
}
