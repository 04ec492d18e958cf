package runner

import (
	"context"
	"fmt"
	"time"

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
// driver until the watchdog's next pass, minutes later. A driver that stops releases
// the Lease first, then reads the state once more (Session.drive), so:
//   - the Lease held: its holder will see the resume; it drives;
//   - no driver pod running (none yet, or pending): a driver starting, which reads the
//     state when it starts; it drives;
//   - a driver pod running and the Lease free: it is exiting, or starting; wait (at
//     most driverExitWait) until it ends (then it is replaced) or takes the Lease.
//
// awaitDriver reports whether the driver exited.
func awaitDriver(ctx context.Context, cs kubernetes.Interface, name string) (bool, error) {
	exited := false
	err := wait.PollUntilContextTimeout(ctx, driverPoll, driverExitWait, true, func(ctx context.Context) (bool, error) {
		held, err := leaseHeld(ctx, cs, time.Now())
		if err != nil || held {
			return true, err
		}
		var running bool
		running, exited, err = driverPods(ctx, cs, name)
		return err != nil || !running, err
	})
	if wait.Interrupted(err) {
		return false, nil // still neither: leave it to drive
	}
	return exited, err
}

var (
	driverPoll     = 200 * time.Millisecond
	driverExitWait = 30 * time.Second
)

// leaseHeld reports whether a holder renewed the driver Lease within its duration.
// Without permission to read the Lease (an old RBAC manifest) nothing can be told: it
// is then taken as held, as before the Lease existed.
func leaseHeld(ctx context.Context, cs kubernetes.Interface, now time.Time) (bool, error) {
	l, err := cs.CoordinationV1().Leases(job.Namespace).Get(ctx, job.LeaseName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return false, nil
	case apierrors.IsForbidden(err):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("read the Lease %s/%s: %w", job.Namespace, job.LeaseName, err)
	}
	var d DriverInfo
	leaseInfo(&d, l, now)
	return d.Held, nil
}

// driverPods reports whether a pod of the driver Job is running (or its phase is not
// known yet), and whether the driver exited: the Job finished or gone, or its pods
// all ended with one succeeded (the job controller marks the Job a moment later).
func driverPods(ctx context.Context, cs kubernetes.Interface, name string) (running, exited bool, err error) {
	j, err := cs.BatchV1().Jobs(job.Namespace).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return false, true, nil
	case err != nil:
		return false, false, fmt.Errorf("read the driver Job %s: %w", name, err)
	case jobFinished(j):
		return false, true, nil
	}
	pods, err := cs.CoreV1().Pods(job.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "job-name=" + name})
	if apierrors.IsForbidden(err) {
		return false, false, nil // cannot tell: taken as starting
	}
	if err != nil {
		return false, false, fmt.Errorf("list the driver Job's pods: %w", err)
	}
	succeeded := false
	for _, p := range pods.Items {
		switch p.Status.Phase {
		case corev1.PodRunning, corev1.PodUnknown:
			return true, false, nil
		case corev1.PodSucceeded:
			succeeded = true
		}
	}
	return false, succeeded, nil
}

// DriverAccountReady checks, before a run is handed to the cluster, that the driver's
// ServiceAccount exists: without it the job controller cannot create the driver's pod,
// and a detached run would wait for a driver that never comes. Without permission to
// read it (an old operator RBAC manifest) it cannot tell, and lets the run go.
func DriverAccountReady(ctx context.Context, cs kubernetes.Interface) error {
	_, err := cs.CoreV1().ServiceAccounts(job.Namespace).Get(ctx, job.ServiceAccountDriver, metav1.GetOptions{})
	switch {
	case err == nil, apierrors.IsForbidden(err):
		return nil
	case apierrors.IsNotFound(err):
		return fmt.Errorf("the in-cluster driver's ServiceAccount %s/%s does not exist: apply manifests/rbac-driver.yaml first (docs/install.md), or drive from here with --wait",
			job.Namespace, job.ServiceAccountDriver)
	}
	return fmt.Errorf("read the ServiceAccount %s/%s: %w", job.Namespace, job.ServiceAccountDriver, err)
}
