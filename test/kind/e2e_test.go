package kindlab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/kind/pkg/cluster/nodes"
)

// env is what test/kind/e2e.sh passes: the images it built and where things are.
type env struct {
	nodeImage, from, to       string
	preprocessImage, upgrade  string
	archivesAll, archivesCP   []string
	workloadArchive, artifact string
	repo                      string
}

func readEnv(t *testing.T) env {
	if os.Getenv("EDGEUPGRADE_KIND") != "1" {
		t.Skip("the kind lab runs from `make e2e-kind` (test/kind/e2e.sh), which starts its dockerd and builds its images")
	}
	get := func(k string) string {
		v := os.Getenv(k)
		if v == "" {
			t.Fatalf("%s is not set: run `make e2e-kind`", k)
		}
		return v
	}
	return env{
		nodeImage: get("KIND_NODE_IMAGE"), from: get("KIND_FROM"), to: get("KIND_TO"),
		preprocessImage: get("KIND_PREPROCESS_IMAGE"), upgrade: get("KIND_UPGRADE_IMAGE"),
		archivesAll: strings.Split(get("KIND_ARCHIVES_ALL"), ":"), archivesCP: strings.Split(get("KIND_ARCHIVES_CP"), ":"),
		workloadArchive: get("KIND_WORKLOAD_ARCHIVE"), artifact: get("KIND_ARTIFACTS"), repo: get("KIND_REPO_ROOT"),
	}
}

const (
	clusterName = "eukind"
	cpNode      = clusterName + "-control-plane"
	workerNode  = clusterName + "-worker"  // runs the workload
	brokenNode  = clusterName + "-worker2" // its new kubelet cannot start (the failure case)
	workload    = "lab-workload"
	// The failure knob: a systemd drop-in that gives the target's kubelet a flag it
	// rejects, like a node whose unit carries a flag the new release removed. systemd
	// restarts the kubelet every second (kind's unit: Restart=always, RestartSec=1s);
	// the old kubelet of the rollback starts normally. The binary is told apart by the
	// version string linked into it (running it here would add kubelet processes of
	// its own to those the agent watches).
	breakDropIn = "/etc/systemd/system/kubelet.service.d/99-eukind-break.conf"
)

func breakUnit(version string) string {
	return fmt.Sprintf(`[Service]
ExecStartPre=/bin/sh -c 'if grep -qaF %s /usr/bin/kubelet; then echo KUBELET_EXTRA_ARGS=--eukind-broken-flag; fi > /run/eukind-break.env'
EnvironmentFile=-/run/eukind-break.env
`, version)
}

func TestKindUpgrade(t *testing.T) {
	e := readEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	p := NewProvider(os.Stderr)
	_ = p.Delete(clusterName, "") // a cluster a killed run left behind
	timings := &stages{t: t}

	timings.begin("kind create cluster (1 control plane, 2 workers, " + e.from + "), CNI, images onto the nodes")
	lab, cs, err := Up(ctx, p, clusterName, e.nodeImage, kubeconfig, 2, Images{
		All: e.archivesAll, ControlPlane: e.archivesCP, Node: map[string][]string{workerNode: {e.workloadArchive}},
	})
	timings.end()
	defer func() {
		if t.Failed() {
			collect(t, lab, e)
		}
		if os.Getenv("KIND_KEEP") == "1" {
			t.Logf("KIND_KEEP=1: cluster %s kept (KUBECONFIG=%s)", clusterName, kubeconfig)
			return
		}
		timings.begin("kind delete cluster")
		if err := p.Delete(clusterName, kubeconfig); err != nil {
			t.Errorf("kind delete cluster: %v", err)
		}
		timings.end()
		timings.print()
	}()
	if err != nil {
		t.Fatal(err)
	}
	kn, err := lab.Nodes()
	if err != nil || len(kn) != 3 {
		t.Fatalf("nodes: %v %v", kn, err)
	}
	// Nothing the nodes run can reach past the lab's network: it is internal, and the
	// nodes' default route (Docker gives them one, to the host's end of the bridge)
	// ends at the lab's host firewall rule (dockerd.sh).
	internal, err := exec.Command("docker", "network", "inspect", "-f", "{{.Internal}}", "kind").Output()
	if err != nil {
		t.Errorf("docker network inspect kind: %v", err)
	}
	expect(t, "the nodes' Docker network is internal", strings.TrimSpace(string(internal)), "true")
	err = exec.Command("iptables", "-C", "FORWARD", "-i", "eukind0", "!", "-o", "eukind0", "-m", "comment", "--comment", "edgeupgrade kind lab: nothing leaves", "-j", "DROP").Run()
	check(t, "the host drops what the nodes would send past their bridge", err == nil)
	hostEnd := bridgeAddress(t, "eukind0")
	for name, n := range kn {
		r := strings.Fields(mustExec(t, n, nil, "ip", "route", "show", "default"))
		check(t, name+": its default route, if any, is the bridge's host end "+hostEnd+": "+strings.Join(r, " "), len(r) == 0 || (len(r) >= 3 && r[2] == hostEnd))
	}

	timings.begin("workload Ready")
	wl := startWorkload(ctx, t, cs)
	timings.end()
	t.Logf("workload pod %s uid %s on %s", wl.Name, wl.UID, wl.Spec.NodeName)

	run := runner{t: t, kubeconfig: kubeconfig, e: e, dir: dir}
	run.kubectl("apply", "-f", filepath.Join(e.repo, "manifests"))

	timings.begin("kubectl edgeupgrade check")
	var chk struct {
		Results []struct{ ID, Severity, Result string } `json:"results"`
	}
	// --runtime-version none: this lab keeps Debian's containerd 1.6 (the containerd
	// upgrade runs in the real-cluster lab; docs/kind.md says what this one would need).
	run.pluginJSON(&chk, "check", "--to", e.to, "--runtime-version", "none", "-o", "json")
	var errIDs []string
	for _, r := range chk.Results {
		if r.Severity == "error" && r.Result == "failed" {
			errIDs = append(errIDs, r.ID)
		}
	}
	// Debian 12's containerd is 1.6; upstream supports 1.36 only on containerd 2.x
	// (the real-cluster lab's node base is the same).
	expect(t, "check: the only error is runtime-version (containerd 1.6 on Debian 12)", fmt.Sprint(errIDs), "[runtime-version]")
	out, rc := run.plugin("check", "--to", e.to, "--deep", "--preprocess-image", e.preprocessImage, "--runtime-version", "none", "--skip-check", "runtime-version")
	timings.end()
	expect(t, "check --deep passes with runtime-version skipped:\n"+out, fmt.Sprint(rc), "0")

	// The failure case and the upgrade in one run, as in the real-cluster lab.
	broken := kn[brokenNode]
	mustExec(t, broken, strings.NewReader(breakUnit(e.to)), "sh", "-c", "cat > "+breakDropIn+" && systemctl daemon-reload")
	// The upgrade image as the plugin names it (--image-registry): the runtime left
	// alone, every node gets the base image, without containerd (asserted below).
	registry := e.upgrade[:strings.LastIndex(e.upgrade, "/upgrade:")]
	upgradeFlags := []string{"--to", e.to, "--preprocess-image", e.preprocessImage, "--image-registry", registry,
		"--job-timeout", "20m", "--runtime-version", "none", "--skip-check", "runtime-version"}
	timings.begin("upgrade run: control plane ok, " + brokenNode + " fails and rolls back")
	out, rc = run.plugin(append([]string{"start", "--wait"}, upgradeFlags...)...)
	timings.end()
	t.Logf("start --wait (exit %d):\n%s", rc, out)
	expect(t, "start --wait ends paused (exit 3)", fmt.Sprint(rc), "3")
	var st status
	run.pluginJSON(&st, "status", "-o", "json")
	expect(t, "status: phase Paused by an error", fmt.Sprint(st.Phase, " ", st.Pause.ByError), "Paused true")
	failed := ""
	for _, f := range st.Failures {
		if f.Node == brokenNode {
			failed = f.Message
		}
	}
	check(t, "status: the failure names "+brokenNode+", the kubelet crash loop and the rollback: "+failed,
		strings.Contains(failed, "kubelet crash loop") && strings.HasSuffix(failed, "rolled back to "+e.from))
	expect(t, "the control plane is upgraded meanwhile", kubeletVersion(ctx, t, cs, cpNode), e.to)
	expect(t, brokenNode+" was rolled back (Node)", kubeletVersion(ctx, t, cs, brokenNode), e.from)
	expect(t, brokenNode+"'s kubelet on disk is "+e.from+" again", diskVersion(t, broken, "/usr/bin/kubelet"), e.from)
	check(t, brokenNode+" is Ready after the rollback", waitReady(ctx, cs, brokenNode) == nil)
	var res lastResult
	readJSON(t, broken, "/var/lib/edgeupgrade/last-result.json", &res)
	expect(t, "the agent recorded rolled-back, restarting with systemd", res.Result+" "+res.KubeletRestart, "rolled-back systemd")
	check(t, "the failed verify took < 60s (crash-loop detection): "+res.steps(), res.stepUnder("verify", time.Minute))
	check(t, "the rollback restarted the kubelet with systemd: "+res.steps(), res.has("rollback-restart-kubelet"))
	expect(t, brokenNode+": systemd runs the restored kubelet", runningKubelet(t, broken), "/usr/bin/kubelet "+e.from)
	_, rc = run.plugin("resume")
	check(t, "resume is refused while failed pods remain", rc != 0)

	// The operator fixes the node and retries it.
	mustExec(t, broken, nil, "sh", "-c", "rm -f "+breakDropIn+" /run/eukind-break.env && systemctl daemon-reload")
	timings.begin("resume --retry-failed: " + brokenNode + " ok")
	out, rc = run.plugin("resume", "--retry-failed", "--wait")
	timings.end()
	t.Logf("resume --retry-failed --wait (exit %d):\n%s", rc, out)
	expect(t, "resume --retry-failed --wait completes the run", fmt.Sprint(rc), "0")

	timings.begin("assertions")
	run.pluginJSON(&st, "status", "-o", "json")
	expect(t, "status: Completed, 3/3 nodes upgraded", fmt.Sprint(st.Phase, " ", st.Nodes.Upgraded, "/", st.Nodes.Total), "Completed 3/3")
	sv, err := cs.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	expect(t, "API server version", sv.GitVersion, e.to)
	for name, n := range kn {
		expect(t, name+": Node kubelet version", kubeletVersion(ctx, t, cs, name), e.to)
		check(t, name+": Ready", waitReady(ctx, cs, name) == nil)
		expect(t, name+": kubelet on disk", diskVersion(t, n, "/usr/bin/kubelet"), e.to)
		expect(t, name+": kubeadm on disk", strings.TrimSpace(mustExec(t, n, nil, "kubeadm", "version", "-o", "short")), e.to)
		expect(t, name+": systemd's kubelet.service runs the new binary", runningKubelet(t, n), "/usr/bin/kubelet "+e.to)
		expect(t, name+": backed-up kubelet", diskVersion(t, n, "/var/lib/edgeupgrade/backup/"+e.from+"/files/usr/bin/kubelet"), e.from)
		var r lastResult
		readJSON(t, n, "/var/lib/edgeupgrade/last-result.json", &r)
		expect(t, name+": the agent restarted the kubelet with systemd", r.Result+" "+r.KubeletRestart, "succeeded systemd")
		// systemd's journal: the agent's `systemctl restart kubelet` stopped the old
		// kubelet and started the new one (a restart, not a crash: NRestarts counts
		// only systemd's own restarts after a failure).
		j := mustExec(t, n, nil, "journalctl", "-u", "kubelet", "--no-pager", "-o", "cat")
		check(t, name+": the journal shows kubelet.service stopped and started by systemctl",
			strings.Contains(j, "Stopped kubelet.service") || strings.Contains(j, "Stopping kubelet.service"))
	}
	jobs, err := cs.BatchV1().Jobs("kube-upgrade").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs.Items {
		c := j.Spec.Template.Spec.Containers
		if kind := j.Labels["app.kubernetes.io/component"]; kind == "stage" || kind == "node-upgrade" {
			img := c[len(c)-1].Image // the upgrade container: staging's second, the node Job's only
			check(t, j.Name+" ("+kind+") runs the base upgrade image "+e.upgrade+", without containerd: "+img, img == e.upgrade)
		}
	}
	ap, err := cs.CoreV1().Pods("kube-system").Get(ctx, "kube-apiserver-"+cpNode, metav1.GetOptions{})
	if err == nil {
		check(t, "kube-apiserver static pod runs "+e.to+": "+ap.Spec.Containers[0].Image, strings.HasSuffix(ap.Spec.Containers[0].Image, ":"+e.to))
	} else {
		t.Errorf("kube-apiserver pod: %v", err)
	}
	kp, err := cs.AppsV1().DaemonSets("kube-system").Get(ctx, "kube-proxy", metav1.GetOptions{})
	if err == nil {
		check(t, "kube-proxy DaemonSet is "+e.to, strings.HasSuffix(kp.Spec.Template.Spec.Containers[0].Image, ":"+e.to))
	} else {
		t.Errorf("kube-proxy: %v", err)
	}
	now := workloadPod(ctx, t, cs)
	expect(t, "workload pod kept its UID", string(now.UID), string(wl.UID))
	if len(now.Status.ContainerStatuses) == 1 && len(wl.Status.ContainerStatuses) == 1 {
		expect(t, "workload container is the same container", now.Status.ContainerStatuses[0].ContainerID, wl.Status.ContainerStatuses[0].ContainerID)
		expect(t, "workload container restarts", fmt.Sprint(now.Status.ContainerStatuses[0].RestartCount), fmt.Sprint(wl.Status.ContainerStatuses[0].RestartCount))
		check(t, "workload pod Ready", now.Status.ContainerStatuses[0].Ready)
	} else {
		t.Errorf("workload container statuses: %+v", now.Status.ContainerStatuses)
	}
	checkEvents(ctx, t, cs)
	timings.end()
}

// --- the plugin and kubectl -----------------------------------------------------------

type runner struct {
	t          *testing.T
	kubeconfig string
	e          env
	dir        string
}

// plugin runs `kubectl edgeupgrade ARGS` (kubectl finds the plugin on PATH, set by
// e2e.sh) and returns its combined output and exit code.
func (r runner) plugin(args ...string) (string, int) {
	out, errOut, rc := r.run("kubectl", append([]string{"edgeupgrade"}, args...)...)
	return out + errOut, rc
}

// pluginJSON decodes the standard output of `kubectl edgeupgrade ARGS` into v.
func (r runner) pluginJSON(v any, args ...string) int {
	out, errOut, rc := r.run("kubectl", append([]string{"edgeupgrade"}, args...)...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		r.t.Fatalf("kubectl edgeupgrade %s (exit %d): %v\n%s%s", strings.Join(args, " "), rc, err, out, errOut)
	}
	return rc
}

func (r runner) kubectl(args ...string) string {
	out, errOut, rc := r.run("kubectl", args...)
	if rc != 0 {
		r.t.Fatalf("kubectl %s: exit %d\n%s%s", strings.Join(args, " "), rc, out, errOut)
	}
	return out
}

func (r runner) run(name string, args ...string) (string, string, int) {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+r.kubeconfig)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return stdout.String(), stderr.String(), 0
	case errors.As(err, &ee):
		return stdout.String(), stderr.String(), ee.ExitCode()
	default:
		r.t.Fatalf("%s: %v", name, err)
		return "", "", -1
	}
}

type status struct {
	Phase string `json:"phase"`
	Pause struct {
		ByError bool `json:"byError"`
	} `json:"pause"`
	Failures []struct{ Node, Container, Message string } `json:"failures"`
	Nodes    struct{ Upgraded, Total int }               `json:"nodes"`
}

type lastResult struct {
	Result         string `json:"result"`
	KubeletRestart string `json:"kubeletRestart"`
	Steps          []struct {
		Name     string `json:"name"`
		Duration string `json:"duration"`
	} `json:"steps"`
}

func (r lastResult) steps() string {
	var s []string
	for _, st := range r.Steps {
		s = append(s, st.Name+" "+st.Duration)
	}
	return strings.Join(s, ", ")
}

func (r lastResult) has(name string) bool {
	for _, st := range r.Steps {
		if st.Name == name {
			return true
		}
	}
	return false
}

func (r lastResult) stepUnder(name string, limit time.Duration) bool {
	for _, st := range r.Steps {
		if st.Name == name {
			d, err := time.ParseDuration(st.Duration)
			return err == nil && d < limit
		}
	}
	return false
}

// bridgeAddress is the host's IPv4 address on a bridge.
func bridgeAddress(t *testing.T, name string) string {
	i, err := net.InterfaceByName(name)
	if err != nil {
		t.Errorf("bridge %s: %v", name, err)
		return ""
	}
	addrs, _ := i.Addrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
			return n.IP.String()
		}
	}
	t.Errorf("bridge %s has no IPv4 address", name)
	return ""
}

// --- the nodes --------------------------------------------------------------------------

func mustExec(t *testing.T, n nodes.Node, stdin *strings.Reader, name string, args ...string) string {
	t.Helper()
	var out string
	var err error
	if stdin != nil {
		out, err = Exec(n, stdin, name, args...)
	} else {
		out, err = Exec(n, nil, name, args...)
	}
	if err != nil {
		t.Errorf("%v", err)
	}
	return out
}

var versionRE = regexp.MustCompile(`v\d+\.\d+\.\d+`)

// diskVersion is the version a kubelet binary on the node reports.
func diskVersion(t *testing.T, n nodes.Node, path string) string {
	return versionRE.FindString(mustExec(t, n, nil, path, "--version"))
}

// runningKubelet is the executable and version of kubelet.service's main process.
func runningKubelet(t *testing.T, n nodes.Node) string {
	out := mustExec(t, n, nil, "sh", "-c", `p=$(systemctl show -p MainPID --value kubelet) && e=$(readlink /proc/$p/exe) && echo "$e $($e --version)"`)
	f := strings.Fields(out)
	if len(f) == 0 {
		return ""
	}
	return f[0] + " " + versionRE.FindString(out)
}

func readJSON(t *testing.T, n nodes.Node, path string, v any) {
	out := mustExec(t, n, nil, "cat", path)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Errorf("%s on %s: %v", path, n, err)
	}
}

func kubeletVersion(ctx context.Context, t *testing.T, cs kubernetes.Interface, name string) string {
	n, err := cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Errorf("node %s: %v", name, err)
		return ""
	}
	return n.Status.NodeInfo.KubeletVersion
}

func waitReady(ctx context.Context, cs kubernetes.Interface, name string) error {
	return poll(ctx, 2*time.Minute, func() (bool, error) {
		n, err := cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		return err == nil && Ready(n), nil
	})
}

// --- the workload -------------------------------------------------------------------

func startWorkload(ctx context.Context, t *testing.T, cs kubernetes.Interface) *corev1.Pod {
	labels := map[string]string{"app": workload}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: workload, Namespace: "default", Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					NodeSelector:                  map[string]string{"kubernetes.io/hostname": workerNode},
					TerminationGracePeriodSeconds: ptr.To[int64](5),
					Containers: []corev1.Container{{
						Name: "app", Image: "registry.local/eulab/workload:v1",
						// Loaded on the node: nothing is ever pulled in the lab.
						ImagePullPolicy: corev1.PullNever,
					}},
				},
			},
		},
	}
	if _, err := cs.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var pod *corev1.Pod
	err := poll(ctx, 3*time.Minute, func() (bool, error) {
		pod = workloadPod(ctx, t, cs)
		return pod != nil && len(pod.Status.ContainerStatuses) == 1 && pod.Status.ContainerStatuses[0].Ready, nil
	})
	if err != nil {
		t.Fatalf("workload did not become Ready: %v (%+v)", err, pod)
	}
	return pod
}

func workloadPod(ctx context.Context, t *testing.T, cs kubernetes.Interface) *corev1.Pod {
	l, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=" + workload})
	if err != nil || len(l.Items) != 1 {
		t.Logf("workload pods: %v", err)
		return nil
	}
	return &l.Items[0]
}

// checkEvents: the run's story in Events, as the real-cluster lab asserts it.
func checkEvents(ctx context.Context, t *testing.T, cs kubernetes.Interface) {
	l, err := cs.CoreV1().Events("").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Errorf("events: %v", err)
		return
	}
	var seen []string
	for _, ev := range l.Items {
		seen = append(seen, ev.Reason+" "+ev.Message)
	}
	has := func(reason, sub string) bool {
		for _, s := range seen {
			if strings.HasPrefix(s, reason+" ") && strings.Contains(s, sub) {
				return true
			}
		}
		return false
	}
	for _, w := range [][2]string{
		{"UpgradeStarted", ""}, {"NodeUpgraded", cpNode}, {"NodeUpgraded", workerNode}, {"NodeUpgraded", brokenNode},
		{"NodeUpgradeFailed", brokenNode}, {"UpgradePaused", ""}, {"UpgradeResumed", ""}, {"UpgradeCompleted", ""},
	} {
		check(t, "Events: "+w[0]+" "+w[1], has(w[0], w[1]))
	}
}

// collect copies what explains a failure into the artifacts directory.
func collect(t *testing.T, lab *Lab, e env) {
	if err := os.MkdirAll(e.artifact, 0o755); err != nil {
		return
	}
	kn, _ := lab.Nodes()
	for name, n := range kn {
		for f, cmd := range map[string]string{
			"kubelet.log":       "journalctl -u kubelet --no-pager",
			"containerd.log":    "journalctl -u containerd --no-pager",
			"edgeupgrade.txt":   "ls -lR /var/lib/edgeupgrade; cat /var/lib/edgeupgrade/*.json",
			"pods-upgrade.txt":  "tail -n 300 /var/log/pods/kube-upgrade_*/*/*.log",
			"systemctl-kubelet": "systemctl status kubelet --no-pager; systemctl cat kubelet",
		} {
			out, _ := Exec(n, nil, "sh", "-c", cmd)
			_ = os.WriteFile(filepath.Join(e.artifact, name+"-"+f), []byte(out), 0o644)
		}
	}
	t.Logf("artifacts in %s", e.artifact)
}

// --- assertions and timings -------------------------------------------------------------

func check(t *testing.T, what string, ok bool) {
	t.Helper()
	if ok {
		t.Logf("PASS: %s", what)
	} else {
		t.Errorf("FAIL: %s", what)
	}
}

func expect(t *testing.T, what, got, want string) {
	t.Helper()
	check(t, fmt.Sprintf("%s: %q", what, got), got == want)
	if got != want {
		t.Logf("  want %q", want)
	}
}

type stages struct {
	t     *testing.T
	name  string
	t0    time.Time
	lines []string
}

func (s *stages) begin(name string) { s.name, s.t0 = name, time.Now(); s.t.Logf("== %s", name) }
func (s *stages) end() {
	d := time.Since(s.t0).Round(100 * time.Millisecond)
	s.t.Logf("== %s: %s", s.name, d)
	s.lines = append(s.lines, fmt.Sprintf("%-72s %8.1f s", s.name, d.Seconds()))
}
func (s *stages) print() {
	s.t.Logf("kind lab timings (this run):\n%s", strings.Join(s.lines, "\n"))
}
