package lab_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/hostcheck"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
	"github.com/edgeupgrade/kubectl-edgeupgrade/test/lab"
	"github.com/edgeupgrade/kubectl-edgeupgrade/test/lab/sim"
)

const (
	from   = "v1.35.4"
	target = "v1.36.3"
)

// startLab starts a small lab, or skips (fails, under `make lab-test`) when the
// binaries are not built.
func startLab(t *testing.T, cfg lab.Config) *lab.Lab {
	t.Helper()
	if _, err := lab.DefaultBinaries(); err != nil {
		if os.Getenv("EDGEUPGRADE_LAB_REQUIRED") != "" {
			t.Fatalf("%v", err)
		}
		t.Skipf("SKIPPING the lab test: %v", err)
	}
	if testing.Verbose() {
		cfg.Progress = os.Stderr
	}
	cfg.KeepDir = os.Getenv("EDGEUPGRADE_LAB_KEEP") != ""
	nodes := cfg.Masters + cfg.Workers + cfg.CloudWorkers
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute+time.Duration(nodes)*time.Minute/1000)
	defer cancel()
	start := time.Now()
	l, err := lab.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("start lab: %v", err)
	}
	t.Logf("lab with %d nodes up in %s (dir %s)", len(l.Topology.Nodes()), time.Since(start).Round(time.Millisecond), l.Dir)
	return l
}

// TestLab starts one small lab and checks every simulated behaviour through real Jobs,
// then checks that Stop leaves no process and no directory behind.
func TestLab(t *testing.T) {
	l := startLab(t, lab.Config{
		Masters: 1, Workers: 8, Pools: 2, CloudWorkers: 2, From: from,
		JobDuration: 500 * time.Millisecond,
		Unready:     []string{"edge-b-003"},
		Fail: map[string]string{
			"edge-a-002": "kubeadm upgrade node: exit status 1",
			"edge-a-003": "preprocess: swap is on",
		},
		Hang:           []string{"edge-b-001"},
		NotReadyDuring: map[string]time.Duration{"edge-b-002": 0, "cloud-01": 1500 * time.Millisecond},
	})
	pids := l.PIDs()
	dir := l.Dir
	stopped := false
	defer func() {
		if !stopped {
			l.Stop()
		}
	}()
	c := l.Client
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	t.Run("topology", func(t *testing.T) { checkTopology(ctx, t, l) })
	t.Run("users", func(t *testing.T) { checkUsers(ctx, t, l) })
	t.Run("pod security", func(t *testing.T) { checkPodSecurity(ctx, t, c) })

	// The plugin creates its namespace from manifests/ and a Job right after; the e2e
	// flows cover the job controller's retry while the default ServiceAccount is still
	// missing. Here it is waited for: that retry's back-off can outlast the 3 s
	// deadlines below, and a pod that never started tests nothing.
	createNamespace(ctx, t, c)

	t.Run("jobs", func(t *testing.T) {
		t.Run("success", func(t *testing.T) {
			t.Parallel()
			created := time.Now()
			j := createJob(ctx, t, c, "edge-a-001", 60)
			waitJob(ctx, t, c, j, batchv1.JobComplete, "")
			t.Logf("edge-a-001: Job Complete %s after creation (job duration 500ms)", time.Since(created).Round(time.Millisecond))
			if v := kubeletVersion(ctx, t, c, "edge-a-001"); v != target {
				t.Errorf("edge-a-001 reports kubelet %s, want %s", v, target)
			}
			p := onlyPod(ctx, t, c, j)
			if p.Status.Phase != corev1.PodSucceeded {
				t.Errorf("pod phase %s, want Succeeded", p.Status.Phase)
			}
			for _, st := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
				if st.State.Terminated == nil || st.State.Terminated.ExitCode != 0 {
					t.Errorf("container %s: %+v, want terminated with exit code 0", st.Name, st.State)
				}
			}
			// How fast the job controller sees a finished pod.
			done := p.Status.ContainerStatuses[0].State.Terminated.FinishedAt.Time
			cond := jobCondition(ctx, t, c, j, batchv1.JobComplete)
			t.Logf("pod finished -> Job Complete: %s (the job controller batches pod events for 1s)", cond.LastTransitionTime.Sub(done))
		})
		t.Run("master", func(t *testing.T) {
			t.Parallel()
			j := createJob(ctx, t, c, "master-1", 60)
			waitJob(ctx, t, c, j, batchv1.JobComplete, "")
			if v := kubeletVersion(ctx, t, c, "master-1"); v != target {
				t.Errorf("master-1 reports kubelet %s, want %s", v, target)
			}
		})
		t.Run("fail with message", func(t *testing.T) {
			t.Parallel()
			j := createJob(ctx, t, c, "edge-a-002", 60)
			waitJob(ctx, t, c, j, batchv1.JobFailed, "BackoffLimitExceeded")
			p := onlyPod(ctx, t, c, j)
			st := containerStatus(p.Status.ContainerStatuses, job.ContainerUpgrade)
			if st == nil || st.State.Terminated == nil || st.State.Terminated.ExitCode != 1 ||
				st.State.Terminated.Message != "kubeadm upgrade node: exit status 1" {
				t.Errorf("container upgrade: %+v, want exit code 1 with the planted message", st)
			}
			if v := kubeletVersion(ctx, t, c, "edge-a-002"); v != from {
				t.Errorf("failed node reports kubelet %s, want %s", v, from)
			}
		})
		t.Run("preprocess fails", func(t *testing.T) {
			t.Parallel()
			j := createJob(ctx, t, c, "edge-a-003", 60)
			waitJob(ctx, t, c, j, batchv1.JobFailed, "BackoffLimitExceeded")
			p := onlyPod(ctx, t, c, j)
			st := containerStatus(p.Status.InitContainerStatuses, job.ContainerPreprocess)
			if st == nil || st.State.Terminated == nil || st.State.Terminated.ExitCode != 1 || st.State.Terminated.Message != "swap is on" {
				t.Errorf("init container preprocess: %+v, want exit code 1 with message %q", st, "swap is on")
			}
			if up := containerStatus(p.Status.ContainerStatuses, job.ContainerUpgrade); up == nil || up.State.Waiting == nil {
				t.Errorf("container upgrade: %+v, want waiting (never started)", up)
			}
		})
		t.Run("hang until deadline", func(t *testing.T) {
			t.Parallel()
			j := createJob(ctx, t, c, "edge-b-001", 3)
			waitJob(ctx, t, c, j, batchv1.JobFailed, "DeadlineExceeded")
			waitNoPods(ctx, t, c, j) // the job controller deletes it, kwok removes it
		})
		t.Run("not ready during upgrade", func(t *testing.T) {
			t.Parallel()
			// Long enough for the pod to start on a loaded machine: the node goes
			// NotReady only once its upgrade has started.
			j := createJob(ctx, t, c, "edge-b-002", 15)
			wctx, wcancel := context.WithTimeout(ctx, time.Minute)
			defer wcancel()
			if err := l.WaitReady(wctx, "edge-b-002", false); err != nil {
				t.Fatalf("edge-b-002 did not go NotReady within a minute of its Job %s: %v", j.Name, err)
			}
			waitJob(ctx, t, c, j, batchv1.JobFailed, "DeadlineExceeded")
			if v := kubeletVersion(ctx, t, c, "edge-b-002"); v != from {
				t.Errorf("edge-b-002 reports kubelet %s, want %s", v, from)
			}
		})
		t.Run("not ready blip", func(t *testing.T) {
			t.Parallel()
			j := createJob(ctx, t, c, "cloud-01", 60)
			if err := l.WaitReady(ctx, "cloud-01", false); err != nil {
				t.Fatalf("cloud-01 did not go NotReady: %v", err)
			}
			waitJob(ctx, t, c, j, batchv1.JobComplete, "")
			if err := l.WaitReady(ctx, "cloud-01", true); err != nil {
				t.Fatalf("cloud-01 did not come back Ready: %v", err)
			}
			if v := kubeletVersion(ctx, t, c, "cloud-01"); v != target {
				t.Errorf("cloud-01 reports kubelet %s, want %s", v, target)
			}
		})
		t.Run("unready node never starts the pod", func(t *testing.T) {
			t.Parallel()
			j := createJob(ctx, t, c, "edge-b-003", 3)
			waitJob(ctx, t, c, j, batchv1.JobFailed, "DeadlineExceeded")
		})
		t.Run("daemonset pod not ready", func(t *testing.T) {
			t.Parallel()
			if err := l.DaemonSet(ctx, "tunnel", "edge-a-001"); err != nil {
				t.Fatal(err)
			}
			pod, err := l.DaemonPod(ctx, "tunnel", "edge-a-001")
			if err != nil {
				t.Fatal(err)
			}
			if err := l.SetPodReady(ctx, lab.DaemonSetNamespace, pod, false); err != nil {
				t.Fatalf("pod %s not reported not Ready: %v", pod, err)
			}
			time.Sleep(time.Second) // kwok must not make it Ready again on its own
			if p, err := c.CoreV1().Pods(lab.DaemonSetNamespace).Get(ctx, pod, metav1.GetOptions{}); err != nil || podReady(p) || p.Status.Phase != corev1.PodRunning {
				t.Fatalf("pod %s: ready %v, phase %s, %v", pod, p != nil && podReady(p), p.Status.Phase, err)
			}
			if err := l.SetPodReady(ctx, lab.DaemonSetNamespace, pod, true); err != nil {
				t.Fatalf("pod %s not Ready again: %v", pod, err)
			}
		})
		t.Run("knobs at runtime", func(t *testing.T) {
			t.Parallel()
			node := "edge-a-004"
			if err := l.SetHang(ctx, node, true); err != nil {
				t.Fatal(err)
			}
			j := createJob(ctx, t, c, node, 60)
			waitPodPhase(ctx, t, c, j, corev1.PodRunning)
			time.Sleep(time.Second) // longer than the job duration: it must still run
			if p := onlyPod(ctx, t, c, j); p.Status.Phase != corev1.PodRunning {
				t.Fatalf("hanging pod is %s, want Running", p.Status.Phase)
			}
			if err := l.SetFail(ctx, node, "kubelet did not become healthy"); err != nil {
				t.Fatal(err)
			}
			if err := l.SetHang(ctx, node, false); err != nil {
				t.Fatal(err)
			}
			waitJob(ctx, t, c, j, batchv1.JobFailed, "BackoffLimitExceeded")
			// Fixed: a retry succeeds and takes the node's own duration.
			if err := l.ClearFaults(ctx, node); err != nil {
				t.Fatal(err)
			}
			if err := l.SetJobDuration(ctx, node, 100*time.Millisecond); err != nil {
				t.Fatal(err)
			}
			j2 := createJob(ctx, t, c, node, 60)
			waitJob(ctx, t, c, j2, batchv1.JobComplete, "")
		})
		t.Run("timing", func(t *testing.T) {
			t.Parallel()
			node := "cloud-02"
			if err := l.SetJobDuration(ctx, node, 2*time.Second); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			j := createJob(ctx, t, c, node, 60)
			var running, succeeded, complete time.Duration
			poll(ctx, t, "job "+j.Name+" Complete", func(ctx context.Context) (bool, error) {
				for _, p := range podsOf(ctx, t, c, j) {
					if running == 0 && p.Status.Phase == corev1.PodRunning {
						running = time.Since(start)
					}
					if succeeded == 0 && p.Status.Phase == corev1.PodSucceeded {
						succeeded = time.Since(start)
					}
				}
				if jobCondition(ctx, t, c, j, batchv1.JobComplete) != nil {
					complete = time.Since(start)
					return true, nil
				}
				return false, nil
			})
			t.Logf("job created -> pod Running %s -> pod Succeeded %s -> Job Complete %s (node duration 2s)",
				running.Round(time.Millisecond), succeeded.Round(time.Millisecond), complete.Round(time.Millisecond))
			if succeeded < 2*time.Second {
				t.Errorf("pod Succeeded %s after the Job was created, before the node's 2s duration", succeeded)
			}
		})
		t.Run("deep-check", func(t *testing.T) {
			t.Parallel()
			node := "edge-b-004"
			j := createDeepCheck(ctx, t, c, node)
			waitJob(ctx, t, c, j, batchv1.JobComplete, "")
			var res hostcheck.Result
			msg := onlyPod(ctx, t, c, j).Status.ContainerStatuses[0].State.Terminated.Message
			if err := json.Unmarshal([]byte(msg), &res); err != nil || res.Node != node || res.Findings == nil || len(res.Findings) != 0 {
				t.Errorf("termination message %q: want a hostcheck.Result for %s with no findings (err %v)", msg, node, err)
			}
			planted := `{"node":"edge-b-004","findings":[{"check":"host-swap","severity":"error","message":"swap is on"}]}`
			if err := l.SetDeepResult(ctx, node, planted); err != nil {
				t.Fatal(err)
			}
			j2 := createDeepCheck(ctx, t, c, node)
			waitJob(ctx, t, c, j2, batchv1.JobComplete, "")
			if got := onlyPod(ctx, t, c, j2).Status.ContainerStatuses[0].State.Terminated.Message; got != planted {
				t.Errorf("termination message %q, want the planted %q", got, planted)
			}
		})
	})

	t.Run("reset", func(t *testing.T) {
		start := time.Now()
		if err := l.Reset(ctx); err != nil {
			t.Fatalf("reset: %v", err)
		}
		t.Logf("reset in %s", time.Since(start).Round(time.Millisecond))
		versions, err := l.KubeletVersions(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for n, v := range versions {
			if v != from {
				t.Errorf("%s reports kubelet %s after reset, want %s", n, v, from)
			}
		}
		checkTopology(ctx, t, l) // readiness as at start
		n4, _ := c.CoreV1().Nodes().Get(ctx, "edge-a-004", metav1.GetOptions{})
		n2, _ := c.CoreV1().Nodes().Get(ctx, "edge-a-002", metav1.GetOptions{})
		if _, ok := n4.Annotations[sim.AnnotationJobDuration]; ok || n2.Annotations[sim.AnnotationFail] != "kubeadm upgrade node: exit status 1" {
			t.Errorf("knobs after reset: edge-a-004 %v, edge-a-002 %v", n4.Annotations, n2.Annotations)
		}
		createNamespace(ctx, t, c)
		j := createJob(ctx, t, c, "edge-a-001", 60)
		waitJob(ctx, t, c, j, batchv1.JobComplete, "")
	})

	// Stop: every process group gone, the directory removed.
	l.Stop()
	stopped = true
	for name, pid := range pids {
		if err := syscall.Kill(pid, 0); err == nil && !zombie(pid) {
			t.Errorf("%s (pid %d) still runs after Stop", name, pid)
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) && os.Getenv("EDGEUPGRADE_LAB_KEEP") == "" {
		t.Errorf("lab directory %s still exists after Stop", dir)
	}
}

func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] == 'Z'
}

// TestStartInterrupted cancels Start half-way: nothing may stay behind.
func TestStartInterrupted(t *testing.T) {
	if _, err := lab.DefaultBinaries(); err != nil {
		if os.Getenv("EDGEUPGRADE_LAB_REQUIRED") != "" {
			t.Fatalf("%v", err)
		}
		t.Skipf("SKIPPING: %v", err)
	}
	dir := t.TempDir() + "/lab"
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(1500*time.Millisecond, cancel) // etcd is up, the API server is starting
	_, err := lab.Start(ctx, lab.Config{Dir: dir, Workers: 1, From: from})
	if err == nil {
		t.Fatal("Start succeeded despite the cancelled context")
	}
	if _, statErr := os.Stat(dir); !errors.Is(statErr, os.ErrNotExist) {
		t.Errorf("directory %s left behind after an interrupted start (%v)", dir, err)
	}
	// Every daemon the lab starts names its directory on its command line.
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		b, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if strings.Contains(string(b), dir) {
			t.Errorf("process %s still runs: %s", e.Name(), strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
}

func checkTopology(ctx context.Context, t *testing.T, l *lab.Lab) {
	nodes, err := l.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes.Items) != 11 {
		t.Fatalf("%d nodes, want 11", len(nodes.Items))
	}
	byName := map[string]corev1.Node{}
	for _, n := range nodes.Items {
		byName[n.Name] = n
		if n.Status.NodeInfo.KubeletVersion != from || !strings.HasPrefix(n.Status.NodeInfo.ContainerRuntimeVersion, "containerd://2.0.") {
			t.Errorf("%s: nodeInfo %+v", n.Name, n.Status.NodeInfo)
		}
	}
	m := byName["master-1"]
	if _, ok := m.Labels[lab.LabelControlPlane]; !ok || len(m.Spec.Taints) == 0 || m.Spec.Taints[0].Effect != corev1.TaintEffectNoSchedule {
		t.Errorf("master-1: labels %v taints %v", m.Labels, m.Spec.Taints)
	}
	for name, pool := range map[string]string{"edge-a-004": "pool-a", "edge-b-001": "pool-b", "cloud-02": lab.CloudPool} {
		n := byName[name]
		edge := "true"
		if pool == lab.CloudPool {
			edge = "false"
		}
		if n.Labels[lab.LabelNodePool] != pool || n.Labels[lab.LabelEdgeWorker] != edge {
			t.Errorf("%s: labels %v, want pool %s and edge worker %s", name, n.Labels, pool, edge)
		}
	}
	for name, n := range byName {
		want := corev1.ConditionTrue
		if name == "edge-b-003" {
			want = corev1.ConditionFalse
		}
		if got := ready(n); got != want {
			t.Errorf("%s: Ready=%s, want %s", name, got, want)
		}
	}
}

func ready(n corev1.Node) corev1.ConditionStatus {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status
		}
	}
	return corev1.ConditionUnknown
}

// checkUsers: the operator and viewer certificates authenticate as their users and,
// without RBAC from manifests/, may do nothing.
func checkUsers(ctx context.Context, t *testing.T, l *lab.Lab) {
	for path, user := range map[string]string{l.OperatorKubeconfig: lab.OperatorUser, l.ViewerKubeconfig: lab.ViewerUser, l.Kubeconfig: lab.AdminUser} {
		rc, err := clientcmd.BuildConfigFromFlags("", path)
		if err != nil {
			t.Fatal(err)
		}
		c := kubernetes.NewForConfigOrDie(rc)
		rev, err := c.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("%s: self subject review: %v", path, err)
		}
		if got := rev.Status.UserInfo.Username; got != user {
			t.Errorf("%s authenticates as %q, want %q", path, got, user)
		}
		if user == lab.AdminUser {
			continue
		}
		if _, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("%s lists nodes without RBAC: err %v, want Forbidden", user, err)
		}
	}
}

// checkPodSecurity: a namespace without the privileged label refuses privileged pods
// (the lab enforces "baseline" by default, as hardened clusters do).
func checkPodSecurity(ctx context.Context, t *testing.T, c kubernetes.Interface) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "psa-check"}}
	if _, err := c.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "privileged", Namespace: ns.Name},
		Spec: corev1.PodSpec{HostPID: true, NodeName: "cloud-02", Containers: []corev1.Container{{
			Name: "c", Image: "x", SecurityContext: &corev1.SecurityContext{Privileged: new(true)},
		}}},
	}
	if _, err := c.CoreV1().Pods(ns.Name).Create(ctx, pod, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("privileged pod in an unlabelled namespace: err %v, want Forbidden by PodSecurity", err)
	}
}

func createNamespace(ctx context.Context, t *testing.T, c kubernetes.Interface) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: job.Namespace, Labels: map[string]string{
		"pod-security.kubernetes.io/enforce": "privileged",
	}}}
	if _, err := c.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := c.CoreV1().ServiceAccounts(job.Namespace).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("namespace %s: no default ServiceAccount within a minute: %v", job.Namespace, err)
	}
}

// createJob creates a node-upgrade Job shaped like the plugin's (docs/design.md §5).
func createJob(ctx context.Context, t *testing.T, c kubernetes.Interface, node string, deadline int64) *batchv1.Job {
	t.Helper()
	privileged := true
	labels := map[string]string{
		job.LabelManagedBy: job.ManagedBy, job.LabelComponent: job.ComponentNodeUpgrade,
		job.LabelRun: "labtest", job.LabelRole: job.RoleWorker, job.LabelBatch: "1",
	}
	hostPathDir := corev1.HostPathDirectory
	agent := func(name string) corev1.Container {
		return corev1.Container{
			Name: name, Image: "registry.local/edgeupgrade/agent:test",
			Command:                  []string{job.AgentBinary, name},
			Env:                      []corev1.EnvVar{{Name: job.EnvTargetVersion, Value: target}, {Name: job.EnvNodeName, Value: node}},
			SecurityContext:          &corev1.SecurityContext{Privileged: &privileged},
			TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
			VolumeMounts:             []corev1.VolumeMount{{Name: "host", MountPath: job.HostRoot}},
		}
	}
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "upgrade-" + node + "-", Namespace: job.Namespace, Labels: labels},
		Spec: batchv1.JobSpec{
			BackoffLimit:          new(int32(0)),
			ActiveDeadlineSeconds: &deadline,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: map[string]string{
					job.AnnotationTargetVersion: target, job.AnnotationNode: node,
				}},
				Spec: corev1.PodSpec{
					NodeName:                     node,
					RestartPolicy:                corev1.RestartPolicyNever,
					Tolerations:                  []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
					HostPID:                      true,
					HostNetwork:                  true,
					PriorityClassName:            "system-node-critical",
					AutomountServiceAccountToken: new(false),
					Volumes: []corev1.Volume{{Name: "host", VolumeSource: corev1.VolumeSource{
						HostPath: &corev1.HostPathVolumeSource{Path: "/", Type: &hostPathDir}}}},
					InitContainers: []corev1.Container{agent(job.ContainerPreprocess)},
					Containers:     []corev1.Container{agent(job.ContainerUpgrade)},
				},
			},
		},
	}
	out, err := c.BatchV1().Jobs(job.Namespace).Create(ctx, j, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create job for %s: %v", node, err)
	}
	return out
}

func createDeepCheck(ctx context.Context, t *testing.T, c kubernetes.Interface, node string) *batchv1.Job {
	t.Helper()
	labels := map[string]string{job.LabelManagedBy: job.ManagedBy, job.LabelComponent: job.ComponentDeepCheck, job.LabelRun: "labtest"}
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "deep-check-" + node + "-", Namespace: job.Namespace, Labels: labels},
		Spec: batchv1.JobSpec{
			BackoffLimit:          new(int32(0)),
			ActiveDeadlineSeconds: new(int64(60)),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					NodeName: node, RestartPolicy: corev1.RestartPolicyNever, HostPID: true,
					Tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
					Containers: []corev1.Container{{
						Name: job.ContainerCheck, Image: "registry.local/edgeupgrade/agent:test",
						Command: []string{job.AgentBinary, "check"},
					}},
				},
			},
		},
	}
	out, err := c.BatchV1().Jobs(job.Namespace).Create(ctx, j, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create deep-check job for %s: %v", node, err)
	}
	return out
}

func poll(ctx context.Context, t *testing.T, what string, cond func(context.Context) (bool, error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 45*time.Second)
	defer cancel()
	if err := wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

func jobCondition(ctx context.Context, t *testing.T, c kubernetes.Interface, j *batchv1.Job, typ batchv1.JobConditionType) *batchv1.JobCondition {
	got, err := c.BatchV1().Jobs(j.Namespace).Get(ctx, j.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, cond := range got.Status.Conditions {
		if cond.Type == typ && cond.Status == corev1.ConditionTrue {
			return &cond
		}
	}
	return nil
}

// waitJob waits for condition typ (with reason, if given) and fails on the opposite.
func waitJob(ctx context.Context, t *testing.T, c kubernetes.Interface, j *batchv1.Job, typ batchv1.JobConditionType, reason string) {
	t.Helper()
	poll(ctx, t, fmt.Sprintf("job %s %s %s", j.Name, typ, reason), func(ctx context.Context) (bool, error) {
		got, err := c.BatchV1().Jobs(j.Namespace).Get(ctx, j.Name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, cond := range got.Status.Conditions {
			if cond.Status != corev1.ConditionTrue {
				continue
			}
			if cond.Type == typ {
				if reason != "" && cond.Reason != reason {
					return false, fmt.Errorf("job %s: %s with reason %s (%s), want reason %s", j.Name, typ, cond.Reason, cond.Message, reason)
				}
				return true, nil
			}
			if cond.Type == batchv1.JobComplete || cond.Type == batchv1.JobFailed {
				return false, fmt.Errorf("job %s: %s (%s: %s), want %s", j.Name, cond.Type, cond.Reason, cond.Message, typ)
			}
		}
		return false, nil
	})
}

func podsOf(ctx context.Context, t *testing.T, c kubernetes.Interface, j *batchv1.Job) []corev1.Pod {
	t.Helper()
	pods, err := c.CoreV1().Pods(j.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=" + j.Name})
	if err != nil {
		t.Fatal(err)
	}
	return pods.Items
}

func onlyPod(ctx context.Context, t *testing.T, c kubernetes.Interface, j *batchv1.Job) corev1.Pod {
	t.Helper()
	pods := podsOf(ctx, t, c, j)
	if len(pods) != 1 {
		t.Fatalf("job %s has %d pods, want 1", j.Name, len(pods))
	}
	return pods[0]
}

func waitPodPhase(ctx context.Context, t *testing.T, c kubernetes.Interface, j *batchv1.Job, phase corev1.PodPhase) {
	t.Helper()
	poll(ctx, t, fmt.Sprintf("a pod of %s %s", j.Name, phase), func(ctx context.Context) (bool, error) {
		pods := podsOf(ctx, t, c, j)
		return len(pods) == 1 && pods[0].Status.Phase == phase, nil
	})
}

func waitNoPods(ctx context.Context, t *testing.T, c kubernetes.Interface, j *batchv1.Job) {
	t.Helper()
	poll(ctx, t, fmt.Sprintf("pods of %s to be deleted", j.Name), func(ctx context.Context) (bool, error) {
		return len(podsOf(ctx, t, c, j)) == 0, nil
	})
}

func containerStatus(sts []corev1.ContainerStatus, name string) *corev1.ContainerStatus {
	for i := range sts {
		if sts[i].Name == name {
			return &sts[i]
		}
	}
	return nil
}

func kubeletVersion(ctx context.Context, t *testing.T, c kubernetes.Interface, node string) string {
	t.Helper()
	n, err := c.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return n.Status.NodeInfo.KubeletVersion
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
