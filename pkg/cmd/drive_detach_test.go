package cmd

import (
	"context"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/precheck/prechecktest"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

func driverJob(t *testing.T, c *prechecktest.Cluster) *batchv1.Job {
	t.Helper()
	j, err := c.Kube.BatchV1().Jobs(job.Namespace).Get(context.Background(), job.DriverName(testRunID), metav1.GetOptions{})
	if err != nil {
		return nil
	}
	return j
}

// withDriverAccount creates the driver's ServiceAccount, as manifests/rbac-driver.yaml does.
func withDriverAccount(t *testing.T, c *prechecktest.Cluster) {
	t.Helper()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: job.ServiceAccountDriver, Namespace: job.Namespace}}
	if _, err := c.Kube.CoreV1().ServiceAccounts(job.Namespace).Create(context.Background(), sa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// Without the driver's ServiceAccount no driver pod can start: --detach refuses before
// changing anything, and names the manifest to apply.
func TestDetachRefusedWithoutTheDriverAccount(t *testing.T) {
	c := healthy()
	seedRun(t, c, paused("x"))
	for _, args := range [][]string{{"--detach"}} {
		_, _, err := execute(t, c, newCmdResume, args...)
		if err == nil || !strings.Contains(err.Error(), "apply manifests/rbac-driver.yaml") {
			t.Fatalf("resume %v: %v", args, err)
		}
	}
	if _, _, err := execute(t, c, newCmdDrive, "--detach"); err == nil || !strings.Contains(err.Error(), "kube-upgrade/edgeupgrade-driver does not exist") {
		t.Fatalf("drive --detach: %v", err)
	}
	fresh := healthy()
	if _, _, err := execute(t, fresh, startAt, "--to", "v1.36.1", "--detach"); err == nil || !strings.Contains(err.Error(), "apply manifests/rbac-driver.yaml") {
		t.Fatalf("start --detach: %v", err)
	}
	assertNothingWritten(t, fresh)
	if driverJob(t, c) != nil || hasWatchdog(c) {
		t.Fatal("a driver or watchdog was created")
	}
	if out, _, err := execute(t, c, newCmdStatus, "--read-only", "-o", "json"); err != nil || !strings.Contains(out, `"phase": "Paused"`) {
		t.Fatalf("the refused resume changed the run: %v\n%s", err, out)
	}
}

func hasWatchdog(c *prechecktest.Cluster) bool {
	_, err := c.Kube.BatchV1().CronJobs(job.Namespace).Get(context.Background(), job.WatchdogName(testRunID), metav1.GetOptions{})
	return err == nil
}

func TestDriveDetachCreatesTheDriverOnce(t *testing.T) {
	c := healthy()
	withDriverAccount(t, c)
	seedRun(t, c, nil)
	// The fake API server sets no UIDs; the owner reference needs one.
	cms := c.Kube.CoreV1().ConfigMaps(job.Namespace)
	cm, err := cms.Get(context.Background(), "edgeupgrade", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.UID = "0b5e7a52-5c2a-4b53-9d3e-0c1f5f6d1e2a"
	if _, err := cms.Update(context.Background(), cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	out, _, err := execute(t, c, newCmdDrive, "--detach", "--image-registry", "mirror.local/eu")
	if err != nil {
		t.Fatal(err)
	}
	j := driverJob(t, c)
	if j == nil || !hasWatchdog(c) || !strings.Contains(out, "created") || !strings.Contains(out, "status --watch --read-only") {
		t.Fatalf("drive --detach: job %v watchdog %v\n%s", j != nil, hasWatchdog(c), out)
	}
	if img := j.Spec.Template.Spec.Containers[0].Image; !strings.HasPrefix(img, "mirror.local/eu/edgeupgrade:") {
		t.Errorf("driver image %s does not follow --image-registry", img)
	}
	if len(j.OwnerReferences) != 1 || j.OwnerReferences[0].UID != cm.UID {
		t.Errorf("driver Job not owned by the state ConfigMap: %v", j.OwnerReferences)
	}
	out, _, err = execute(t, c, newCmdDrive, "--detach")
	if err != nil || !strings.Contains(out, "already running") {
		t.Fatalf("second drive --detach: %v\n%s", err, out)
	}
	// Nobody holds the Lease yet: the driver pod is starting.
	out, _, err = execute(t, c, newCmdStatus, "--read-only", "-o", "json")
	if err != nil || !strings.Contains(out, `"restart": "kubectl edgeupgrade status --watch"`) || !strings.Contains(out, `"driverJob": "Active"`) ||
		!strings.Contains(out, `"detached": true`) {
		t.Fatalf("status of a detached run whose driver has not started: %v\n%s", err, out)
	}
}

func TestDetachAndWaitExclude(t *testing.T) {
	c := healthy()
	withDriverAccount(t, c)
	seedRun(t, c, paused("x"))
	if _, _, err := execute(t, c, newCmdResume, "--detach", "--wait"); err == nil || !strings.Contains(err.Error(), "choose one") {
		t.Fatalf("resume --detach --wait: %v", err)
	}
	if _, _, err := execute(t, c, newCmdDrive, "--detach", "--once"); err == nil {
		t.Fatal("drive --detach --once accepted")
	}
	if _, _, err := execute(t, c, newCmdDrive, "--detach"); err == nil || !strings.Contains(err.Error(), "resume --detach") {
		t.Fatalf("drive --detach on a paused run: %v", err)
	}
	out, _, err := execute(t, c, newCmdResume, "--detach", "--driver-image", "lab/eu:1")
	if err != nil || driverJob(t, c) == nil || driverJob(t, c).Spec.Template.Spec.Containers[0].Image != "lab/eu:1" {
		t.Fatalf("resume --detach: %v\n%s", err, out)
	}
}

// The watchdog's pass replaces a driver that is gone or finished while the run is
// active, leaves a running one alone, and removes itself once the run has ended.
func TestDriveOnce(t *testing.T) {
	ctx := context.Background()
	c := healthy()
	withDriverAccount(t, c)
	seedRun(t, c, nil)
	if _, _, err := execute(t, c, newCmdDrive, "--detach"); err != nil {
		t.Fatal(err)
	}
	uid := driverJob(t, c).UID
	out, _, err := execute(t, c, newCmdDrive, "--once", "--run", testRunID)
	if err != nil || driverJob(t, c).UID != uid || !strings.Contains(out, "its driver is running") {
		t.Fatalf("once with a running driver: %v\n%s", err, out)
	}
	j := driverJob(t, c)
	j.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue}}
	if _, err := c.Kube.BatchV1().Jobs(job.Namespace).UpdateStatus(ctx, j, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	out, _, err = execute(t, c, newCmdDrive, "--once", "--run", testRunID)
	if err != nil || driverJob(t, c) == nil || len(driverJob(t, c).Status.Conditions) != 0 || !strings.Contains(out, "created") {
		t.Fatalf("once with a failed driver: %v\n%s", err, out)
	}
	if err := c.Kube.BatchV1().Jobs(job.Namespace).Delete(ctx, job.DriverName(testRunID), metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if out, _, err = execute(t, c, newCmdDrive, "--once", "--run", testRunID); err != nil || driverJob(t, c) == nil {
		t.Fatalf("once with the driver deleted: %v\n%s", err, out)
	}
	// Another run replaced this one: the watchdog goes, nothing else changes.
	if out, _, err = execute(t, c, newCmdDrive, "--once", "--run", "2611231100-gone"); err != nil || !strings.Contains(out, "nothing to drive") {
		t.Fatalf("once for a replaced run: %v\n%s", err, out)
	}
	if !hasWatchdog(c) {
		t.Fatal("the watchdog of the current run was removed by another run's pass")
	}
}

func TestDriveOnceEnforcesPauseExpiry(t *testing.T) {
	c := healthy()
	seedRun(t, c, func(st *upgrade.State) {
		st.Spec.PauseExpiry = upgrade.Duration{Duration: time.Minute}
		st.Pause = &upgrade.Pause{Reason: "x", Since: time.Now().Add(-2 * time.Minute).UTC()}
	})
	if _, _, err := execute(t, c, newCmdResume, "--detach"); err == nil {
		t.Fatal("an expired run was resumed") // the reconcile first cancels it
	}
	if _, err := c.Kube.BatchV1().CronJobs(job.Namespace).Create(context.Background(),
		job.BuildWatchdog(job.DriverParams{RunID: testRunID, Image: "i"}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	out, _, err := execute(t, c, newCmdDrive, "--once", "--run", testRunID)
	if err != nil || hasWatchdog(c) || !strings.Contains(out, "cancelled: watchdog removed") {
		t.Fatalf("once on an expired run: %v, watchdog %v\n%s", err, hasWatchdog(c), out)
	}
	if st := storedState(t, c); st.Phase != upgrade.PhaseCancelled {
		t.Fatalf("phase %s", st.Phase)
	}
}

func TestDriveEndsWithALastLine(t *testing.T) {
	c := healthy()
	seedRun(t, c, paused("maintenance"))
	out, _, err := execute(t, c, newCmdDrive, "--run", testRunID)
	if err != nil || !strings.Contains(out, "paused: maintenance (resume with kubectl edgeupgrade resume --detach); driver exits") {
		t.Fatalf("drive of a paused run: %v\n%s", err, out)
	}
}
