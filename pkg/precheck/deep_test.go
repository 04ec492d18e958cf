package precheck_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/hostcheck"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/precheck"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/precheck/prechecktest"
)

// agent plays the job controller and the node agent: for each deep-check Job it
// creates the pod with the check container terminated and the node's result as its
// termination message, or, for nodes in fail, marks the Job failed without a pod.
type agent struct {
	mu        sync.Mutex
	jobs      []*batchv1.Job
	maxActive int
	active    int
}

func (a *agent) serve(ctx context.Context, t *testing.T, c *prechecktest.Cluster, results map[string]hostcheck.Result, fail map[string]bool) {
	w, err := c.Kube.BatchV1().Jobs(job.Namespace).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer w.Stop()
		for ev := range w.ResultChan() {
			j, ok := ev.Object.(*batchv1.Job)
			if !ok {
				continue
			}
			a.mu.Lock()
			switch ev.Type {
			case watch.Added:
				a.jobs = append(a.jobs, j.DeepCopy())
				a.active++
				a.maxActive = max(a.maxActive, a.active)
			case watch.Deleted:
				a.active--
			}
			a.mu.Unlock()
			if ev.Type != watch.Added {
				continue
			}
			node := j.Spec.Template.Spec.NodeName
			if fail[node] {
				j.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "DeadlineExceeded", Message: "Job was active longer than specified deadline"}}
				if _, err := c.Kube.BatchV1().Jobs(job.Namespace).UpdateStatus(ctx, j, metav1.UpdateOptions{}); err != nil {
					t.Error(err)
				}
				continue
			}
			msg, _ := json.Marshal(results[node])
			p := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Namespace: job.Namespace, Name: j.Name + "-x", Labels: j.Spec.Template.Labels, Annotations: j.Spec.Template.Annotations},
				Spec:       j.Spec.Template.Spec,
				Status: corev1.PodStatus{Phase: corev1.PodSucceeded, ContainerStatuses: []corev1.ContainerStatus{{Name: job.ContainerCheck,
					State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Message: string(msg)}}}}},
			}
			if _, err := c.Kube.CoreV1().Pods(job.Namespace).Create(ctx, p, metav1.CreateOptions{}); err != nil {
				t.Error(err)
			}
		}
	}()
}

func TestDeepChecks(t *testing.T) {
	objs := prechecktest.Healthy()
	unready := prechecktest.Node("edge-3", false)
	unready.Status.Conditions[0].Status = corev1.ConditionFalse
	objs = append(objs, unready, prechecktest.Node("edge-4", false))
	c := prechecktest.NewCluster("v1.35.2", objs...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	a := &agent{}
	a.serve(ctx, t, c, map[string]hostcheck.Result{
		"cp-1":   {Node: "cp-1", CgroupVersion: 2, Findings: []hostcheck.Finding{}},
		"edge-1": {Node: "edge-1", CgroupVersion: 1, Findings: []hostcheck.Finding{{Check: hostcheck.CheckSwap, Severity: hostcheck.SeverityError, Message: "swap is on (2 GiB)"}}},
		"edge-2": {Node: "edge-2", CgroupVersion: 2, Findings: []hostcheck.Finding{{Check: hostcheck.CheckDisk, Severity: hostcheck.SeverityWarning, Message: "/var/lib/kubelet 12% free"}}},
	}, map[string]bool{"edge-4": true})

	r, err := precheck.Run(ctx, c.Clients(), precheck.Options{TargetVersion: "v1.36.1", Deep: true, DeepImage: "registry.local/edgeupgrade/node-preprocess:v1",
		DeepParallelism: 2, Skip: []string{"node-not-ready"}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, res := range r.Results {
		for _, f := range res.Findings {
			if res.ID[:5] == "host-" {
				got[res.ID] = append(got[res.ID], string(f.Severity)+" "+f.Object)
			}
		}
	}
	want := map[string][]string{
		"host-swap":             {"error Node/edge-1"},
		"host-disk":             {"warning Node/edge-2"},
		"host-cgroup":           {"error Node/edge-1"},
		"host-check-incomplete": {"warning Node/edge-3", "warning Node/edge-4"},
	}
	for id, w := range want {
		if len(got[id]) != len(w) || (len(w) > 0 && got[id][0] != w[0]) {
			t.Errorf("%s: got %v, want %v", id, got[id], w)
		}
	}

	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.jobs) != 4 {
		t.Fatalf("%d Jobs created, want 4 (the Ready nodes)", len(a.jobs))
	}
	if a.maxActive > 2 {
		t.Errorf("%d Jobs at once, parallelism is 2", a.maxActive)
	}
	j := a.jobs[0]
	spec := j.Spec.Template.Spec
	ctr := spec.Containers[0]
	switch {
	case j.Labels[job.LabelComponent] != job.ComponentDeepCheck || j.Labels[job.LabelManagedBy] != job.ManagedBy || j.Labels[job.LabelRun] == "":
		t.Errorf("labels %v", j.Labels)
	case *j.Spec.BackoffLimit != 0 || j.Spec.ActiveDeadlineSeconds == nil:
		t.Errorf("backoffLimit/activeDeadlineSeconds %v %v", j.Spec.BackoffLimit, j.Spec.ActiveDeadlineSeconds)
	case spec.NodeName == "" || !spec.HostPID || *spec.AutomountServiceAccountToken || spec.Tolerations[0].Operator != corev1.TolerationOpExists:
		t.Errorf("pod spec %+v", spec)
	case ctr.Name != job.ContainerCheck || ctr.Command[0] != job.AgentBinary || ctr.Command[1] != "check" || !*ctr.SecurityContext.Privileged:
		t.Errorf("container %+v", ctr)
	case ctr.VolumeMounts[0].MountPath != job.HostRoot || spec.Volumes[0].HostPath.Path != "/":
		t.Errorf("host mount %+v %+v", ctr.VolumeMounts, spec.Volumes)
	}
	env := map[string]string{}
	for _, e := range ctr.Env {
		env[e.Name] = e.Value
		if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			env[e.Name] = e.ValueFrom.FieldRef.FieldPath
		}
	}
	if env[job.EnvTargetVersion] != "v1.36.1" || env[job.EnvNodeName] != "spec.nodeName" || env[job.EnvHostRoot] != job.HostRoot ||
		env[job.EnvRunID] != j.Labels[job.LabelRun] || env[job.EnvStepTimeout] != "1m0s" {
		t.Errorf("env %v", env)
	}
	if want := job.BuildCheck(job.CheckParams{RunID: j.Labels[job.LabelRun], TargetVersion: "v1.36.1", Image: ctr.Image, TimeoutSeconds: 120},
		spec.NodeName, j.Labels[job.LabelRole]); !equality.Semantic.DeepEqual(want.Spec, j.Spec) || want.Name != j.Name ||
		!equality.Semantic.DeepEqual(want.Labels, j.Labels) || !equality.Semantic.DeepEqual(want.Annotations, j.Annotations) {
		t.Errorf("the deep-check Job is not job.BuildCheck's:\n%s", cmp.Diff(want.ObjectMeta, j.ObjectMeta)+cmp.Diff(want.Spec, j.Spec))
	}
	left, err := c.Kube.BatchV1().Jobs(job.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(left.Items) != 0 {
		t.Errorf("%d deep-check Jobs left behind", len(left.Items))
	}
}

func TestDeepNeedsImage(t *testing.T) {
	c := prechecktest.NewCluster("v1.35.2", prechecktest.Healthy()...)
	if _, err := precheck.Run(context.Background(), c.Clients(), precheck.Options{Deep: true}); err == nil || !strings.Contains(err.Error(), "--preprocess-image") {
		t.Errorf("deep checks without an image: %v, want an error naming --preprocess-image", err)
	}
}
