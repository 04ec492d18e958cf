package runner

import (
	"context"
	"crypto/rand"
	"fmt"
	"math/big"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/nodes"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/store"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// Session is what one command holds on one run: the store, a cache (lean for a
// one-shot command, full for one that drives) and the runner over them. A command
// opens one (Open, or Begin for a new run) and closes it when done.
type Session struct {
	client kubernetes.Interface
	store  store.Store
	state  upgrade.State
	cache  *Cache
	runner *Runner
	holder Holder // this process, for the driver Lease
}

// SessionOptions say how a session watches its run.
type SessionOptions struct {
	// Cache: lean for a one-shot command, full (the zero value) for one that drives.
	Cache CacheOptions
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// OnEvent, when set, sees every Event the run records (progress output).
	OnEvent func(upgrade.Event)
}

// Open loads the current run and starts watching it (store.ErrNoRun when there is none).
func Open(ctx context.Context, client kubernetes.Interface, opts SessionOptions) (*Session, error) {
	s := &Session{client: client, store: store.Store{Client: client}}
	st, _, err := s.store.Get(ctx)
	if err != nil {
		return nil, err
	}
	return s.watch(ctx, st, opts)
}

func (s *Session) watch(ctx context.Context, st upgrade.State, opts SessionOptions) (*Session, error) {
	c, err := NewCache(ctx, s.client, st, opts.Cache)
	if err != nil {
		return nil, err
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	s.state, s.cache = st, c
	s.runner = &Runner{client: s.client, store: s.store, cache: c, now: now, runID: st.RunID, onEvent: opts.OnEvent}
	s.holder = ThisProcess()
	return s, nil
}

// Begin records the new run first (write-ahead) and opens a session on it: it
// creates the kube-upgrade namespace when missing, deletes the Jobs of the finished
// run prev replaces (nil: none) and creates the state ConfigMap conditionally (an
// AlreadyExists or Conflict error means another start won). It returns the
// ConfigMap, which the run's first Events refer to.
func Begin(ctx context.Context, client kubernetes.Interface, prev *corev1.ConfigMap, prevRunID string, first upgrade.State, opts SessionOptions) (*Session, *corev1.ConfigMap, error) {
	if err := EnsureNamespace(ctx, client); err != nil {
		return nil, nil, err
	}
	if prev != nil {
		if err := DeleteRunJobs(ctx, client, prevRunID); err != nil {
			return nil, nil, err
		}
	}
	s := &Session{client: client, store: store.Store{Client: client}}
	cm, err := s.store.Create(ctx, prev, first)
	if err != nil {
		return nil, nil, err
	}
	if _, err := s.watch(ctx, first, opts); err != nil {
		return nil, cm, err
	}
	return s, cm, nil
}

// State is the run as loaded when the session opened.
func (s *Session) State() upgrade.State { return s.state }

// Client is the session's clientset.
func (s *Session) Client() kubernetes.Interface { return s.client }

// Observe returns the cached observation of the run, without writing anything. It
// leaves out the health gate's DaemonSet pods, which only a decision needs (and a
// read-only viewer may not list: manifests/rbac-viewer.yaml).
func (s *Session) Observe() (upgrade.Observation, error) { return s.cache.observe(s.state, false) }

// Reconcile brings the run one step forward (Runner.Reconcile).
func (s *Session) Reconcile(ctx context.Context) (upgrade.State, upgrade.Observation, error) {
	return s.runner.Reconcile(ctx)
}

// Apply steps the run with in and saves (Runner.Mutate).
func (s *Session) Apply(ctx context.Context, in upgrade.Input) (upgrade.State, upgrade.Observation, error) {
	return s.runner.Mutate(ctx, in)
}

// Drive reconciles until the run ends or pauses (Runner.Drive), while this process
// holds the driver Lease; meanwhile it only observes another driver's progress
// (lease.go). When the run has ended, the driver objects it no longer needs go.
func (s *Session) Drive(ctx context.Context, show func(upgrade.State, upgrade.Observation)) (upgrade.State, error) {
	return s.drive(ctx, show)
}

// Emit records an Event of the run about cm (Runner.Emit).
func (s *Session) Emit(ctx context.Context, cm *corev1.ConfigMap, e upgrade.Event) {
	s.runner.Emit(ctx, s.state, cm, e)
}

// Close stops watching.
func (s *Session) Close() {
	if s != nil && s.cache != nil {
		s.cache.Stop()
	}
}

// ObserveCluster reads the API server version and the in-scope nodes.
func ObserveCluster(ctx context.Context, cs kubernetes.Interface, sp upgrade.Spec) (upgrade.Cluster, error) {
	v, err := cs.Discovery().ServerVersion()
	if err != nil {
		return upgrade.Cluster{}, fmt.Errorf("read the API server version: %w", err)
	}
	list, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: sp.Selector})
	if err != nil {
		return upgrade.Cluster{}, fmt.Errorf("list nodes: %w", err)
	}
	// The server applied the selector.
	return nodes.Cluster(v.GitVersion, list.Items, nil, sp.PoolLabel), nil
}

// EnsureNamespace creates kube-upgrade (Pod Security "privileged") when missing.
func EnsureNamespace(ctx context.Context, cs kubernetes.Interface) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: job.Namespace, Labels: map[string]string{
		"pod-security.kubernetes.io/enforce": "privileged", job.LabelManagedBy: job.ManagedBy}}}
	_, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
	switch {
	case err == nil, apierrors.IsAlreadyExists(err):
		return nil
	case apierrors.IsForbidden(err):
		if _, gerr := cs.CoreV1().Namespaces().Get(ctx, job.Namespace, metav1.GetOptions{}); gerr == nil {
			return nil
		}
		return fmt.Errorf("namespace %s does not exist and you may not create it; ask an administrator to apply manifests/namespace.yaml", job.Namespace)
	}
	return fmt.Errorf("create namespace %s: %w", job.Namespace, err)
}

// DeleteRunJobs removes a finished run's Jobs and pods before a new run starts.
func DeleteRunJobs(ctx context.Context, cs kubernetes.Interface, runID string) error {
	bg := metav1.DeletePropagationBackground
	err := cs.BatchV1().Jobs(job.Namespace).DeleteCollection(ctx, metav1.DeleteOptions{PropagationPolicy: &bg},
		metav1.ListOptions{LabelSelector: job.RunSelector(runID)})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete the Jobs of the previous run %s: %w", runID, err)
	}
	return nil
}

// NewRunID is sortable by start time and unique enough to never repeat.
func NewRunID(now time.Time) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 4)
	for i := range b {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		b[i] = alphabet[n.Int64()]
	}
	return now.UTC().Format("0601021504") + "-" + string(b)
}
