// Package podstep is the node step of a DaemonSet run as pure decisions: which pod of a
// node to replace, and when the node is done or failed, told to the core (pkg/upgrade)
// as the Job it would have run. The step is "delete this node's pod and wait until the
// new one is Ready", with the DaemonSet held on OnDelete, so its controller creates the
// new pod from the new template only where the run deleted the old one.
package podstep

import (
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// CrashRestarts is how many restarts of a new pod's container make it crash-looping.
const CrashRestarts = 3

// Pod is what the node step needs of one pod of the DaemonSet on a node.
type Pod struct {
	// Name is namespace/name.
	Name string
	// Node is the node the pod is bound to ("" if none yet).
	Node string
	// Hash is the pod's controller-revision-hash: the template it was created from.
	Hash     string
	Deleting bool
	Created  time.Time
	Ready    bool
	// ReadySince is when the pod became Ready.
	ReadySince time.Time
	// Started: a container ran, or the pod left Pending.
	Started bool
	// Crash names a crash-looping container and why ("" if none).
	Crash, CrashContainer string
	// Waiting is why a container is not running yet ("container c: ImagePullBackOff").
	Waiting string
	// Skipped: the operator left this failed pod's node behind (resume --skip-failed).
	Skipped bool
}

// PodOf reads a pod for the node step.
func PodOf(p *corev1.Pod) Pod {
	out := Pod{Name: p.Namespace + "/" + p.Name, Node: p.Spec.NodeName, Hash: p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey],
		Deleting: p.DeletionTimestamp != nil, Created: p.CreationTimestamp.Time, Started: p.Status.Phase != corev1.PodPending,
		Skipped: p.Annotations[job.AnnotationSkipped] == "true"}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			out.Ready, out.ReadySince = true, c.LastTransitionTime.Time
		}
	}
	for _, cs := range p.Status.ContainerStatuses {
		if cs.State.Running != nil || cs.State.Terminated != nil || cs.RestartCount > 0 {
			out.Started = true
		}
		if w := cs.State.Waiting; w != nil && w.Reason != "" && out.Waiting == "" {
			out.Waiting = fmt.Sprintf("container %s: %s", cs.Name, strings.TrimSpace(w.Reason+" "+w.Message))
		}
		if out.Crash == "" && (cs.RestartCount >= CrashRestarts || (cs.State.Waiting != nil && cs.State.Waiting.Reason == "CrashLoopBackOff")) {
			out.CrashContainer = cs.Name
			out.Crash = fmt.Sprintf("container %s is crash-looping: restarted %d times%s", cs.Name, cs.RestartCount, lastExit(cs))
		}
	}
	return out
}

func lastExit(cs corev1.ContainerStatus) string {
	t := cs.LastTerminationState.Terminated
	if t == nil {
		t = cs.State.Terminated
	}
	if t == nil {
		return ""
	}
	msg := fmt.Sprintf(", last exit code %d", t.ExitCode)
	if r := strings.TrimSpace(t.Reason + " " + t.Message); r != "" {
		msg += " (" + r + ")"
	}
	return msg
}

// Step is one node of a DaemonSet run as the node step sees it.
type Step struct {
	Node string
	// InBatch: the node is in the batch in flight.
	InBatch bool
	// Pods are the DaemonSet's pods on the node.
	Pods []Pod
}

// newest is the newest pod of the target revision not being deleted (nil if none).
func newest(hash string, pods []Pod) *Pod {
	var out *Pod
	for i := range pods {
		p := &pods[i]
		if p.Hash == hash && !p.Deleting && (out == nil || p.Created.After(out.Created)) {
			out = p
		}
	}
	return out
}

// ToReplace are the pods the node step deletes on a node: those of another revision
// not already being deleted. None once the new pod exists: a step is never repeated.
func ToReplace(hash string, pods []Pod) []string {
	if newest(hash, pods) != nil {
		return nil
	}
	var out []string
	for _, p := range pods {
		if p.Hash != hash && !p.Deleting {
			out = append(out, p.Name)
		}
	}
	return out
}

// Version is what the core reads as the node's version: the target revision once the
// node's new pod is Ready, the run's starting revision until then.
func Version(sp upgrade.Spec, pods []Pod) string {
	if p := newest(sp.Component.TargetHash, pods); p != nil && p.Ready {
		return sp.TargetVersion
	}
	return sp.FromVersion
}

// Job is the node step told to the core as the Job it would be, and whether there is
// one. In the batch in flight: none while the old pod stands (the step is still to
// start: CreateJobs deletes it), running from its deletion until the new pod is Ready
// (succeeded), or crash-loops or is not Ready within the timeout (failed: the pod, the
// node and the reason). Outside the batch only outcomes count — a Ready new pod
// (succeeded) and a failed one, which holds its node until a resume — so that a node
// whose failed pod a retry deleted, and which its controller at once recreated, is a
// candidate again and is waited for in a batch.
func Job(sp upgrade.Spec, s Step, now time.Time) (upgrade.Job, bool) {
	j := upgrade.Job{Name: "pod-step/" + s.Node, Node: s.Node, Phase: upgrade.JobActive}
	p := newest(sp.Component.TargetHash, s.Pods)
	if p == nil {
		if !s.InBatch || len(ToReplace(sp.Component.TargetHash, s.Pods)) > 0 {
			return j, false
		}
		j.Progress = "old pod being deleted"
		return j, true // the old pod is going (or gone): its replacement is not created yet
	}
	j.Name, j.Created, j.Started = p.Name, p.Created, p.Started
	timeout := sp.Component.PodTimeout.Duration
	switch {
	case p.Ready:
		j.Phase, j.Finished = upgrade.JobSucceeded, p.ReadySince
		if j.Finished.IsZero() {
			j.Finished = now
		}
		return j, true
	case p.Crash != "":
		j.Reason, j.Container = "CrashLoop", p.CrashContainer
		j.Message = fmt.Sprintf("pod %s on node %s: %s", p.Name, s.Node, p.Crash)
	case timeout > 0 && now.Sub(p.Created) > timeout:
		j.Reason = "NotReady"
		j.Message = fmt.Sprintf("pod %s on node %s not Ready within %s (--pod-timeout)", p.Name, s.Node, timeout)
		if p.Waiting != "" {
			j.Message += "; " + p.Waiting
		}
	default:
		j.Progress = "new pod " + p.Name + " starting"
		if p.Waiting != "" {
			j.Progress += " (" + p.Waiting + ")"
		}
		return j, s.InBatch
	}
	j.Phase, j.Finished, j.FailedPods, j.Skipped = upgrade.JobFailed, now, 1, p.Skipped
	return j, true
}
