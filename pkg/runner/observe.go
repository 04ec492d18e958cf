// Package runner is where the pure core meets the cluster: load the state, observe
// Nodes and Jobs, let the core decide, save with optimistic concurrency, act.
package runner

import (
	"fmt"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/nodes"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// ToNode converts a Node for the core. The rules (roles, pools, cloud nodes,
// readiness) are pkg/nodes', shared with the pre-check.
func ToNode(n *corev1.Node, poolLabel string) upgrade.Node { return nodes.ToNode(n, poolLabel) }

// ToJob converts a node-upgrade Job and its pods for the core.
func ToJob(j *batchv1.Job, pods []*corev1.Pod) upgrade.Job {
	out := jobOf(&j.ObjectMeta, upgrade.JobActive)
	for _, c := range j.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			out.Phase, out.Finished = upgrade.JobSucceeded, c.LastTransitionTime.Time
		case batchv1.JobFailed:
			out.Phase, out.Finished, out.Reason = upgrade.JobFailed, c.LastTransitionTime.Time, c.Reason
			if out.Reason == batchv1.JobReasonDeadlineExceeded {
				out.Message = "timed out: the Job ran longer than its deadline (--job-timeout); " + c.Message
			}
		}
	}
	if out.Phase == upgrade.JobActive {
		// backoffLimit 0 and restartPolicy Never: the Job's one pod succeeding is the
		// Job's outcome. The job controller records Complete only after its sync batch
		// period (1 s, SyncJobBatchPeriod), which every batch would otherwise wait for.
		for _, p := range pods {
			if t := podFinished(p); p.Status.Phase == corev1.PodSucceeded && !t.IsZero() {
				out.Phase, out.Finished = upgrade.JobSucceeded, t
				break
			}
		}
	}
	out.Started, out.Progress = progress(pods)
	for _, p := range pods {
		if p.Status.Phase != corev1.PodFailed {
			continue
		}
		out.FailedPods++
		if c, msg := failedContainer(p); c != "" {
			out.Container, out.Message = c, msg
		}
	}
	return out
}

// jobOf is what a node-upgrade Job's metadata says (its labels and annotations are
// the contract of pkg/job), in the given phase.
func jobOf(m *metav1.ObjectMeta, phase upgrade.JobPhase) upgrade.Job {
	return upgrade.Job{
		Name:    m.Name,
		Node:    m.Annotations[job.AnnotationNode],
		Batch:   m.Labels[job.LabelBatch],
		Pool:    m.Annotations[job.AnnotationPool],
		Role:    upgrade.Role(m.Labels[job.LabelRole]),
		Phase:   phase,
		Created: m.CreationTimestamp.Time,
		Skipped: m.Annotations[job.AnnotationSkipped] == "true",
	}
}

// progress says whether the Job's pod started on its node (a container ran, or the
// pod left Pending) and how far it got, as the API server last heard from the node:
// the agent's containers are its steps (preprocess: host checks and backup; upgrade).
func progress(pods []*corev1.Pod) (bool, string) {
	started, last := false, ""
	var lastAt time.Time
	for _, p := range pods {
		if p.Status.Phase != corev1.PodPending {
			started = true
		}
		for _, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
			for _, cs := range list {
				switch st := cs.State; {
				case st.Running != nil && !st.Running.StartedAt.Time.Before(lastAt):
					started, lastAt = true, st.Running.StartedAt.Time
					last = fmt.Sprintf("container %s running since %s", cs.Name, lastAt.UTC().Format(time.RFC3339))
				case st.Terminated != nil && !st.Terminated.FinishedAt.Time.Before(lastAt):
					started, lastAt = true, st.Terminated.FinishedAt.Time
					last = fmt.Sprintf("container %s exited %d at %s", cs.Name, st.Terminated.ExitCode, lastAt.UTC().Format(time.RFC3339))
				}
			}
		}
	}
	return started, last
}

// podFinished is when a finished pod's last container terminated (its start time if
// no container says; zero if neither is known).
func podFinished(p *corev1.Pod) time.Time {
	var t time.Time
	for _, cs := range p.Status.ContainerStatuses {
		if term := cs.State.Terminated; term != nil && term.FinishedAt.After(t) {
			t = term.FinishedAt.Time
		}
	}
	if t.IsZero() && p.Status.StartTime != nil {
		t = p.Status.StartTime.Time
	}
	return t
}

// failedContainer finds the container that failed in a pod and its message.
func failedContainer(p *corev1.Pod) (string, string) {
	statuses := append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...)
	for _, cs := range statuses {
		t := cs.State.Terminated
		if t == nil || t.ExitCode == 0 {
			continue
		}
		msg := t.Message
		if msg == "" {
			msg = t.Reason
		}
		return cs.Name, oneLine(msg)
	}
	if p.Status.Message != "" {
		return "", oneLine(p.Status.Message)
	}
	return "", ""
}

// oneLine keeps the last non-empty line of a message (logs fall back to the tail).
func oneLine(s string) string {
	lines := strings.Split(s, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			if len(l) > 512 {
				l = l[:512] + "..."
			}
			return l
		}
	}
	return ""
}
