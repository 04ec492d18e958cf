package precheck

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/hostcheck"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/internal/words"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/nodes"
)

// Defaults of the deep checks.
const (
	defaultDeepParallelism = 20
	defaultDeepTimeout     = 120 // seconds, each Job's activeDeadlineSeconds
	// deepSlack is added to the overall wait for Job start-up and deletion.
	deepSlack = 60 * time.Second
)

// runDeep runs one short privileged Job per node in scope (at most DeepParallelism at
// once) that executes `edgeupgrade-node check` on the host; the agent writes a
// hostcheck.Result as its termination message, which travels to the API server in the
// pod status, so no connection from the API server to the node is needed. Jobs are
// deleted as soon as their result is read. Results go to v.Host, per-node failures to
// v.HostErrors, and a failure to run at all to v.Unavailable[SourceHost].
func runDeep(ctx context.Context, c Clients, v *View) {
	v.Host, v.HostErrors = map[string]hostcheck.Result{}, map[string]string{}
	var todo []*corev1.Node
	for i := range v.Nodes {
		n := &v.Nodes[i]
		if !v.Upgrades(n) {
			continue
		}
		if !nodes.Ready(n) {
			v.HostErrors[n.Name] = "not checked: the node is not Ready"
			continue
		}
		todo = append(todo, n)
	}
	if len(todo) == 0 {
		return
	}
	d := newDeepRun(c.Kube, v)
	if err := d.run(ctx, todo); err != nil {
		v.Unavailable[SourceHost] = err
	}
}

type deepRun struct {
	kube        kubernetes.Interface
	v           *View
	runID       string
	parallelism int
	timeout     int64
	active      map[string]string // node -> Job name
	created     []string          // every Job created, for cleanup
	deleted     map[string]bool
}

func newDeepRun(kube kubernetes.Interface, v *View) *deepRun {
	d := &deepRun{kube: kube, v: v, runID: "check-" + randomHex(4), parallelism: v.Options.DeepParallelism,
		timeout: v.Options.DeepTimeoutSeconds, active: map[string]string{}, deleted: map[string]bool{}}
	if d.parallelism <= 0 {
		d.parallelism = defaultDeepParallelism
	}
	if d.timeout <= 0 {
		d.timeout = defaultDeepTimeout
	}
	return d
}

func (d *deepRun) run(ctx context.Context, nodes []*corev1.Node) error {
	waves := (len(nodes) + d.parallelism - 1) / d.parallelism
	ctx, cancel := context.WithTimeout(ctx, time.Duration(waves)*(time.Duration(d.timeout)*time.Second+deepSlack))
	defer cancel()
	defer d.cleanup()

	stop := make(chan struct{})
	defer close(stop)
	events := make(chan any, 64)
	send := func(obj any) {
		select {
		case events <- obj:
		case <-stop:
		}
	}
	f := informers.NewSharedInformerFactoryWithOptions(d.kube, 0, informers.WithNamespace(job.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = job.LabelRun + "=" + d.runID }))
	handler := cache.ResourceEventHandlerFuncs{AddFunc: send, UpdateFunc: func(_, obj any) { send(obj) }}
	podInformer := f.Core().V1().Pods().Informer()
	if _, err := podInformer.AddEventHandler(handler); err != nil {
		return err
	}
	if _, err := f.Batch().V1().Jobs().Informer().AddEventHandler(handler); err != nil {
		return err
	}
	f.Start(stop)
	for typ, ok := range f.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("watch %v in %s: %w", typ, job.Namespace, ctx.Err())
		}
	}

	pending := nodes
	for len(pending) > 0 || len(d.active) > 0 {
		for len(d.active) < d.parallelism && len(pending) > 0 {
			n := pending[0]
			pending = pending[1:]
			if err := d.create(ctx, n); err != nil {
				if apierrors.IsNotFound(err) || apierrors.IsForbidden(err) {
					return fmt.Errorf("create deep-check Job: %w (apply the kube-upgrade namespace and RBAC from manifests/)", err)
				}
				d.v.HostErrors[n.Name] = "cannot create the deep-check Job: " + err.Error()
			}
		}
		if len(d.active) == 0 {
			continue
		}
		select {
		case obj := <-events:
			switch o := obj.(type) {
			case *corev1.Pod:
				d.onPod(ctx, o)
			case *batchv1.Job:
				d.onJob(ctx, o, podInformer.GetStore())
			}
		case <-ctx.Done():
			for n := range d.active {
				d.v.HostErrors[n] = "no result before the deadline: " + ctx.Err().Error()
			}
			for _, n := range pending {
				d.v.HostErrors[n.Name] = "not checked: " + ctx.Err().Error()
			}
			return nil
		}
	}
	return nil
}

func (d *deepRun) create(ctx context.Context, n *corev1.Node) error {
	j := d.job(n)
	if _, err := d.kube.BatchV1().Jobs(job.Namespace).Create(ctx, j, metav1.CreateOptions{}); err != nil {
		return err
	}
	d.active[n.Name] = j.Name
	d.created = append(d.created, j.Name)
	return nil
}

// onPod records the result once the check container has terminated.
func (d *deepRun) onPod(ctx context.Context, p *corev1.Pod) {
	node := p.Annotations[job.AnnotationNode]
	if _, ok := d.active[node]; !ok || p.Labels[job.LabelRun] != d.runID {
		return
	}
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Name != job.ContainerCheck || cs.State.Terminated == nil {
			continue
		}
		t := cs.State.Terminated
		var res hostcheck.Result
		if err := json.Unmarshal([]byte(t.Message), &res); err != nil {
			d.v.HostErrors[node] = fmt.Sprintf("the check exited %d without a result: %s", t.ExitCode, words.FirstLine(t.Message, maxLine))
		} else {
			if res.Node == "" {
				res.Node = node
			}
			d.v.Host[node] = res
		}
		d.finish(ctx, node)
		return
	}
	if p.Status.Phase == corev1.PodFailed {
		d.v.HostErrors[node] = "the check pod failed: " + p.Status.Reason + " " + p.Status.Message
		d.finish(ctx, node)
	}
}

// onJob handles Jobs that ended without a pod result (deadline, pod never started).
func (d *deepRun) onJob(ctx context.Context, j *batchv1.Job, pods cache.Store) {
	node := j.Annotations[job.AnnotationNode]
	if d.active[node] != j.Name || !jobFinished(j) {
		return
	}
	for _, obj := range pods.List() {
		if p, ok := obj.(*corev1.Pod); ok && p.Annotations[job.AnnotationNode] == node {
			d.onPod(ctx, p)
		}
	}
	if _, still := d.active[node]; !still {
		return
	}
	msg := "the check Job ended without a result"
	for _, c := range j.Status.Conditions {
		if c.Type == batchv1.JobFailed && c.Status == corev1.ConditionTrue {
			msg = fmt.Sprintf("the check Job failed (%s): %s", c.Reason, c.Message)
		}
	}
	d.v.HostErrors[node] = msg
	d.finish(ctx, node)
}

// finish deletes the node's Job (and its pod) once its result is recorded.
func (d *deepRun) finish(ctx context.Context, node string) {
	name := d.active[node]
	delete(d.active, node)
	err := d.kube.BatchV1().Jobs(job.Namespace).Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)})
	if err == nil || apierrors.IsNotFound(err) {
		d.deleted[name] = true
	}
}

// cleanup deletes every Job this run created, with its pods, even after a cancel.
func (d *deepRun) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var errs []error
	for _, name := range d.created {
		if d.deleted[name] {
			continue
		}
		err := d.kube.BatchV1().Jobs(job.Namespace).Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		d.v.HostErrors["(cleanup)"] = fmt.Sprintf("could not delete every deep-check Job of run %s: %v", d.runID, err)
	}
}

// job builds the deep-check Job of one node (pkg/job, beside the node-upgrade Job).
func (d *deepRun) job(n *corev1.Node) *batchv1.Job {
	return job.BuildCheck(job.CheckParams{RunID: d.runID, TargetVersion: d.v.Options.TargetVersion, Image: d.v.Options.DeepImage,
		TimeoutSeconds: d.timeout}, n.Name, string(nodes.Role(n)))
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return strconv.FormatInt(time.Now().UnixNano()%(1<<32), 16)
	}
	return hex.EncodeToString(b)
}
