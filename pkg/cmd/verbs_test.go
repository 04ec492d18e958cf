package cmd

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/precheck"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/precheck/prechecktest"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/runner"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/store"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// testRunID is the run the tests seed.
const testRunID = "2611231200-test"

// fakeConnect connects a command to the fake cluster c.
func fakeConnect(c *prechecktest.Cluster) connector {
	return func() (precheck.Clients, error) { return c.Clients(), nil }
}

// execute runs the command built by newCmd on c with args, and returns what it printed.
func execute(t *testing.T, c *prechecktest.Cluster, newCmd func(connector, genericiooptions.IOStreams) *cobra.Command, args ...string) (string, string, error) {
	t.Helper()
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	cmd := newCmd(fakeConnect(c), streams)
	cmd.SetArgs(append([]string{}, args...)) // never nil: cobra would read os.Args
	cmd.SetOut(out)
	cmd.SetErr(errOut)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.ExecuteContext(context.Background())
	return clockTimes.ReplaceAllString(out.String(), "hh:mm:ss"), errOut.String(), err
}

// clockTimes are the wall-clock times progress lines start with.
var clockTimes = regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d\b`)

// testSpec is the Spec of `start --to v1.36.1` with the default flags.
func testSpec() upgrade.Spec {
	u := upgradeFlags{scopeFlags: scopeFlags{To: "v1.36.1", Mode: string(upgrade.ModeAll), ImageRegistry: defaultRegistry},
		DrainTimeout: upgrade.DefaultDrainTimeout, JobTimeout: upgrade.DefaultJobTimeout, PauseExpiry: upgrade.DefaultPauseExpiry}
	return u.spec()
}

// seedRun records a run to v1.36.1 on c, edited by edit, as start would have.
func seedRun(t *testing.T, c *prechecktest.Cluster, edit func(*upgrade.State)) upgrade.State {
	t.Helper()
	ctx := context.Background()
	sp := testSpec()
	cluster, err := runner.ObserveCluster(ctx, c.Kube, sp)
	if err != nil {
		t.Fatal(err)
	}
	st, err := upgrade.NewState(sp, testRunID, cluster, time.Now().UTC())
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(&st)
	}
	if _, err := (store.Store{Client: c.Kube}).Create(ctx, nil, st); err != nil {
		t.Fatal(err)
	}
	return st
}

// noStage seeds a run started with --no-stage: its first reconcile starts the master.
func noStage(st *upgrade.State) { st.Spec.Stage = false }

func paused(reason string) func(*upgrade.State) {
	return func(st *upgrade.State) { st.Pause = &upgrade.Pause{Reason: reason, Since: time.Now().UTC()} }
}

func storedState(t *testing.T, c *prechecktest.Cluster) upgrade.State {
	t.Helper()
	st, _, err := store.Store{Client: c.Kube}.Get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func exitCode(err error) int {
	var e *ExitError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &e):
		return e.Code
	}
	return ExitFailure
}

func healthy() *prechecktest.Cluster {
	return prechecktest.NewCluster("v1.35.2", prechecktest.Healthy()...)
}

func TestPauseRunning(t *testing.T) {
	c := healthy()
	seedRun(t, c, noStage)
	out, _, err := execute(t, c, newCmdPause, "--reason", "maintenance window over")
	if err != nil {
		t.Fatal(err)
	}
	compareGolden(t, "pause.golden", out)
	if st := storedState(t, c); st.Pause == nil || st.Pause.Reason != "maintenance window over" {
		t.Errorf("stored pause = %+v, want the reason given", st.Pause)
	}
}

func TestPauseAlreadyPausedIsNoop(t *testing.T) {
	c := healthy()
	seedRun(t, c, paused("first reason"))
	out, _, err := execute(t, c, newCmdPause, "--reason", "second reason")
	if exitCode(err) != ExitOK {
		t.Fatalf("err = %v, want exit 0", err)
	}
	compareGolden(t, "pause-already-paused.golden", out)
	if st := storedState(t, c); st.Pause == nil || st.Pause.Reason != "first reason" {
		t.Errorf("stored pause = %+v, want the first reason kept", st.Pause)
	}
}

func TestPauseWithoutRun(t *testing.T) {
	_, _, err := execute(t, healthy(), newCmdPause)
	if !errors.Is(err, store.ErrNoRun) || exitCode(err) != ExitFailure {
		t.Errorf("err = %v, want store.ErrNoRun (exit 1)", err)
	}
}

func TestResume(t *testing.T) {
	c := healthy()
	seedRun(t, c, paused("by user"))
	out, _, err := execute(t, c, newCmdResume)
	if err != nil {
		t.Fatal(err)
	}
	compareGolden(t, "resume.golden", out)
	if st := storedState(t, c); st.Pause != nil {
		t.Errorf("stored pause = %+v, want none", st.Pause)
	}
}

func TestResumeNotPausedRefused(t *testing.T) {
	c := healthy()
	seedRun(t, c, nil)
	_, _, err := execute(t, c, newCmdResume)
	var te *upgrade.TransitionError
	if !errors.As(err, &te) || exitCode(err) != ExitFailure || !strings.Contains(err.Error(), "it is not paused") {
		t.Errorf("err = %v, want a TransitionError (exit 1) saying it is not paused", err)
	}
}

// failedUpgrade is node's failed upgrade Job in the test run, its metadata (lean
// observation lists Jobs as metadata) and its failed pod.
func failedUpgrade(node string) []runtime.Object {
	labels := map[string]string{job.LabelManagedBy: job.ManagedBy, job.LabelRun: testRunID, job.LabelComponent: job.ComponentNodeUpgrade,
		job.LabelNodeHash: job.NodeHash(node), job.LabelBatch: "1", job.LabelRole: job.RoleWorker}
	meta := metav1.ObjectMeta{Name: "eu-" + node, Namespace: job.Namespace, Labels: labels,
		Annotations: map[string]string{job.AnnotationNode: node, job.AnnotationPool: upgrade.NoPool}}
	j := &batchv1.Job{ObjectMeta: meta, Status: batchv1.JobStatus{Failed: 1, Conditions: []batchv1.JobCondition{
		{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded"}}}}
	m := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"}, ObjectMeta: meta}
	podLabels := map[string]string{batchv1.JobNameLabel: meta.Name}
	for k, v := range labels {
		podLabels[k] = v
	}
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "eu-" + node + "-abcde", Namespace: job.Namespace, Labels: podLabels},
		Spec:   corev1.PodSpec{NodeName: node},
		Status: corev1.PodStatus{Phase: corev1.PodFailed}}
	return []runtime.Object{j, m, p}
}

func TestResumeRefusedWithFailedPods(t *testing.T) {
	c := prechecktest.NewCluster("v1.35.2", append(prechecktest.Healthy(), failedUpgrade("edge-2")...)...)
	seedRun(t, c, paused("upgrade of edge-2 failed"))
	_, _, err := execute(t, c, newCmdResume)
	var fe *upgrade.FailedPodsError
	if !errors.As(err, &fe) || exitCode(err) != ExitFailure {
		t.Fatalf("err = %v, want a FailedPodsError (exit 1)", err)
	}
	if !strings.Contains(err.Error(), "edge-2") || !strings.Contains(err.Error(), "--retry-failed") {
		t.Errorf("err = %q, want it to name edge-2 and --retry-failed", err)
	}
	if st := storedState(t, c); st.Pause == nil {
		t.Error("the refused resume unpaused the run")
	}
}

func TestCancelWithYes(t *testing.T) {
	c := healthy()
	seedRun(t, c, paused("by user"))
	out, _, err := execute(t, c, newCmdCancel, "--yes")
	if err != nil {
		t.Fatal(err)
	}
	compareGolden(t, "cancel.golden", out)
	if st := storedState(t, c); st.Phase != upgrade.PhaseCancelled {
		t.Errorf("stored phase = %s, want %s", st.Phase, upgrade.PhaseCancelled)
	}
}

func TestCancelNotPausedRefused(t *testing.T) {
	c := healthy()
	seedRun(t, c, nil)
	_, _, err := execute(t, c, newCmdCancel, "--yes")
	var te *upgrade.TransitionError
	if !errors.As(err, &te) || exitCode(err) != ExitFailure || !strings.Contains(err.Error(), "cannot cancel") {
		t.Errorf("err = %v, want a TransitionError (exit 1) refusing to cancel", err)
	}
	if st := storedState(t, c); st.Phase.Terminal() {
		t.Errorf("stored phase = %s, want the run still live", st.Phase)
	}
}

func TestCancelWithoutYesOrTerminalRefused(t *testing.T) {
	c := healthy()
	seedRun(t, c, paused("by user"))
	out, _, err := execute(t, c, newCmdCancel)
	if err == nil || exitCode(err) != ExitFailure || !strings.Contains(err.Error(), "pass --yes") {
		t.Errorf("err = %v, want a refusal naming --yes (exit 1)", err)
	}
	if out != "" {
		t.Errorf("printed %q, want nothing (no prompt without a terminal)", out)
	}
	if st := storedState(t, c); st.Phase.Terminal() {
		t.Errorf("stored phase = %s, want the run not cancelled", st.Phase)
	}
}
