package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/precheck"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/precheck/prechecktest"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/store"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// --- start ---

// startAt is the start command with its clock (and so the pre-check's) at
// prechecktest.Now, advancing a millisecond a reading (Events are named by time).
func startAt(connect connector, streams genericiooptions.IOStreams) *cobra.Command {
	now := prechecktest.Now()
	return newCmdStart(connect, streams, func() time.Time { now = now.Add(time.Millisecond); return now })
}

// runIDs are generated run IDs (time and 4 random characters).
var runIDs = regexp.MustCompile(`\b\d{10}-[a-z0-9]{4}\b`)

func TestStartHappyPath(t *testing.T) {
	c := healthy()
	out, _, err := execute(t, c, startAt, "--to", "v1.36.1", "--no-stage")
	if err != nil {
		t.Fatalf("err = %v\n%s", err, out)
	}
	compareGolden(t, "start.golden", runIDs.ReplaceAllString(out, "RUNID"))
	st := storedState(t, c)
	if st.Phase.Terminal() || st.Spec.TargetVersion != "v1.36.1" || st.Spec.FromVersion != "v1.35.2" {
		t.Errorf("stored run = %s %s → %s, want a live run v1.35.2 → v1.36.1", st.Phase, st.Spec.FromVersion, st.Spec.TargetVersion)
	}
	jobs, err := c.Kube.BatchV1().Jobs(job.Namespace).List(context.Background(), metav1.ListOptions{LabelSelector: job.NodeUpgradeSelector(st.RunID)})
	if err != nil || len(jobs.Items) != 1 || jobs.Items[0].Annotations[job.AnnotationNode] != "cp-1" {
		t.Errorf("Jobs after start = %v (%v), want the first master's (cp-1) alone", jobs, err)
	}
}

// With staging (the default), start disrupts nothing: it creates the staging Jobs,
// at most --max-concurrent-pulls of them, masters first, and no node Job.
func TestStartStagesFirst(t *testing.T) {
	c := healthy()
	out, _, err := execute(t, c, startAt, "--to", "v1.36.1", "--max-concurrent-pulls", "2")
	if err != nil {
		t.Fatalf("err = %v\n%s", err, out)
	}
	st := storedState(t, c)
	if !st.Spec.Stage || st.Spec.MaxConcurrentPulls != 2 || st.Current != nil {
		t.Errorf("stored run: stage %v, max pulls %d, current batch %+v; want staging, 2, none", st.Spec.Stage, st.Spec.MaxConcurrentPulls, st.Current)
	}
	ctx := context.Background()
	nodeJobs, err := c.Kube.BatchV1().Jobs(job.Namespace).List(ctx, metav1.ListOptions{LabelSelector: job.NodeUpgradeSelector(st.RunID)})
	if err != nil || len(nodeJobs.Items) != 0 {
		t.Errorf("node Jobs after start = %d (%v), want none before staging", len(nodeJobs.Items), err)
	}
	stage, err := c.Kube.BatchV1().Jobs(job.Namespace).List(ctx, metav1.ListOptions{LabelSelector: job.StageSelector(st.RunID)})
	var nodes []string
	for _, j := range stage.Items {
		nodes = append(nodes, j.Annotations[job.AnnotationNode])
	}
	slices.Sort(nodes)
	if err != nil || !slices.Equal(nodes, []string{"cp-1", "edge-1"}) {
		t.Errorf("staging Jobs after start for %v (%v), want cp-1 and edge-1 (the master first, two at once)", nodes, err)
	}
}

func TestStartDryRunWritesNothing(t *testing.T) {
	c := healthy()
	out, _, err := execute(t, c, startAt, "--to", "v1.36.1", "--dry-run")
	if err != nil {
		t.Fatalf("err = %v\n%s", err, out)
	}
	if !strings.HasSuffix(out, "dry run: nothing was changed\n") {
		t.Errorf("output = %q, want it to end with the dry-run line", out)
	}
	assertNothingWritten(t, c)
}

func TestStartRefusesBadSteps(t *testing.T) {
	for _, tc := range []struct{ to, want string }{
		{"v1.37.0", "cannot upgrade from v1.35.2 to v1.37.0: upgrade one minor version at a time"},
		{"v1.34.3", "cannot upgrade from v1.35.2 to v1.34.3: downgrades are not supported"},
	} {
		t.Run(tc.to, func(t *testing.T) {
			c := healthy()
			out, _, err := execute(t, c, startAt, "--to", tc.to)
			if err == nil || exitCode(err) != ExitFailure || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q (exit 1)", err, tc.want)
			}
			if out != "" {
				t.Errorf("printed %q before refusing, want nothing", out)
			}
			assertNothingWritten(t, c)
		})
	}
}

func TestStartRefusesOnBlockingPreCheck(t *testing.T) {
	c := plantedCluster()
	_, errOut, err := execute(t, c, startAt, "--to", "v1.36.1")
	if exitCode(err) != ExitPreCheck || !errors.Is(err, precheck.ErrBlocking) {
		t.Fatalf("err = %v, want the pre-check's refusal (exit %d)", err, ExitPreCheck)
	}
	if !strings.Contains(errOut, "FAIL") && !strings.Contains(errOut, "fail") {
		t.Errorf("stderr = %q, want the failed checks' table", errOut)
	}
	assertNothingWritten(t, c)
}

func TestStartRefusesWhileARunIsLive(t *testing.T) {
	c := healthy()
	seedRun(t, c, nil)
	_, _, err := execute(t, c, startAt, "--to", "v1.36.1")
	if err == nil || exitCode(err) != ExitFailure || !strings.Contains(err.Error(), "already running (run "+testRunID) {
		t.Errorf("err = %v, want a refusal naming run %s (exit 1)", err, testRunID)
	}
	if st := storedState(t, c); st.RunID != testRunID {
		t.Errorf("stored run = %s, want %s kept", st.RunID, testRunID)
	}
}

// assertNothingWritten fails if the command created, updated or deleted anything
// (the state ConfigMap, the namespace, Jobs).
func assertNothingWritten(t *testing.T, c *prechecktest.Cluster) {
	t.Helper()
	for _, a := range c.Kube.Actions() {
		switch a.GetVerb() {
		case "create", "update", "patch", "delete", "delete-collection":
			t.Errorf("wrote: %s %s", a.GetVerb(), a.GetResource().Resource)
		}
	}
	if _, _, err := (store.Store{Client: c.Kube}).Get(context.Background()); !errors.Is(err, store.ErrNoRun) {
		t.Errorf("state ConfigMap: err = %v, want store.ErrNoRun", err)
	}
}

// --- plan ---

func TestPlanGolden(t *testing.T) {
	for _, tc := range []struct{ golden, output string }{{"plan.golden", ""}, {"plan-json.golden", "json"}} {
		t.Run(tc.golden, func(t *testing.T) {
			c := healthy()
			args := []string{"--to", "v1.36.1"}
			if tc.output != "" {
				args = append(args, "-o", tc.output)
			}
			out, _, err := execute(t, c, newCmdPlan, args...)
			if err != nil {
				t.Fatal(err)
			}
			compareGolden(t, tc.golden, out)
			assertNothingWritten(t, c)
		})
	}
}

func TestPlanNothingToDo(t *testing.T) {
	_, _, err := execute(t, healthy(), newCmdPlan, "--to", "v1.35.2")
	if !errors.Is(err, upgrade.ErrNothingToDo) {
		t.Errorf("err = %v, want ErrNothingToDo", err)
	}
}

// --- status ---

// statusTimes are the status fields that depend on the wall clock.
var statusTimes = []string{"startedAt", "elapsed", "since"}

func TestStatusJSON(t *testing.T) {
	c := healthy()
	seedRun(t, c, paused("maintenance window over"))
	out, _, err := execute(t, c, newCmdStatus, "--read-only", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("status -o json is not JSON: %v\n%s", err, out)
	}
	blankTimes(v)
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	compareGolden(t, "status-json.golden", string(b)+"\n")
}

// blankTimes replaces the wall-clock fields of a decoded status with "TIME".
func blankTimes(v any) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			for _, name := range statusTimes {
				if k == name {
					v[k] = "TIME"
				}
			}
			blankTimes(e)
		}
	case []any:
		for _, e := range v {
			blankTimes(e)
		}
	}
}

func TestStatusHumanReconciles(t *testing.T) {
	c := healthy()
	seedRun(t, c, noStage)
	out, _, err := execute(t, c, newCmdStatus)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, testRunID) || !strings.Contains(out, "cp-1") {
		t.Errorf("status output lacks the run or the master in flight:\n%s", out)
	}
	if st := storedState(t, c); st.Current == nil || st.Current.Nodes[0] != "cp-1" {
		t.Errorf("stored current batch = %+v, want status to have started master cp-1", st.Current)
	}
}

func TestStatusBadFlags(t *testing.T) {
	for name, args := range map[string][]string{
		"events": {"--events", "-1"},
		"output": {"-o", "xml"},
	} {
		if _, _, err := execute(t, healthy(), newCmdStatus, args...); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestStatusWithoutRun(t *testing.T) {
	_, _, err := execute(t, healthy(), newCmdStatus)
	if !errors.Is(err, store.ErrNoRun) || exitCode(err) != ExitFailure {
		t.Errorf("err = %v, want store.ErrNoRun (exit 1)", err)
	}
}

// --- logs ---

func logsCmd(connect connector, streams genericiooptions.IOStreams) *cobra.Command {
	return newCmdLogs(nil, connect, streams)
}

func TestLogs(t *testing.T) {
	objs := append(prechecktest.Healthy(), failedUpgrade("edge-2")...)
	c := prechecktest.NewCluster("v1.35.2", objs...)
	seedRun(t, c, nil)
	out, _, err := execute(t, c, logsCmd, "edge-2")
	if err != nil {
		t.Fatal(err)
	}
	compareGolden(t, "logs.golden", out)
}

func TestLogsOneContainer(t *testing.T) {
	c := prechecktest.NewCluster("v1.35.2", append(prechecktest.Healthy(), failedUpgrade("edge-2")...)...)
	seedRun(t, c, nil)
	out, _, err := execute(t, c, logsCmd, "edge-2", "-c", job.ContainerUpgrade)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "container "+job.ContainerPreprocess) || !strings.Contains(out, "container "+job.ContainerUpgrade) {
		t.Errorf("-c upgrade printed:\n%s", out)
	}
}

func TestLogsNodeWithoutPod(t *testing.T) {
	c := healthy()
	seedRun(t, c, nil)
	_, _, err := execute(t, c, logsCmd, "edge-1")
	if err == nil || exitCode(err) != ExitFailure || !strings.Contains(err.Error(), `no upgrade pod for node "edge-1" in run `+testRunID) {
		t.Errorf("err = %v, want no upgrade pod for edge-1 (exit 1)", err)
	}
}

func TestLogsBadContainer(t *testing.T) {
	_, _, err := execute(t, healthy(), logsCmd, "edge-1", "-c", "kubelet")
	if err == nil || !strings.Contains(err.Error(), `unknown --container "kubelet"`) {
		t.Errorf("err = %v, want the container refused", err)
	}
}

func TestLogsNoneReadableFails(t *testing.T) {
	c := prechecktest.NewCluster("v1.35.2", append(prechecktest.Healthy(), failedUpgrade("edge-2")...)...)
	seedRun(t, c, nil)
	streams, _, out, _ := genericiooptions.NewTestIOStreams()
	o := NewLogsOptions(fakeConnect(c), streams)
	o.readLogs = func(context.Context, kubernetes.Interface, string, string, int64) (io.ReadCloser, error) {
		return nil, errors.New("dial tcp 127.0.0.1:10250: connection refused")
	}
	cmd := &cobra.Command{}
	cmd.SetContext(context.Background())
	err := runOptions(o)(cmd, []string{"edge-2"})
	if err == nil || exitCode(err) != ExitFailure || !strings.Contains(err.Error(), `no log of node "edge-2" could be read`) {
		t.Errorf("err = %v, want exit 1 saying no log could be read", err)
	}
	if !strings.Contains(out.String(), "(no logs: dial tcp 127.0.0.1:10250: connection refused)") {
		t.Errorf("output does not say why:\n%s", out)
	}
}

// TestBadModeOneWording: start, plan and check refuse a bad --mode with the core's
// words, before reading the cluster.
func TestBadModeOneWording(t *testing.T) {
	const want = `unknown --mode "everything": use one of all, control-plane, nodes`
	for name, newCmd := range map[string]func(connector, genericiooptions.IOStreams) *cobra.Command{
		"start": startAt, "plan": newCmdPlan,
	} {
		c := healthy()
		_, _, err := execute(t, c, newCmd, "--to", "v1.36.1", "--mode", "everything")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", name, err, want)
		}
		assertNothingWritten(t, c)
	}
	if _, err := runCheck(t, healthy(), func(o *CheckOptions) { o.Mode = "everything" }); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("check: err = %v, want %q", err, want)
	}
}
