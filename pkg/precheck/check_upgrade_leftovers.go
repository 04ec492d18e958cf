package precheck

import (
	"errors"
	"fmt"
	"sort"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/internal/words"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/store"
)

// UpgradeLeftovers: the kube-upgrade namespace holds no failed pods, no other live
// upgrade and no stale Jobs from an earlier run.
func (checks) UpgradeLeftovers() Check {
	return Check{
		ID:          "upgrade-leftovers",
		Title:       "No failed pods, live run or stale Jobs in kube-upgrade",
		Severity:    SeverityError,
		Category:    CategoryUpgrade,
		Needs:       []Source{SourceUpgradeNS},
		Remediation: "finish or cancel the other run; read the failed pods' logs, fix the cause and delete them",
		Run:         runUpgradeLeftovers,
	}
}

func runUpgradeLeftovers(v *View) []Finding {
	var out []Finding
	if f := stateFinding(v.UpgradeState); f != nil {
		out = append(out, *f)
	}
	for _, j := range v.UpgradeJobs {
		if j.Labels[job.LabelManagedBy] != job.ManagedBy || jobFinished(&j) {
			continue
		}
		f := Finding{Object: object("Job", j.Namespace, j.Name),
			Message: fmt.Sprintf("Job of run %q is still active", j.Labels[job.LabelRun])}
		if j.Labels[job.LabelComponent] == job.ComponentDeepCheck {
			f.Severity = SeverityWarning
			f.Message = "deep-check Job left by an interrupted check"
			f.Remediation = "kubectl delete job -n " + job.Namespace + " " + j.Name
		}
		out = append(out, f)
	}
	var succeeded []string
	for _, p := range v.UpgradePods {
		switch p.Status.Phase {
		case corev1.PodFailed:
			out = append(out, Finding{Object: object("Pod", p.Namespace, p.Name),
				Message:     "failed pod" + nodeSuffix(&p) + ": " + podFailure(&p),
				Remediation: fmt.Sprintf("read kubectl logs -n %s %s --all-containers, fix the cause, then delete the pod", p.Namespace, p.Name)})
		case corev1.PodSucceeded:
			succeeded = append(succeeded, p.Name)
		}
	}
	if len(succeeded) > 0 {
		sort.Strings(succeeded)
		out = append(out, Finding{Object: "Namespace/" + job.Namespace, Severity: SeverityWarning,
			Message:     fmt.Sprintf("%d completed pods of earlier runs remain (%s)", len(succeeded), words.List(succeeded, 3)),
			Remediation: "delete the finished Jobs of earlier runs: kubectl delete jobs -n kube-upgrade -l " + job.LabelManagedBy + "=" + job.ManagedBy})
	}
	return out
}

// stateFinding reads the state ConfigMap as the plugin does (store.Decode: plain or
// gzipped, validated) and reports a run that has not ended; nil when there is no state
// or its run has ended.
func stateFinding(cm *corev1.ConfigMap) *Finding {
	if cm == nil {
		return nil
	}
	obj := object("ConfigMap", cm.Namespace, cm.Name)
	st, err := store.Decode(cm)
	var corrupt *store.CorruptError
	switch {
	case errors.As(err, &corrupt):
		return &Finding{Object: obj, Severity: SeverityWarning,
			Message:     "the upgrade state cannot be read",
			Remediation: "run kubectl edgeupgrade status; if the state is corrupt, cancel the run"}
	case err != nil: // written by a newer plugin: start refuses it too
		return &Finding{Object: obj, Message: err.Error(),
			Remediation: "use the kubectl-edgeupgrade that started the run, or a newer one"}
	case !st.Phase.Terminal():
		return &Finding{Object: obj,
			Message:     fmt.Sprintf("an upgrade is in progress (run %q, phase %s)", st.RunID, st.Phase),
			Remediation: "resume it (kubectl edgeupgrade resume) or cancel it when paused; do not start another"}
	}
	return nil
}

// maxLine bounds the line of a container's message a finding quotes.
const maxLine = 200

func nodeSuffix(p *corev1.Pod) string {
	if p.Spec.NodeName == "" {
		return ""
	}
	return " on node " + p.Spec.NodeName
}

func podFailure(p *corev1.Pod) string {
	for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		if t := cs.State.Terminated; t != nil && t.ExitCode != 0 {
			msg := fmt.Sprintf("container %s exited %d", cs.Name, t.ExitCode)
			if t.Message != "" {
				msg += ": " + words.FirstLine(t.Message, maxLine)
			}
			return msg
		}
	}
	if p.Status.Reason != "" {
		return p.Status.Reason + " " + p.Status.Message
	}
	return "phase Failed"
}

func jobFinished(j *batchv1.Job) bool {
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}
