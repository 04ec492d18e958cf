package runner

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
)

// leaseCluster is a fake API server for the Lease with real optimistic concurrency
// (the fake clientset alone neither sets nor checks resourceVersions) and a switch
// that makes every Lease request fail.
type leaseCluster struct {
	*fake.Clientset
	mu   sync.Mutex
	rv   int
	down bool
}

func newLeaseCluster(objs ...runtime.Object) *leaseCluster {
	c := &leaseCluster{Clientset: fake.NewClientset(objs...)}
	c.PrependReactor("*", "leases", func(a k8stesting.Action) (bool, runtime.Object, error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.down {
			return true, nil, errors.New("connection refused")
		}
		var l *coordinationv1.Lease
		switch a.GetVerb() {
		case "create":
			l = a.(k8stesting.CreateAction).GetObject().(*coordinationv1.Lease)
		case "update":
			l = a.(k8stesting.UpdateAction).GetObject().(*coordinationv1.Lease)
			cur, err := c.Tracker().Get(a.GetResource(), a.GetNamespace(), l.Name)
			if err != nil {
				return true, nil, err
			}
			if cur.(*coordinationv1.Lease).ResourceVersion != l.ResourceVersion {
				return true, nil, apierrors.NewConflict(a.GetResource().GroupResource(), l.Name, errors.New("changed"))
			}
		default:
			return false, nil, nil
		}
		c.rv++
		l.ResourceVersion = strconv.Itoa(c.rv)
		return false, nil, nil // the tracker stores it as given
	})
	return c
}

func (c *leaseCluster) setDown(down bool) {
	c.mu.Lock()
	c.down = down
	c.mu.Unlock()
}

func (c *leaseCluster) holder(t *testing.T) string {
	t.Helper()
	l, err := c.CoordinationV1().Leases(job.Namespace).Get(context.Background(), job.LeaseName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ptr.Deref(l.Spec.HolderIdentity, "")
}

func driverPodObj(name string, phase corev1.PodPhase) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: job.Namespace}, Status: corev1.PodStatus{Phase: phase}}
}

func TestLeaseHandoverAfterTheLeaseDuration(t *testing.T) {
	ctx := context.Background()
	c := newLeaseCluster(driverPodObj("driver-a", corev1.PodRunning))
	clk := clocktesting.NewFakeClock(time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC))
	last := clk.Now().Add(-time.Second)
	a := &Elector{Client: c, Clock: clk, Holder: Holder{Kind: DriverInCluster, Pod: "driver-a", Node: "cloud-01"},
		LastReconcile: func() time.Time { return last }}
	b := &Elector{Client: c, Clock: clk, Holder: Holder{Kind: DriverTerminal, Host: "ops@laptop", PID: 4242, BootID: "boot-1"}}

	if !a.Try(ctx) || b.Try(ctx) {
		t.Fatal("the first driver should take the free lease and the second observe")
	}
	l, _ := c.CoordinationV1().Leases(job.Namespace).Get(ctx, job.LeaseName, metav1.GetOptions{})
	if h := HolderOf(l); h.Pod != "driver-a" || h.Node != "cloud-01" || l.Annotations[AnnotationLastReconcile] != "2026-12-02T09:59:59Z" {
		t.Fatalf("lease annotations %v", l.Annotations)
	}
	// The holder renews every retry period: the observer never takes over.
	for range 20 {
		clk.Step(LeaseRetry)
		if !a.Try(ctx) || b.Try(ctx) {
			t.Fatal("a renewing holder lost the lease")
		}
	}
	// The holder stops renewing (its process hangs; its pod still runs): the observer
	// waits for the whole lease duration, measured from when it saw the last renewal.
	for waited := LeaseRetry; waited < LeaseDuration; waited += LeaseRetry {
		clk.Step(LeaseRetry)
		if b.Try(ctx) {
			t.Fatalf("taken over %s after the last renewal, before the lease duration %s", waited, LeaseDuration)
		}
	}
	clk.Step(LeaseRetry)
	if !b.Try(ctx) || !b.Leading() || c.holder(t) != b.Holder.Identity() {
		t.Fatal("not taken over after the lease duration")
	}
	// The old holder wakes up: it sees the new holder and stops acting.
	if a.Try(ctx) || a.Leading() {
		t.Fatal("the old holder still acts after the take-over")
	}
}

func TestLeaseHolderKeepsActingThroughShortAPITrouble(t *testing.T) {
	ctx := context.Background()
	c := newLeaseCluster()
	clk := clocktesting.NewFakeClock(time.Now())
	var changes []bool
	a := &Elector{Client: c, Clock: clk, Holder: Holder{Kind: DriverInCluster, Pod: "a"}, OnChange: func(l bool) { changes = append(changes, l) }}
	if !a.Try(ctx) {
		t.Fatal("not taken")
	}
	c.setDown(true)
	for clk.Step(LeaseRetry); clk.Since(a.renewed) < renewDeadline; clk.Step(LeaseRetry) {
		if !a.Try(ctx) {
			t.Fatalf("stopped acting %s after its last renewal, before the renew deadline", clk.Since(a.renewed))
		}
	}
	if a.Try(ctx) {
		t.Fatal("still acting after the renew deadline: another driver may take over soon")
	}
	if renewDeadline >= LeaseDuration {
		t.Fatal("the renew deadline must end before anyone else may take over")
	}
	c.setDown(false)
	if !a.Try(ctx) {
		t.Fatal("not taken again once the API answers")
	}
	if len(changes) != 3 || !changes[0] || changes[1] || !changes[2] {
		t.Fatalf("OnChange calls %v, want [true false true]", changes)
	}
}

func TestLeaseTakenAtOnceFromADeadHolder(t *testing.T) {
	ctx := context.Background()
	writeStat := func(proc string, pid int, state string) {
		dir := filepath.Join(proc, strconv.Itoa(pid))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		// The command name may hold spaces and parentheses.
		if err := os.WriteFile(filepath.Join(dir, "stat"), []byte(strconv.Itoa(pid)+" (kubectl (edge) x) "+state+" 1 2 3"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	laptop := func(pid int, boot string) Holder {
		return Holder{Kind: DriverTerminal, Host: "ops@laptop", PID: pid, BootID: boot}
	}
	for _, tc := range []struct {
		name      string
		holder    Holder
		kill      func(c *leaseCluster, proc string)
		takesOver bool
	}{
		{"pod deleted", Holder{Kind: DriverInCluster, Pod: "driver-a"},
			func(c *leaseCluster, _ string) {
				_ = c.CoreV1().Pods(job.Namespace).Delete(ctx, "driver-a", metav1.DeleteOptions{})
			}, true},
		{"pod failed", Holder{Kind: DriverInCluster, Pod: "driver-a"},
			func(c *leaseCluster, _ string) {
				_, _ = c.CoreV1().Pods(job.Namespace).UpdateStatus(ctx, driverPodObj("driver-a", corev1.PodFailed), metav1.UpdateOptions{})
			}, true},
		{"pod running", Holder{Kind: DriverInCluster, Pod: "driver-a"}, nil, false},
		{"process gone on this machine", laptop(4242, "boot-1"),
			func(_ *leaseCluster, proc string) { _ = os.RemoveAll(filepath.Join(proc, "4242")) }, true},
		{"process zombie on this machine", laptop(4242, "boot-1"),
			func(_ *leaseCluster, proc string) { writeStat(proc, 4242, "Z") }, true},
		{"process alive on this machine", laptop(4242, "boot-1"), nil, false},
		{"process gone on another machine", Holder{Kind: DriverTerminal, Host: "ops@desktop", PID: 4242, BootID: "boot-1"},
			func(_ *leaseCluster, proc string) { _ = os.RemoveAll(filepath.Join(proc, "4242")) }, false},
		{"process gone before a reboot", laptop(4242, "boot-0"),
			func(_ *leaseCluster, proc string) { _ = os.RemoveAll(filepath.Join(proc, "4242")) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proc := t.TempDir()
			writeStat(proc, 4242, "S")
			me := Holder{Kind: DriverTerminal, Host: "ops@laptop", PID: 99, BootID: "boot-1"}
			setup := func() (*leaseCluster, *clocktesting.FakeClock) {
				c := newLeaseCluster(driverPodObj("driver-a", corev1.PodRunning))
				clk := clocktesting.NewFakeClock(time.Now())
				if !(&Elector{Client: c, Clock: clk, Holder: tc.holder}).Try(ctx) {
					t.Fatal("setup: the old holder should hold the lease")
				}
				return c, clk
			}
			// An observer that saw the holder alive checks again once two renewals are late.
			c, clk := setup()
			observer := &Elector{Client: c, Clock: clk, ProcRoot: proc, Holder: me}
			if observer.Try(ctx) {
				t.Fatal("taken from a live holder")
			}
			if tc.kill != nil {
				tc.kill(c, proc)
			}
			clk.Step(2 * LeaseRetry)
			if observer.Try(ctx) {
				t.Fatal("taken over before the holder missed two renewals")
			}
			clk.Step(LeaseRetry)
			if got := observer.Try(ctx); got != tc.takesOver {
				t.Fatalf("taken over 3 retry periods after the last renewal: %v, want %v", got, tc.takesOver)
			}
			// A driver started after the holder died (a restart after a crash) checks at once.
			if tc.kill != nil {
				writeStat(proc, 4242, "S")
			}
			c, clk = setup()
			if tc.kill != nil {
				tc.kill(c, proc)
			}
			if got := (&Elector{Client: c, Clock: clk, ProcRoot: proc, Holder: me}).Try(ctx); got != tc.takesOver {
				t.Fatalf("a new driver's first try took over: %v, want %v", got, tc.takesOver)
			}
		})
	}
}

func TestLeaseForbiddenActsWithoutIt(t *testing.T) {
	c := newLeaseCluster()
	c.PrependReactor("*", "leases", func(a k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(a.GetResource().GroupResource(), job.LeaseName, errors.New("RBAC"))
	})
	e := &Elector{Client: c, Clock: clocktesting.NewFakeClock(time.Now()), Holder: Holder{Kind: DriverInCluster, Pod: "a"}}
	if !e.Try(context.Background()) || !e.Leading() || !e.Forbidden() {
		t.Fatal("a driver that may not use the Lease must act without it")
	}
}

// A driver that held the Lease and is then refused (an API server restarting under
// kubeadm, its authorizer not loaded yet) takes it for API trouble, not a missing
// role: it keeps leading up to the renew deadline, says so (OnError), stops leading
// after it, and leads again once the API server grants the Lease.
func TestLeaseRefusedAfterHoldingIsAPITrouble(t *testing.T) {
	c := newLeaseCluster()
	refuse := false
	c.PrependReactor("*", "leases", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if refuse {
			return true, nil, apierrors.NewForbidden(a.GetResource().GroupResource(), job.LeaseName, errors.New("RBAC: not loaded"))
		}
		return false, nil, nil
	})
	clk := clocktesting.NewFakeClock(time.Now())
	var seen []error
	e := &Elector{Client: c, Clock: clk, Holder: Holder{Kind: DriverInCluster, Pod: "a"}, OnError: func(err error) { seen = append(seen, err) }}
	ctx := context.Background()
	if !e.Try(ctx) {
		t.Fatal("the free Lease was not taken")
	}
	refuse = true
	clk.Step(LeaseRetry)
	if !e.Try(ctx) || !e.Leading() || e.Forbidden() || len(seen) != 1 || !apierrors.IsForbidden(seen[0]) {
		t.Fatalf("refused after holding: leading %t, forbidden %t, errors seen %v; want leading, not forbidden, the refusal seen", e.Leading(), e.Forbidden(), seen)
	}
	clk.Step(renewDeadline)
	if e.Try(ctx) || e.Leading() || e.Forbidden() {
		t.Fatalf("refused past the renew deadline: leading %t, forbidden %t; want neither", e.Leading(), e.Forbidden())
	}
	refuse = false
	clk.Step(LeaseRetry)
	if !e.Try(ctx) || !e.Leading() {
		t.Fatal("the Lease was not taken again once granted")
	}
}

func TestLeaseReleasedOnExitIsTakenAtOnce(t *testing.T) {
	c := newLeaseCluster(driverPodObj("a", corev1.PodRunning))
	clk := clocktesting.NewFakeClock(time.Now())
	a := &Elector{Client: c, Clock: clk, Holder: Holder{Kind: DriverInCluster, Pod: "a"}}
	b := &Elector{Client: c, Clock: clk, Holder: Holder{Kind: DriverInCluster, Pod: "b"}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	for !a.Leading() {
		time.Sleep(time.Millisecond)
	}
	if b.Try(context.Background()) {
		t.Fatal("taken while held")
	}
	cancel()
	<-done
	if a.Leading() || c.holder(t) != "" {
		t.Fatalf("not released on exit: holder %q", c.holder(t))
	}
	if !b.Try(context.Background()) {
		t.Fatal("a released lease was not taken at once")
	}
}
