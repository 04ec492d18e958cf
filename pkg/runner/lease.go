package runner

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// One driver acts at a time (docs/design.md §4): the one holding the Lease
// kube-upgrade/edgeupgrade-driver. The others observe, and take over once the holder
// has not renewed for the lease duration — or at once when the holder is known to be
// dead (its pod gone or finished, or its process gone on this machine). The Lease
// saves duplicate work only: every write to the run stays conditional, so two drivers
// acting at once (a clock jump, a partition) are still correct.
//
// This is client-go's leader election (tools/leaderelection) reduced to what a
// driver needs, because that one reads the real clock (the handover is tested with a
// fake one here), rewrites the Lease without the annotations status shows, and has no
// way to take over from a holder known to be dead. Like it, a candidate never
// compares the holder's timestamps with its own clock: a lease is expired when it has
// not changed for its duration as measured by the observer.

// Lease timing: a holder renews every LeaseRetry; the others take over at most
// LeaseDuration after its last renewal.
const (
	LeaseDuration = 15 * time.Second
	LeaseRetry    = 2 * time.Second
)

// Annotations on the Lease: who holds it, for status.
const (
	AnnotationDriverKind    = "edgeupgrade.io/driver-kind" // DriverInCluster or DriverTerminal
	AnnotationDriverPod     = "edgeupgrade.io/driver-pod"
	AnnotationDriverNode    = "edgeupgrade.io/driver-node"
	AnnotationDriverHost    = "edgeupgrade.io/driver-host"
	AnnotationDriverPID     = "edgeupgrade.io/driver-pid"
	AnnotationDriverBoot    = "edgeupgrade.io/driver-boot-id"
	AnnotationLastReconcile = "edgeupgrade.io/last-reconcile"
)

// Kinds of driver.
const (
	DriverInCluster = "in-cluster"
	DriverTerminal  = "terminal"
)

// Holder describes one driver process.
type Holder struct {
	Kind      string // DriverInCluster or DriverTerminal
	Pod, Node string // in-cluster
	Host      string // terminal: host name, PID and boot id
	PID       int
	BootID    string
}

// Identity is the Lease's holderIdentity: unique per process.
func (h Holder) Identity() string {
	if h.Kind == DriverInCluster {
		return "pod/" + h.Pod
	}
	return fmt.Sprintf("terminal/%s/%d", h.Host, h.PID)
}

// ThisProcess describes the running process: the driver pod when the downward API
// says so (job.EnvPodName), a terminal otherwise.
func ThisProcess() Holder {
	if pod := os.Getenv(job.EnvPodName); pod != "" {
		return Holder{Kind: DriverInCluster, Pod: pod, Node: os.Getenv(job.EnvNodeName)}
	}
	host, _ := os.Hostname()
	if u := os.Getenv("USER"); u != "" {
		host = u + "@" + host
	}
	return Holder{Kind: DriverTerminal, Host: host, PID: os.Getpid(), BootID: bootID()}
}

func bootID() string {
	b, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	return strings.TrimSpace(string(b))
}

func (h Holder) annotations(lastReconcile time.Time) map[string]string {
	a := map[string]string{AnnotationDriverKind: h.Kind}
	set := func(k, v string) {
		if v != "" {
			a[k] = v
		}
	}
	set(AnnotationDriverPod, h.Pod)
	set(AnnotationDriverNode, h.Node)
	set(AnnotationDriverHost, h.Host)
	set(AnnotationDriverBoot, h.BootID)
	if h.PID > 0 {
		a[AnnotationDriverPID] = strconv.Itoa(h.PID)
	}
	if !lastReconcile.IsZero() {
		a[AnnotationLastReconcile] = lastReconcile.UTC().Format(time.RFC3339)
	}
	return a
}

// HolderOf reads the holder a Lease's annotations describe.
func HolderOf(l *coordinationv1.Lease) Holder {
	a := l.Annotations
	pid, _ := strconv.Atoi(a[AnnotationDriverPID])
	return Holder{Kind: a[AnnotationDriverKind], Pod: a[AnnotationDriverPod], Node: a[AnnotationDriverNode],
		Host: a[AnnotationDriverHost], PID: pid, BootID: a[AnnotationDriverBoot]}
}

// Elector takes, keeps and gives up the driver Lease for one process.
type Elector struct {
	Client kubernetes.Interface
	Holder Holder
	Clock  clock.Clock
	// LastReconcile, when set, is annotated on each renewal (status shows it).
	LastReconcile func() time.Time
	// OnChange, when set, is called when this process starts or stops leading.
	OnChange func(leading bool)
	// OnError, when set, sees every read or write of the Lease the API server did not
	// answer, and every refusal after this process held it (failed): renewed every
	// LeaseRetry, the Lease is the driver's pulse of the API server.
	OnError func(err error)
	// ProcRoot is where dead-process checks look ("/proc" when empty).
	ProcRoot string

	mu         sync.Mutex
	leading    bool
	forbidden  bool      // no permission for the Lease: act without it
	held       bool      // it held the Lease once: a refusal since is API trouble
	renewed    time.Time // our last successful write, while leading
	observedRV string    // the Lease as last seen ...
	observedAt time.Time // ... and when it was first seen so
	tried      bool
}

// Leading reports whether this process holds the Lease, or acts without it because
// it may not use Leases (an operator role from before the Lease existed).
func (e *Elector) Leading() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.leading || e.forbidden
}

// Forbidden reports that this process may not use the Lease and acts without it.
func (e *Elector) Forbidden() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.forbidden
}

// Run tries to take or renew the Lease every LeaseRetry until ctx ends, then
// releases it if held, so another driver takes over at once.
func (e *Elector) Run(ctx context.Context) {
	for {
		e.Try(ctx)
		select {
		case <-ctx.Done():
			e.release()
			return
		case <-e.Clock.After(LeaseRetry):
		}
	}
}

// renewDeadline: a holder that could not renew for this long stops acting, before
// anyone else may take over (LeaseDuration).
const renewDeadline = LeaseDuration * 2 / 3

// Try takes or renews the Lease once, and reports whether this process holds it.
func (e *Elector) Try(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, LeaseRetry)
	defer cancel()
	now := e.Clock.Now()
	leases := e.Client.CoordinationV1().Leases(job.Namespace)
	l, err := leases.Get(ctx, job.LeaseName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		created, cerr := leases.Create(ctx, e.record(&coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{
			Name: job.LeaseName, Namespace: job.Namespace,
			Labels: map[string]string{job.LabelManagedBy: job.ManagedBy, job.LabelComponent: job.ComponentDriver}}}, now), metav1.CreateOptions{})
		return e.wrote(created, cerr, now)
	}
	if err != nil {
		return e.failed(now, err)
	}
	if l.ResourceVersion != e.observedRV {
		e.observedRV, e.observedAt = l.ResourceVersion, now
	}
	// A holder is checked for death by a new candidate (a driver restarted after a
	// crash takes over at once), then only once its renewal is late.
	check := !e.tried || now.Sub(e.observedAt) > 2*LeaseRetry
	e.tried = true
	holder := ptr.Deref(l.Spec.HolderIdentity, "")
	duration := time.Duration(ptr.Deref(l.Spec.LeaseDurationSeconds, 0)) * time.Second
	switch {
	case holder == e.Holder.Identity(), holder == "":
	case !e.observedAt.Add(duration).After(now):
		// expired: not renewed for its duration, by our clock
	case check && e.dead(ctx, l):
		// a holder that is gone
	default:
		e.set(false, time.Time{})
		return false
	}
	updated, err := leases.Update(ctx, e.record(l.DeepCopy(), now), metav1.UpdateOptions{})
	return e.wrote(updated, err, now)
}

// record makes l held by this process at now.
func (e *Elector) record(l *coordinationv1.Lease, now time.Time) *coordinationv1.Lease {
	me := e.Holder.Identity()
	t := metav1.NewMicroTime(now)
	if ptr.Deref(l.Spec.HolderIdentity, "") != me {
		l.Spec.AcquireTime = &t
		l.Spec.LeaseTransitions = ptr.To(ptr.Deref(l.Spec.LeaseTransitions, 0) + 1)
	}
	l.Spec.HolderIdentity = &me
	l.Spec.LeaseDurationSeconds = ptr.To(int32(LeaseDuration / time.Second))
	l.Spec.RenewTime = &t
	var last time.Time
	if e.LastReconcile != nil {
		last = e.LastReconcile()
	}
	l.Annotations = e.Holder.annotations(last)
	return l
}

func (e *Elector) wrote(l *coordinationv1.Lease, err error, now time.Time) bool {
	if err != nil {
		return e.failed(now, err)
	}
	e.observedRV, e.observedAt = l.ResourceVersion, now
	e.mu.Lock()
	e.held, e.forbidden = true, false
	e.mu.Unlock()
	e.set(true, now)
	return true
}

// failed keeps a holder leading through short API trouble, up to renewDeadline. A
// process that may not use the Lease acts without it: the Lease saves work, it does
// not make the run correct. A refusal after this process held the Lease is API
// trouble, not a missing role: an API server that restarts (kubeadm upgrading the
// control plane) refuses requests until its authorizer has loaded.
func (e *Elector) failed(now time.Time, err error) bool {
	e.mu.Lock()
	refused := apierrors.IsForbidden(err) && !e.held
	e.mu.Unlock()
	if e.OnError != nil && !refused && (unanswered(err) || apierrors.IsForbidden(err)) {
		e.OnError(err)
	}
	e.mu.Lock()
	if refused && !e.forbidden {
		e.forbidden = true
		e.mu.Unlock()
		if e.OnChange != nil {
			e.OnChange(true)
		}
		return true
	}
	keep := e.leading && now.Sub(e.renewed) < renewDeadline
	e.mu.Unlock()
	if !keep {
		e.set(false, time.Time{})
	}
	return keep
}

func (e *Elector) set(leading bool, renewed time.Time) {
	e.mu.Lock()
	changed := e.leading != leading
	e.leading = leading
	if leading {
		e.renewed = renewed
	}
	e.mu.Unlock()
	if changed && e.OnChange != nil {
		e.OnChange(leading)
	}
}

// release gives the Lease up (holder cleared) if this process holds it.
func (e *Elector) release() {
	if !e.Leading() {
		return
	}
	e.set(false, time.Time{})
	ctx, cancel := context.WithTimeout(context.Background(), LeaseRetry)
	defer cancel()
	leases := e.Client.CoordinationV1().Leases(job.Namespace)
	l, err := leases.Get(ctx, job.LeaseName, metav1.GetOptions{})
	if err != nil || ptr.Deref(l.Spec.HolderIdentity, "") != e.Holder.Identity() {
		return
	}
	l.Spec.HolderIdentity = nil
	l.Spec.LeaseDurationSeconds = ptr.To[int32](1)
	_, _ = leases.Update(ctx, l, metav1.UpdateOptions{}) // best effort: it expires anyway
}

// dead reports a holder known to be gone: its pod is gone or finished, or it ran on
// this machine (same host and boot) and its process is gone. Unknown means alive:
// waiting for the lease to expire is always safe.
func (e *Elector) dead(ctx context.Context, l *coordinationv1.Lease) bool {
	h := HolderOf(l)
	switch h.Kind {
	case DriverInCluster:
		return podGone(ctx, e.Client, h.Pod)
	case DriverTerminal:
		me := e.Holder
		if h.PID <= 0 || h.Host != me.Host || h.BootID == "" || h.BootID != me.BootID {
			return false
		}
		return !processAlive(e.procRoot(), h.PID)
	}
	return false
}

func (e *Elector) procRoot() string {
	if e.ProcRoot == "" {
		return "/proc"
	}
	return e.ProcRoot
}

// processAlive: the PID exists and is not a zombie (a killed process its parent has
// not reaped yet is gone for our purpose).
func processAlive(procRoot string, pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("%s/%d/stat", procRoot, pid))
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses, which may contain spaces.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// drive runs Runner.Drive under an Elector: it acts while it holds the Lease and
// observes otherwise; the Lease is released when it returns.
func (s *Session) drive(ctx context.Context, show func(upgrade.State, upgrade.Observation)) (upgrade.State, error) {
	for {
		st, err := s.driveOnce(ctx, show)
		if err != nil || st.Pause == nil || st.Phase.Terminal() {
			return st, err
		}
		// Paused, and the Lease released: a resume in the meantime found this driver's
		// Job still active and counted on it (awaitDriver), so look once more.
		cur, _, err := s.store.Get(ctx)
		if err != nil || cur.RunID != st.RunID || cur.Pause != nil || cur.Phase.Terminal() {
			return st, nil
		}
	}
}

func (s *Session) driveOnce(ctx context.Context, show func(upgrade.State, upgrade.Observation)) (upgrade.State, error) {
	e := &Elector{Client: s.client, Holder: s.holder, Clock: clock.RealClock{}, LastReconcile: s.runner.LastReconcile}
	forbidden := false
	e.OnChange = func(bool) {
		if e.Forbidden() && !forbidden && s.runner.onEvent != nil {
			forbidden = true
			s.runner.onEvent(upgrade.Event{Type: upgrade.Warning, Reason: "NoLease",
				Message: "no permission for the Lease " + job.Namespace + "/" + job.LeaseName + ": driving without it (apply manifests/ again)"})
		}
		s.cache.poke() // decide at once whether to act
	}
	e.OnError = s.cache.apiFailed
	ectx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { e.Run(ectx); close(done) }()
	// The run's end is decided before Drive returns: it still writes the last batch's
	// Events (one per node), and the Lease is released and the driver objects tidied
	// meanwhile, not after them (the run's tail).
	var tidied chan error
	s.runner.acting = e.Leading
	st, err := s.runner.Drive(ctx, func(st upgrade.State, obs upgrade.Observation) {
		if show != nil {
			show(st, obs)
		}
		if st.Phase.Terminal() && tidied == nil {
			tidied = make(chan error, 1)
			go func() {
				cancel()
				<-done // released: another driver may act at once
				tidied <- TidyDriver(ctx, s.client, st.RunID)
			}()
		}
	})
	s.runner.acting = nil
	cancel()
	<-done
	if tidied != nil {
		s.runner.reportTidy(<-tidied) // here, not in the tidying goroutine: onEvent is not safe for concurrent use
	}
	return st, err
}
