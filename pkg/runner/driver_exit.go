package runner

import (
	"context"
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
)

// A driver exits when the run pauses, and a resume then finds its Job still active for
// the second or so the driver takes to exit (the real-cluster lab's resume came 2 s
// after the automatic pause): "already running" would leave the resumed run with no
// driver until the watchdog's next pass, minutes later. So an active driver Job counts
// as driving only once the Lease shows a holder renewing after `since`; a driver that
// exits has released the Lease, and its pod ends. awaitDriver waits (at most
// driverExitWait) for one or the other and reports whether the driver exited.
func awaitDriver(ctx context.Context, cs kubernetes.Interface, name string, since time.Time) (bool, error) {
	exited := false
	err := wait.PollUntilContextTimeout(ctx, driverPoll, driverExitWait, true, func(ctx context.Context) (bool, error) {
		driving, err := leaseRenewedAfter(ctx, cs, since)
		if err != nil || driving {
			return true, err
		}
		exited, err = driverExited(ctx, cs, name)
		return exited, err
	})
	if wait.Interrupted(err) {
		// Neither within the wait: a driver pod still starting (scheduling, image
		// pull), which reads the state when it starts. It is left to drive.
		return false, nil
	}
	return exited, err
}

var (
	driverPoll     = 200 * time.Millisecond
	driverExitWait = 30 * time.Second
)

// leaseRenewedAfter reports whether a holder has renewed the driver Lease after since.
// Without permission to read the Lease (an old RBAC manifest) nothing can be told: the
// Job is then taken as driving, as before the Lease existed.
func leaseRenewedAfter(ctx context.Context, cs kubernetes.Interface, since time.Time) (bool, error) {
	l, err := cs.CoordinationV1().Leases(job.Namespace).Get(ctx, job.LeaseName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return false, nil
	case apierrors.IsForbidden(err):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("read the Lease %s/%s: %w", job.Namespace, job.LeaseName, err)
	}
	return renewedAfter(l, since), nil
}

func renewedAfter(l *coordinationv1.Lease, since time.Time) bool {
	return l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity != "" &&
		l.Spec.RenewTime != nil && l.Spec.RenewTime.After(since)
}

// driverExited reports whether the driver Job has finished, or its pods have all
// ended with one succeeded (the job controller marks the Job a moment later).
func driverExited(ctx context.Context, cs kubernetes.Interface, name string) (bool, error) {
	j, err := cs.BatchV1().Jobs(job.Namespace).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("read the driver Job %s: %w", name, err)
	case jobFinished(j):
		return true, nil
	}
	pods, err := cs.CoreV1().Pods(job.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "job-name=" + name})
	if apierrors.IsForbidden(err) {
		return false, nil // the Job's own status tells, a moment later
	}
	if err != nil {
		return false, fmt.Errorf("list the driver Job's pods: %w", err)
	}
	succeeded := false
	for _, p := range pods.Items {
		switch p.Status.Phase {
		case corev1.PodSucceeded:
			succeeded = true
		case corev1.PodFailed:
		default:
			return false, nil // one still pending or running
		}
	}
	return succeeded, nil
}
