package podstep

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func spec() upgrade.Spec {
	return upgrade.Spec{Kind: upgrade.KindDaemonSet, FromVersion: "revision 1", TargetVersion: "revision 2",
		Component: upgrade.ComponentSpec{TargetHash: "new", PodTimeout: upgrade.Duration{Duration: time.Minute}}}
}

var (
	old      = Pod{Name: "ns/ds-old", Hash: "old", Created: t0.Add(-time.Hour), Ready: true, Started: true}
	oldGoing = Pod{Name: "ns/ds-old", Hash: "old", Created: t0.Add(-time.Hour), Ready: true, Started: true, Deleting: true}
	fresh    = Pod{Name: "ns/ds-new", Hash: "new", Created: t0}
	running  = Pod{Name: "ns/ds-new", Hash: "new", Created: t0, Started: true}
	ready    = Pod{Name: "ns/ds-new", Hash: "new", Created: t0, Started: true, Ready: true, ReadySince: t0.Add(5 * time.Second)}
	crashing = Pod{Name: "ns/ds-new", Hash: "new", Created: t0, Started: true, CrashContainer: "agent", Crash: "container agent is crash-looping: restarted 3 times"}
	pulling  = Pod{Name: "ns/ds-new", Hash: "new", Created: t0, Waiting: "container agent: ImagePullBackOff"}
)

func TestJob(t *testing.T) {
	for _, tc := range []struct {
		name    string
		inBatch bool
		pods    []Pod
		at      time.Duration
		has     bool
		phase   upgrade.JobPhase
		started bool
		msg     string
		replace []string
		version string
	}{
		{"not started: the old pod stands", true, []Pod{old}, 0, false, "", false, "", []string{"ns/ds-old"}, "revision 1"},
		{"old pod being deleted", true, []Pod{oldGoing}, 0, true, upgrade.JobActive, false, "", nil, "revision 1"},
		{"old pod gone, new one not yet created", true, nil, 0, true, upgrade.JobActive, false, "", nil, "revision 1"},
		{"new pod pending", true, []Pod{oldGoing, fresh}, 10 * time.Second, true, upgrade.JobActive, false, "", nil, "revision 1"},
		{"new pod running, not Ready", true, []Pod{running}, 30 * time.Second, true, upgrade.JobActive, true, "", nil, "revision 1"},
		{"new pod Ready", true, []Pod{ready}, 30 * time.Second, true, upgrade.JobSucceeded, true, "", nil, "revision 2"},
		{"crash-looping", true, []Pod{crashing}, 30 * time.Second, true, upgrade.JobFailed, true, "pod ns/ds-new on node n1: container agent is crash-looping", nil, "revision 1"},
		{"not Ready within the timeout", true, []Pod{pulling}, 61 * time.Second, true, upgrade.JobFailed, false, "pod ns/ds-new on node n1 not Ready within 1m0s (--pod-timeout); container agent: ImagePullBackOff", nil, "revision 1"},
		{"at the timeout exactly: still waited for", true, []Pod{pulling}, time.Minute, true, upgrade.JobActive, false, "", nil, "revision 1"},
		{"outside the batch: untouched", false, []Pod{old}, 0, false, "", false, "", []string{"ns/ds-old"}, "revision 1"},
		{"outside the batch: a deferred node's pod going", false, []Pod{oldGoing}, 0, false, "", false, "", nil, "revision 1"},
		{"outside the batch: recreated after a retry", false, []Pod{running}, 10 * time.Second, false, "", false, "", nil, "revision 1"},
		{"outside the batch: done", false, []Pod{ready}, 0, true, upgrade.JobSucceeded, true, "", nil, "revision 2"},
		{"outside the batch: failed, holds the node", false, []Pod{crashing}, 0, true, upgrade.JobFailed, true, "crash-looping", nil, "revision 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j, has := Job(spec(), Step{Node: "n1", InBatch: tc.inBatch, Pods: tc.pods}, t0.Add(tc.at))
			if has != tc.has {
				t.Fatalf("has a Job = %v, want %v (%+v)", has, tc.has, j)
			}
			if has && (j.Phase != tc.phase || j.Started != tc.started || !strings.Contains(j.Message, tc.msg) || j.Node != "n1") {
				t.Errorf("Job = %+v, want phase %s started %v message containing %q", j, tc.phase, tc.started, tc.msg)
			}
			if j.Phase == upgrade.JobFailed && j.FailedPods != 1 {
				t.Errorf("a failed step keeps its failed pod: FailedPods = %d", j.FailedPods)
			}
			if got := ToReplace("new", tc.pods); strings.Join(got, ",") != strings.Join(tc.replace, ",") {
				t.Errorf("ToReplace = %v, want %v", got, tc.replace)
			}
			if got := Version(spec(), tc.pods); got != tc.version {
				t.Errorf("Version = %q, want %q", got, tc.version)
			}
		})
	}
}

func TestPodOf(t *testing.T) {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "agent-x", Labels: map[string]string{"controller-revision-hash": "new"},
		CreationTimestamp: metav1.NewTime(t0)}}
	p.Status.Phase = corev1.PodRunning
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "agent", RestartCount: 4,
		State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 40s restarting failed container"}},
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error"}}}}
	got := PodOf(p)
	if got.Name != "kube-system/agent-x" || got.Hash != "new" || !got.Started || got.Ready || got.CrashContainer != "agent" ||
		got.Crash != "container agent is crash-looping: restarted 4 times, last exit code 1 (Error)" ||
		!strings.HasPrefix(got.Waiting, "container agent: CrashLoopBackOff") {
		t.Errorf("PodOf = %+v", got)
	}
	p.Status.ContainerStatuses = nil
	p.Status.Phase = corev1.PodPending
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(t0.Add(time.Second))}}
	if got := PodOf(p); !got.Ready || !got.ReadySince.Equal(t0.Add(time.Second)) || got.Started || got.Crash != "" {
		t.Errorf("PodOf (Ready, no container status) = %+v", got)
	}
}
