package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/store"
)

// recorder watches what the plugin and the cluster do during a run and stamps every
// transition with this process's clock at millisecond precision (object timestamps
// have one-second resolution). The plugin learns of the same changes through the same
// kind of watch, so differences between stamps measure the plugin and the control
// plane, not the observer.
type recorder struct {
	epoch  time.Time
	target string

	mu     sync.Mutex
	jobs   map[string]*jobTrace // by Job name
	nodes  map[string]float64   // node -> first seen at target
	cms    []cmSample
	events []eventTrace
	// watchEvents counts the add/update notifications per resource during the run:
	// each one wakes the plugin's driver too (its informers see the same stream).
	watchEvents map[string]int
	cancel      context.CancelFunc
}

// jobTrace is one node-upgrade Job. Times are seconds since the epoch; 0 = not seen.
type jobTrace struct {
	Name       string  `json:"name"`
	Node       string  `json:"node"`
	Batch      string  `json:"batch"`
	Created    float64 `json:"created"`    // the Job first seen
	PodCreated float64 `json:"podCreated"` // its pod first seen
	PodRunning float64 `json:"podRunning"` // the simulated kubelet started it
	PodDone    float64 `json:"podDone"`    // the pod Succeeded or Failed
	Done       float64 `json:"done"`       // the Job Complete or Failed
	Failed     bool    `json:"failed,omitempty"`
}

type cmSample struct {
	At          float64 `json:"at"`
	Batch       string  `json:"batch,omitempty"` // label of the batch in flight (state.current)
	Phase       string  `json:"phase,omitempty"`
	DataBytes   int     `json:"dataBytes"`   // every data value (the state) and key
	ObjectBytes int     `json:"objectBytes"` // the whole object as JSON, managedFields included
}

type eventTrace struct {
	Seen    float64 `json:"seen"`
	Emitted float64 `json:"emitted"` // from the Event name (<object>.<UnixNano hex>), plugin clock
	Reason  string  `json:"reason"`
	Message string  `json:"message"`
}

func (r *recorder) since(t time.Time) float64 { return t.Sub(r.epoch).Seconds() }
func (r *recorder) now() float64              { return r.since(time.Now()) }

// startRecorder starts the watches and returns once they are synced.
func startRecorder(ctx context.Context, c kubernetes.Interface, epoch time.Time, target string) (*recorder, error) {
	ctx, cancel := context.WithCancel(ctx)
	r := &recorder{epoch: epoch, target: target, jobs: map[string]*jobTrace{}, nodes: map[string]float64{},
		watchEvents: map[string]int{}, cancel: cancel}
	ns := informers.NewSharedInformerFactoryWithOptions(c, 0, informers.WithNamespace(job.Namespace))
	all := informers.NewSharedInformerFactory(c, 0)
	cmF := informers.NewSharedInformerFactoryWithOptions(c, 0, informers.WithNamespace(job.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", store.Name).String()
		}))
	on := func(inf cache.SharedIndexInformer, f func(obj any)) error {
		_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    f,
			UpdateFunc: func(_, obj any) { f(obj) },
		})
		return err
	}
	infs := []cache.SharedIndexInformer{
		ns.Batch().V1().Jobs().Informer(), ns.Core().V1().Pods().Informer(), ns.Core().V1().Events().Informer(),
		all.Core().V1().Nodes().Informer(), cmF.Core().V1().ConfigMaps().Informer(),
	}
	names := []string{"jobs", "pods", "events", "nodes", "configmaps"}
	for i, f := range []func(any){r.onJob, r.onPod, r.onEvent, r.onNode, r.onConfigMap} {
		name, f := names[i], f
		count := func(obj any) {
			r.mu.Lock()
			r.watchEvents[name]++
			r.mu.Unlock()
			f(obj)
		}
		if err := on(infs[i], count); err != nil {
			cancel()
			return nil, err
		}
	}
	for _, f := range []informers.SharedInformerFactory{ns, all, cmF} {
		f.Start(ctx.Done())
	}
	syncCtx, done := context.WithTimeout(ctx, 3*time.Minute)
	defer done()
	for _, inf := range infs {
		if !cache.WaitForCacheSync(syncCtx.Done(), inf.HasSynced) {
			cancel()
			return nil, fmt.Errorf("recorder: caches did not sync")
		}
	}
	r.mu.Lock()
	clear(r.watchEvents) // the initial lists are not run-time traffic
	r.mu.Unlock()
	return r, nil
}

func (r *recorder) Stop() { r.cancel() }

func (r *recorder) job(name string) *jobTrace {
	j := r.jobs[name]
	if j == nil {
		j = &jobTrace{Name: name}
		r.jobs[name] = j
	}
	return j
}

func (r *recorder) onJob(obj any) {
	j, ok := obj.(*batchv1.Job)
	if !ok || j.Labels[job.LabelComponent] != job.ComponentNodeUpgrade {
		return
	}
	t := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	tr := r.job(j.Name)
	if tr.Created == 0 {
		tr.Created = t
	}
	tr.Node, tr.Batch = j.Annotations[job.AnnotationNode], j.Labels[job.LabelBatch]
	for _, c := range j.Status.Conditions {
		if c.Status == corev1.ConditionTrue && (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && tr.Done == 0 {
			tr.Done, tr.Failed = t, c.Type == batchv1.JobFailed
		}
	}
}

func (r *recorder) onPod(obj any) {
	p, ok := obj.(*corev1.Pod)
	if !ok || p.Labels[job.LabelComponent] != job.ComponentNodeUpgrade {
		return
	}
	name := p.Labels[batchv1.JobNameLabel]
	if name == "" {
		return
	}
	t := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	tr := r.job(name)
	if tr.PodCreated == 0 {
		tr.PodCreated = t
	}
	switch p.Status.Phase {
	case corev1.PodRunning:
		if tr.PodRunning == 0 {
			tr.PodRunning = t
		}
	case corev1.PodSucceeded, corev1.PodFailed:
		if tr.PodDone == 0 {
			tr.PodDone = t
		}
	}
}

func (r *recorder) onNode(obj any) {
	n, ok := obj.(*corev1.Node)
	if !ok || n.Status.NodeInfo.KubeletVersion != r.target {
		return
	}
	t := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, seen := r.nodes[n.Name]; !seen {
		r.nodes[n.Name] = t
	}
}

func (r *recorder) onConfigMap(obj any) {
	cm, ok := obj.(*corev1.ConfigMap)
	if !ok {
		return
	}
	data := dataBytes(cm)
	b, _ := json.Marshal(cm)
	smp := cmSample{DataBytes: data, ObjectBytes: len(b)}
	if st, err := store.Decode(cm); err == nil {
		smp.Phase = string(st.Phase)
		if st.Current != nil {
			smp.Batch = st.Current.Label()
		}
	}
	smp.At = r.now()
	r.mu.Lock()
	r.cms = append(r.cms, smp)
	r.mu.Unlock()
}

func (r *recorder) onEvent(obj any) {
	e, ok := obj.(*corev1.Event)
	if !ok || e.Source.Component != "kubectl-edgeupgrade" {
		return
	}
	t := r.now()
	emitted := 0.0
	if i := strings.LastIndexByte(e.Name, '.'); i >= 0 {
		if ns, err := strconv.ParseInt(e.Name[i+1:], 16, 64); err == nil {
			emitted = r.since(time.Unix(0, ns))
		}
	}
	r.mu.Lock()
	r.events = append(r.events, eventTrace{Seen: t, Emitted: emitted, Reason: e.Reason, Message: e.Message})
	r.mu.Unlock()
}

// snapshot copies what was recorded.
func (r *recorder) snapshot() (jobs []jobTrace, nodes map[string]float64, cms []cmSample, events []eventTrace, watch map[string]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, j := range r.jobs {
		jobs = append(jobs, *j)
	}
	nodes = make(map[string]float64, len(r.nodes))
	for k, v := range r.nodes {
		nodes[k] = v
	}
	watch = map[string]int{}
	for k, v := range r.watchEvents {
		watch[k] = v
	}
	return jobs, nodes, append([]cmSample(nil), r.cms...), append([]eventTrace(nil), r.events...), watch
}

// settled reports whether every Job seen so far has finished.
func (r *recorder) settled() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, j := range r.jobs {
		if j.Done == 0 {
			return false
		}
	}
	return true
}
