package runner

import (
	"context"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// A detached run (docs/design.md §1) is driven in the cluster: a driver Job runs
// `edgeupgrade-driver drive` (the plugin's `drive`, pkg/drive) until the run completes, pauses or is cancelled, and a
// watchdog CronJob, present while the run is unfinished, replaces a lost driver and
// enforces pause expiry. This file creates, reads and removes them.

// Detach hands the session's run to the cluster: it creates the watchdog CronJob
// and, unless one is already running, the driver Job. Both are owned by the state
// ConfigMap. It reports whether a new driver was created.
func (s *Session) Detach(ctx context.Context, image string) (bool, error) {
	p, err := s.driverParams(image)
	if err != nil {
		return false, err
	}
	_, err = s.client.BatchV1().CronJobs(job.Namespace).Create(ctx, job.BuildWatchdog(p), metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return false, fmt.Errorf("create the watchdog CronJob %s: %w", job.WatchdogName(p.RunID), err)
	}
	return EnsureDriver(ctx, s.client, p)
}

// EnsureDriver creates the run's driver Job unless one is active. A finished one
// (it ended at a pause, or gave up) is deleted first, and waited for: the name is
// the run's. It reports whether a new driver was created.
func EnsureDriver(ctx context.Context, cs kubernetes.Interface, p job.DriverParams) (bool, error) {
	jobs := cs.BatchV1().Jobs(job.Namespace)
	name := job.DriverName(p.RunID)
	cur, err := jobs.Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return false, fmt.Errorf("read the driver Job %s: %w", name, err)
	case cur.DeletionTimestamp == nil && !jobFinished(cur):
		exited, err := awaitDriver(ctx, cs, name)
		if err != nil || !exited {
			return false, err
		}
		fallthrough // it saw the run paused and exited, after our read: replace it
	default:
		if p.OwnerUID == "" {
			p.OwnerName, p.OwnerUID = ownerOf(cur)
		}
		if err := deleteAndWait(ctx, cs, cur); err != nil {
			return false, err
		}
	}
	if _, err := jobs.Create(ctx, job.BuildDriver(p), metav1.CreateOptions{}); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return false, nil // another process created it just now
		}
		return false, fmt.Errorf("create the driver Job %s: %w", name, err)
	}
	return true, nil
}

func ownerOf(j *batchv1.Job) (string, types.UID) {
	for _, o := range j.OwnerReferences {
		if o.Kind == "ConfigMap" {
			return o.Name, o.UID
		}
	}
	return "", ""
}

// deleteAndWait deletes the finished driver Job old and waits until it is gone. Gone
// is by UID, not by name: another process (the watchdog's pass, a second resume) may
// replace it at the same moment, and the Job then under the name is its driver.
func deleteAndWait(ctx context.Context, cs kubernetes.Interface, old *batchv1.Job) error {
	fg := metav1.DeletePropagationForeground
	jobs := cs.BatchV1().Jobs(job.Namespace)
	err := jobs.Delete(ctx, old.Name, metav1.DeleteOptions{PropagationPolicy: &fg, Preconditions: &metav1.Preconditions{UID: &old.UID}})
	switch {
	case apierrors.IsNotFound(err), apierrors.IsConflict(err): // gone, or already replaced
		return nil
	case err != nil:
		return fmt.Errorf("delete the finished driver Job %s: %w", old.Name, err)
	}
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		cur, err := jobs.Get(ctx, old.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err) || (err == nil && cur.UID != old.UID), nil
	})
	if err != nil {
		return fmt.Errorf("the finished driver Job %s was not deleted within 2m (is the garbage collector running?): %w", old.Name, err)
	}
	return nil
}

func jobFinished(j *batchv1.Job) bool {
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// TidyDriver removes what a finished run's driver no longer needs: the watchdog
// CronJob (a pass in progress is orphaned and finishes), the Lease and the failed
// driver pods (crashed drivers; the driver Job and its last pod stay, with the
// run's other Jobs, for diagnosis until the next run starts). Missing objects are
// fine; other failures are returned for a warning (the run is over either way).
func TidyDriver(ctx context.Context, cs kubernetes.Interface, runID string) error {
	// Three independent deletes, at once: they are the end of every driven run's tail.
	tidy := []func() error{
		func() error { return DeleteWatchdog(ctx, cs, runID) },
		func() error {
			err := cs.CoordinationV1().Leases(job.Namespace).Delete(ctx, job.LeaseName, metav1.DeleteOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("delete the driver Lease %s: %w", job.LeaseName, err)
			}
			return nil
		},
		func() error {
			sel := metav1.ListOptions{
				LabelSelector: job.RunSelector(runID) + "," + job.LabelComponent + "=" + job.ComponentDriver,
				FieldSelector: fields.OneTermEqualSelector("status.phase", string(corev1.PodFailed)).String(),
			}
			if err := cs.CoreV1().Pods(job.Namespace).DeleteCollection(ctx, metav1.DeleteOptions{}, sel); err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("delete the failed driver pods of run %s: %w", runID, err)
			}
			return nil
		},
	}
	return utilerrors.NewAggregate(forEachLimit(len(tidy), len(tidy), func(i int) error { return tidy[i]() }))
}

// tidyDriver is TidyDriver for the runner: a failure is reported, never fatal.
func (r *Runner) tidyDriver(ctx context.Context, runID string) {
	r.reportTidy(TidyDriver(ctx, r.client, runID))
}

// reportTidy reports TidyDriver's failure, if any, as a warning.
func (r *Runner) reportTidy(err error) {
	if err != nil && r.onEvent != nil {
		r.onEvent(upgrade.Event{Type: upgrade.Warning, Reason: "DriverTidyFailed", Message: err.Error()})
	}
}

// podGone reports a driver pod known to have ended: deleted, or finished. An unknown
// pod or a failed read is not gone.
func podGone(ctx context.Context, cs kubernetes.Interface, name string) bool {
	if name == "" {
		return false
	}
	p, err := cs.CoreV1().Pods(job.Namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return true
	}
	return err == nil && (p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed)
}

// DriverInfo is who drives a run, as the cluster shows it.
type DriverInfo struct {
	// Holder of the Lease and its record; Held is false when nobody holds it or the
	// holder has not renewed for the lease duration (by this machine's clock).
	Holder               Holder
	Identity             string
	Held                 bool
	Since, Renewed, Last time.Time // acquired, renewed, last reconcile
	// Detached: the run has a watchdog CronJob. DriverJob is the driver Job's state:
	// "" (none), "Active", "Complete" or "Failed".
	Detached  bool
	DriverJob string
}

// ReadDriver reads the Lease, the driver Job and the watchdog of a run. A forbidden
// read (a viewer role without them) leaves its part empty.
func ReadDriver(ctx context.Context, cs kubernetes.Interface, runID string, now time.Time) (DriverInfo, error) {
	var d DriverInfo
	l, err := cs.CoordinationV1().Leases(job.Namespace).Get(ctx, job.LeaseName, metav1.GetOptions{})
	switch {
	case err == nil:
		leaseInfo(&d, l, now)
	case !apierrors.IsNotFound(err) && !apierrors.IsForbidden(err):
		return d, fmt.Errorf("read the driver Lease: %w", err)
	}
	if d.Held && d.Holder.Kind == DriverInCluster && podGone(ctx, cs, d.Holder.Pod) {
		// A driver pod that exited holds nothing, whether or not its release of the
		// Lease (best effort) reached the API server.
		d.Held = false
	}
	j, err := cs.BatchV1().Jobs(job.Namespace).Get(ctx, job.DriverName(runID), metav1.GetOptions{})
	switch {
	case err == nil:
		d.DriverJob = "Active"
		for _, c := range j.Status.Conditions {
			if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
				d.DriverJob = string(c.Type)
			}
		}
	case !apierrors.IsNotFound(err) && !apierrors.IsForbidden(err):
		return d, fmt.Errorf("read the driver Job: %w", err)
	}
	_, err = cs.BatchV1().CronJobs(job.Namespace).Get(ctx, job.WatchdogName(runID), metav1.GetOptions{})
	switch {
	case err == nil:
		d.Detached = true
	case !apierrors.IsNotFound(err) && !apierrors.IsForbidden(err):
		return d, fmt.Errorf("read the watchdog CronJob: %w", err)
	}
	return d, nil
}

func leaseInfo(d *DriverInfo, l *coordinationv1.Lease, now time.Time) {
	d.Identity = ptr.Deref(l.Spec.HolderIdentity, "")
	if d.Identity == "" {
		return
	}
	d.Holder = HolderOf(l)
	if l.Spec.AcquireTime != nil {
		d.Since = l.Spec.AcquireTime.Time
	}
	if l.Spec.RenewTime != nil {
		d.Renewed = l.Spec.RenewTime.Time
	}
	if t, err := time.Parse(time.RFC3339, l.Annotations[AnnotationLastReconcile]); err == nil {
		d.Last = t
	}
	duration := time.Duration(ptr.Deref(l.Spec.LeaseDurationSeconds, 0)) * time.Second
	d.Held = d.Renewed.Add(duration).After(now)
}

// EnsureDriver is EnsureDriver for the session's run, owned by its state ConfigMap.
func (s *Session) EnsureDriver(ctx context.Context, image string) (bool, error) {
	p, err := s.driverParams(image)
	if err != nil {
		return false, err
	}
	return EnsureDriver(ctx, s.client, p)
}

func (s *Session) driverParams(image string) (job.DriverParams, error) {
	if isDaemonSetRun(s.state) || isDeploymentRun(s.state) {
		// The driver's roles do not reach the component's namespace (daemonset.go).
		return job.DriverParams{}, fmt.Errorf("a %s run cannot be detached yet: drive it with resume --wait or status --watch", upgrade.KindOf(s.state.Spec))
	}
	cm := s.cache.StateConfigMap()
	if cm == nil {
		return job.DriverParams{}, fmt.Errorf("the state ConfigMap %s/%s is gone; see kubectl edgeupgrade status", job.Namespace, "edgeupgrade")
	}
	nodes, err := s.cache.nodes.List(labels.Everything())
	if err != nil {
		return job.DriverParams{}, err
	}
	return job.DriverParams{RunID: s.state.RunID, Image: image, OwnerName: cm.Name, OwnerUID: cm.UID, Nodes: len(nodes)}, nil
}

// DeleteWatchdog removes the watchdog CronJob of a run (a pass in progress finishes).
func DeleteWatchdog(ctx context.Context, cs kubernetes.Interface, runID string) error {
	orphan := metav1.DeletePropagationOrphan
	err := cs.BatchV1().CronJobs(job.Namespace).Delete(ctx, job.WatchdogName(runID), metav1.DeleteOptions{PropagationPolicy: &orphan})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete the watchdog CronJob %s: %w", job.WatchdogName(runID), err)
	}
	return nil
}

// Follow shows the run as other drivers advance it, never writing, until it
// completes, pauses or is cancelled (status --watch --read-only).
func (s *Session) Follow(ctx context.Context, show func(upgrade.State, upgrade.Observation)) (upgrade.State, error) {
	s.runner.acting = func() bool { return false }
	defer func() { s.runner.acting = nil }()
	return s.runner.Drive(ctx, show)
}
