package cmd

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/precheck/prechecktest"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// fakeKubelets plays the nodes for the commands that drive a run: every node-upgrade
// Job it finds is finished at once — the node reports the Job's target version and the
// Job is Complete — unless its node is in fail, whose Job fails instead. It polls, so
// no update can be missed; stop ends it.
func fakeKubelets(t *testing.T, c *prechecktest.Cluster, fail ...string) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for ctx.Err() == nil {
			finishJobs(ctx, t, c, fail)
			select {
			case <-ctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
		}
	})
	return func() { cancel(); wg.Wait() }
}

func finishJobs(ctx context.Context, t *testing.T, c *prechecktest.Cluster, fail []string) {
	jobs, err := c.Kube.BatchV1().Jobs(job.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	for i := range jobs.Items {
		j := &jobs.Items[i]
		if len(j.Status.Conditions) > 0 {
			continue
		}
		node := j.Annotations[job.AnnotationNode]
		cond := batchv1.JobCondition{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}
		switch {
		case j.Labels[job.LabelComponent] == job.ComponentStage:
			// A staging Job pulls images: it changes nothing on the node.
		case slices.Contains(fail, node):
			cond.Type, cond.Reason = batchv1.JobFailed, "BackoffLimitExceeded"
		default:
			if err := setKubelet(ctx, c, node, j.Annotations[job.AnnotationTargetVersion]); err != nil {
				t.Errorf("fake kubelet %s: %v", node, err)
				continue
			}
		}
		j.Status.Conditions = []batchv1.JobCondition{cond}
		if _, err := c.Kube.BatchV1().Jobs(job.Namespace).UpdateStatus(ctx, j, metav1.UpdateOptions{}); err != nil && ctx.Err() == nil {
			t.Errorf("finish Job %s: %v", j.Name, err)
		}
	}
}

func setKubelet(ctx context.Context, c *prechecktest.Cluster, node, version string) error {
	n, err := c.Kube.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		return err
	}
	n.Status.NodeInfo.KubeletVersion = version
	_, err = c.Kube.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
	return err
}

// nodeVersions maps every node of c to its kubelet version.
func nodeVersions(t *testing.T, c *prechecktest.Cluster) map[string]string {
	t.Helper()
	nodes, err := c.Kube.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, n := range nodes.Items {
		out[n.Name] = n.Status.NodeInfo.KubeletVersion
	}
	return out
}

func TestStartReadsTheClusterOnce(t *testing.T) {
	c := healthy()
	if _, _, err := execute(t, c, startAt, "--to", "v1.36.1", "--dry-run"); err != nil {
		t.Fatal(err)
	}
	lists, versions := 0, 0
	for _, a := range c.Kube.Actions() {
		switch {
		case a.Matches("list", "nodes"):
			lists++
		case a.GetVerb() == "get" && a.GetResource().Resource == "version":
			versions++
		}
	}
	if lists != 1 || versions != 1 {
		t.Errorf("start listed the nodes %d times and read the server version %d times, want once each (the pre-check's view)", lists, versions)
	}
}

func TestStartWaitDrivesToCompletion(t *testing.T) {
	c := healthy()
	defer fakeKubelets(t, c)()
	out, _, err := execute(t, c, startAt, "--to", "v1.36.1", "--wait")
	if err != nil || exitCode(err) != ExitOK {
		t.Fatalf("start --wait: exit %d (%v)\n%s", exitCode(err), err, out)
	}
	if st := storedState(t, c); st.Phase != upgrade.PhaseCompleted {
		t.Errorf("run ended %s, want Completed", st.Phase)
	}
	for node, v := range nodeVersions(t, c) {
		if v != "v1.36.1" {
			t.Errorf("node %s at %s after start --wait, want v1.36.1", node, v)
		}
	}
	// Without a terminal: a line per batch and phase change, none per node.
	if !strings.Contains(out, "Completed in ") || strings.Contains(out, "NodeUpgraded") {
		t.Errorf("start --wait did not report the completion, or reported each node:\n%s", out)
	}
}

func TestStartWaitStopsPausedOnFailure(t *testing.T) {
	c := healthy()
	defer fakeKubelets(t, c, "edge-1")()
	out, _, err := execute(t, c, startAt, "--to", "v1.36.1", "--wait")
	if exitCode(err) != ExitPaused || err == nil || !strings.Contains(err.Error(), "edge-1") {
		t.Fatalf("start --wait with edge-1 failing: exit %d (%v), want exit %d naming edge-1\n%s", exitCode(err), err, ExitPaused, out)
	}
	if st := storedState(t, c); st.Pause == nil || !st.Pause.ByError {
		t.Errorf("stored pause = %+v, want an automatic pause", st.Pause)
	}
}

func TestResumeWaitDrivesToCompletion(t *testing.T) {
	c := healthy()
	seedRun(t, c, paused("maintenance"))
	defer fakeKubelets(t, c)()
	out, _, err := execute(t, c, newCmdResume, "--wait")
	if err != nil {
		t.Fatalf("resume --wait: exit %d (%v)\n%s", exitCode(err), err, out)
	}
	if st := storedState(t, c); st.Phase != upgrade.PhaseCompleted || st.Pause != nil {
		t.Errorf("run after resume --wait: %s, pause %+v; want Completed", st.Phase, st.Pause)
	}
}

func TestStatusWatchFollowsToTheEnd(t *testing.T) {
	c := healthy()
	seedRun(t, c, nil)
	defer fakeKubelets(t, c)()
	out, _, err := execute(t, c, newCmdStatus, "--watch")
	if err != nil {
		t.Fatalf("status --watch: exit %d (%v)\n%s", exitCode(err), err, out)
	}
	if st := storedState(t, c); st.Phase != upgrade.PhaseCompleted {
		t.Errorf("status --watch returned with the run %s, want Completed", st.Phase)
	}
}

func TestStatusWatchReturnsPausedRun(t *testing.T) {
	c := healthy()
	seedRun(t, c, paused("maintenance"))
	_, _, err := execute(t, c, newCmdStatus, "--watch")
	if exitCode(err) != ExitPaused {
		t.Errorf("status --watch on a paused run: exit %d (%v), want %d", exitCode(err), err, ExitPaused)
	}
}
