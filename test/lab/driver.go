package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/job"
)

// driverKubelet plays the kubelet for the plugin's in-cluster driver and watchdog
// pods, which kwok cannot run: it runs each pod's command as a local process
// (Config.DriverBinary stands for the edgeupgrade image's /edgeupgrade-driver), with
// the pod's arguments and environment and a kubeconfig holding a real token of the
// pod's ServiceAccount (TokenRequest, bound to the pod), so the API server enforces
// the driver's RBAC. It reports the pod Running, then Succeeded or Failed with the
// process's exit code, as a kubelet would; a deleted pod's process gets SIGTERM, then
// SIGKILL after its grace period (at most 5 s here).
type driverKubelet struct {
	l      *Lab
	binary string

	mu    sync.Mutex
	procs map[types.UID]*driverProc
	wg    sync.WaitGroup
}

type driverProc struct {
	pod  string
	cmd  *exec.Cmd
	done chan struct{}
}

// driverGrace bounds how long a deleted pod's process may take to stop.
const driverGrace = 5 * time.Second

func (l *Lab) startDriverKubelet(ctx context.Context) error {
	if l.cfg.DriverBinary == "" {
		return nil
	}
	k := &driverKubelet{l: l, binary: l.cfg.DriverBinary, procs: map[types.UID]*driverProc{}}
	// ctx bounds the start only; the kubelet runs until Stop.
	run, cancel := context.WithCancel(context.Background())
	f := informers.NewSharedInformerFactoryWithOptions(l.Client, 0, informers.WithNamespace(job.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.LabelSelector = fmt.Sprintf("%s=%s,%s in (%s,%s)", job.LabelManagedBy, job.ManagedBy,
				job.LabelComponent, job.ComponentDriver, job.ComponentWatchdog)
		}))
	inf := f.Core().V1().Pods().Informer()
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { k.sync(run, o) },
		UpdateFunc: func(_, o any) { k.sync(run, o) },
		DeleteFunc: func(o any) {
			if t, ok := o.(cache.DeletedFinalStateUnknown); ok {
				o = t.Obj
			}
			if p, ok := o.(*corev1.Pod); ok {
				k.stop(p.UID, 0)
			}
		},
	}); err != nil {
		cancel()
		return err
	}
	f.Start(run.Done())
	l.driverStop = func() {
		cancel()
		f.Shutdown()
		k.stopAll()
	}
	l.drivers = k
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return errors.New("driver pods: cache did not sync")
	}
	return nil
}

func (k *driverKubelet) sync(ctx context.Context, o any) {
	p, ok := o.(*corev1.Pod)
	if !ok {
		return
	}
	if p.DeletionTimestamp != nil {
		grace := driverGrace
		if g := p.DeletionGracePeriodSeconds; g != nil && time.Duration(*g)*time.Second < grace {
			grace = time.Duration(*g) * time.Second
		}
		k.stop(p.UID, grace)
		return
	}
	if p.Spec.NodeName == "" || p.Status.Phase != corev1.PodPending {
		return
	}
	k.mu.Lock()
	_, running := k.procs[p.UID]
	k.mu.Unlock()
	if running {
		return
	}
	if err := k.start(ctx, p); err != nil {
		k.l.logf("driver pod %s: %v", p.Name, err)
		_ = k.writeStatus(ctx, p, finished(p, 128, "lab: "+err.Error()))
	}
}

// start runs the pod's only container as a local process.
func (k *driverKubelet) start(ctx context.Context, p *corev1.Pod) error {
	c := p.Spec.Containers[0]
	if len(c.Command) == 0 || c.Command[0] != job.DriverBinary {
		return fmt.Errorf("command %v is not the edgeupgrade image's %s", c.Command, job.DriverBinary)
	}
	dir := k.l.path("pods", p.Name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	kc, err := k.kubeconfig(ctx, p, dir)
	if err != nil {
		return err
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	for _, e := range c.Env {
		v := e.Value
		if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			v = fieldOf(p, e.ValueFrom.FieldRef.FieldPath)
		}
		env = append(env, e.Name+"="+v)
	}
	logf, err := os.OpenFile(k.l.path("logs", "pod-"+p.Name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer func() { _ = logf.Close() }()
	argv := append(append(append([]string{}, c.Command[1:]...), c.Args...), "--kubeconfig", kc)
	cmd := exec.Command(k.binary, argv...)
	cmd.Env, cmd.Dir = env, dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	proc := &driverProc{pod: p.Name, cmd: cmd, done: make(chan struct{})}
	k.mu.Lock()
	k.procs[p.UID] = proc
	k.mu.Unlock()
	k.l.pidsMu.Lock()
	k.l.pids[cmd.Process.Pid] = "pod/" + p.Name
	k.l.pidsMu.Unlock()
	k.l.logf("driver pod %s on %s: running %s as pid %d", p.Name, p.Spec.NodeName, strings.Join(argv, " "), cmd.Process.Pid)
	if err := k.writeStatus(ctx, p, runningPod(p)); err != nil {
		k.l.logf("driver pod %s: %v", p.Name, err)
	}
	k.wg.Go(func() { k.wait(ctx, p, proc) })
	return nil
}

// wait reports the process's end as the pod's.
func (k *driverKubelet) wait(ctx context.Context, p *corev1.Pod, proc *driverProc) {
	_ = proc.cmd.Wait()
	close(proc.done)
	code := proc.cmd.ProcessState.ExitCode()
	if ws, ok := proc.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		code = 128 + int(ws.Signal()) // as a container runtime reports a killed process
	}
	k.l.pidsMu.Lock()
	delete(k.l.pids, proc.cmd.Process.Pid)
	k.l.pidsMu.Unlock()
	k.l.logf("driver pod %s: exited %d", p.Name, code)
	// A deleted pod too ends in a terminal phase, as a kubelet reports it: the job
	// controller replaces it only then.
	cur, err := k.l.Client.CoreV1().Pods(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
	if err == nil && cur.UID == p.UID {
		if err := k.writeStatus(ctx, cur, finished(cur, code, lastLine(k.l.path("logs", "pod-"+p.Name+".log")))); err != nil {
			k.l.logf("driver pod %s: %v", p.Name, err)
		}
	}
	k.mu.Lock()
	delete(k.procs, p.UID)
	k.mu.Unlock()
}

// stop ends a pod's process: SIGTERM, then SIGKILL after grace.
func (k *driverKubelet) stop(uid types.UID, grace time.Duration) {
	k.mu.Lock()
	proc := k.procs[uid]
	k.mu.Unlock()
	if proc == nil {
		return
	}
	_ = syscall.Kill(-proc.cmd.Process.Pid, syscall.SIGTERM)
	go func() {
		select {
		case <-proc.done:
		case <-time.After(grace):
			_ = syscall.Kill(-proc.cmd.Process.Pid, syscall.SIGKILL)
		}
	}()
}

func (k *driverKubelet) stopAll() {
	k.mu.Lock()
	for _, p := range k.procs {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	}
	k.mu.Unlock()
	k.wg.Wait()
}

// kubeconfig writes a kubeconfig with a token of the pod's ServiceAccount, bound to
// the pod: it stops working when the pod is deleted, as a projected token does.
func (k *driverKubelet) kubeconfig(ctx context.Context, p *corev1.Pod, dir string) (string, error) {
	sa := p.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	tr, err := k.l.Client.CoreV1().ServiceAccounts(p.Namespace).CreateToken(ctx, sa, &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: ptr.To[int64](3600),
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: p.Name, UID: p.UID},
	}}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("token of ServiceAccount %s/%s: %w", p.Namespace, sa, err)
	}
	ca, err := os.ReadFile(k.l.path("pki", "ca.crt"))
	if err != nil {
		return "", err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["lab"] = &clientcmdapi.Cluster{Server: k.l.Server, CertificateAuthorityData: ca}
	cfg.AuthInfos[sa] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	cfg.Contexts["lab"] = &clientcmdapi.Context{Cluster: "lab", AuthInfo: sa, Namespace: p.Namespace}
	cfg.CurrentContext = "lab"
	path := filepath.Join(dir, "kubeconfig")
	return path, clientcmd.WriteToFile(*cfg, path)
}

func fieldOf(p *corev1.Pod, path string) string {
	switch path {
	case "metadata.name":
		return p.Name
	case "metadata.namespace":
		return p.Namespace
	case "metadata.uid":
		return string(p.UID)
	case "spec.nodeName":
		return p.Spec.NodeName
	case "spec.serviceAccountName":
		return p.Spec.ServiceAccountName
	}
	return ""
}

func (k *driverKubelet) writeStatus(ctx context.Context, p *corev1.Pod, st corev1.PodStatus) error {
	cp := p.DeepCopy()
	st.QOSClass = p.Status.QOSClass
	cp.Status = st
	_, err := k.l.Client.CoreV1().Pods(cp.Namespace).UpdateStatus(ctx, cp, metav1.UpdateOptions{FieldManager: "edgeupgrade-lab-driver"})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func podConditions(ready corev1.ConditionStatus, now metav1.Time) []corev1.PodCondition {
	var out []corev1.PodCondition
	for _, t := range []corev1.PodConditionType{corev1.PodScheduled, corev1.PodInitialized} {
		out = append(out, corev1.PodCondition{Type: t, Status: corev1.ConditionTrue, LastTransitionTime: now})
	}
	for _, t := range []corev1.PodConditionType{corev1.ContainersReady, corev1.PodReady} {
		out = append(out, corev1.PodCondition{Type: t, Status: ready, LastTransitionTime: now})
	}
	return out
}

func runningPod(p *corev1.Pod) corev1.PodStatus {
	now := metav1.Now()
	c := p.Spec.Containers[0]
	return corev1.PodStatus{
		Phase: corev1.PodRunning, StartTime: &now, HostIP: NodeAddress, HostIPs: []corev1.HostIP{{IP: NodeAddress}},
		Conditions: podConditions(corev1.ConditionTrue, now),
		ContainerStatuses: []corev1.ContainerStatus{{Name: c.Name, Image: c.Image, ImageID: c.Image, Ready: true, Started: ptr.To(true),
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}}},
	}
}

func finished(p *corev1.Pod, code int, msg string) corev1.PodStatus {
	now := metav1.Now()
	c := p.Spec.Containers[0]
	phase, reason := corev1.PodSucceeded, "Completed"
	if code != 0 {
		phase, reason = corev1.PodFailed, "Error"
	}
	started := now
	if p.Status.StartTime != nil {
		started = *p.Status.StartTime
	}
	conds := podConditions(corev1.ConditionFalse, now)
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.DisruptionTarget { // set by an eviction: kept, as a kubelet keeps it
			conds = append(conds, c)
		}
	}
	return corev1.PodStatus{
		Phase: phase, StartTime: &started, HostIP: NodeAddress, HostIPs: []corev1.HostIP{{IP: NodeAddress}},
		Conditions: conds,
		ContainerStatuses: []corev1.ContainerStatus{{Name: c.Name, Image: c.Image, ImageID: c.Image, Started: ptr.To(false),
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: int32(code), Reason: reason, Message: msg, StartedAt: started, FinishedAt: now}}}},
	}
}

// lastLine is a terminated container's message (FallbackToLogsOnError): its log's
// last line, at most 4 KiB.
func lastLine(path string) string {
	b, _ := os.ReadFile(path)
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	last := string(lines[len(lines)-1])
	if len(last) > 4096 {
		last = last[:4096]
	}
	return last
}

// DriverPIDs returns the process of every running driver and watchdog pod, by pod name.
func (l *Lab) DriverPIDs() map[string]int {
	out := map[string]int{}
	if l.drivers == nil {
		return out
	}
	l.drivers.mu.Lock()
	defer l.drivers.mu.Unlock()
	for _, p := range l.drivers.procs {
		out[p.pod] = p.cmd.Process.Pid
	}
	return out
}

// PodLog returns what a driver or watchdog pod's process printed.
func (l *Lab) PodLog(pod string) string {
	b, _ := os.ReadFile(l.path("logs", "pod-"+pod+".log"))
	return string(b)
}

// DriverPods lists the names of the driver and watchdog pods the lab ran, sorted.
func (l *Lab) DriverPods() []string {
	entries, _ := os.ReadDir(l.path("pods"))
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}
