// Package lab starts a throw-away Kubernetes cluster for end-to-end tests of
// kubectl-edgeupgrade: a real control plane (etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, all on 127.0.0.1) with kwok simulating the
// nodes and package sim simulating the kubelet upgrade the plugin's Jobs perform.
//
//	l, err := lab.Start(ctx, lab.Config{Masters: 3, Workers: 20, Pools: 2, From: "v1.35.4"})
//	if err != nil { ... }
//	defer l.Stop()
//	// l.Kubeconfig, l.OperatorKubeconfig, l.RESTConfig, l.SetFail(ctx, "edge-a-001", "disk full") ...
//
// Binaries come from the cache the hack/ scripts fill (`make lab-tools`).
package lab

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/edgeupgrade/kubectl-edgeupgrade/test/lab/sim"
)

// Config describes a lab. The zero value of a field means its default.
type Config struct {
	// Dir holds the lab's data, logs, PKI, kubeconfigs and pids file. Empty: a new
	// temporary directory. Stop (or `edgeupgrade-lab down`) removes it.
	Dir string
	// KeepDir keeps Dir on Stop (for reading logs after a failed test).
	KeepDir bool

	Masters      int // control-plane nodes (label and NoSchedule taint)
	Workers      int // edge workers, spread over Pools
	Pools        int // edge node pools (default 1 when Workers > 0)
	CloudWorkers int // cloud workers, pool "cloud"
	// From is the kubelet version every node reports, e.g. "v1.35.4".
	From string
	// Unready nodes are NotReady from the start (and until SetReady).
	Unready []string

	// JobDuration is how long a simulated node upgrade takes (default 2s).
	JobDuration time.Duration
	// Fail maps a node to the message its upgrade fails with ("preprocess: ..." fails
	// the init container).
	Fail map[string]string
	// Hang nodes never finish their upgrade pod (the Job deadline fails it).
	Hang []string
	// NotReadyDuring nodes go NotReady when their upgrade pod starts: for the given
	// duration then the upgrade completes, or, with 0, for good (the pod never reports).
	NotReadyDuring map[string]time.Duration

	// NodeLeaseSeconds is kwok's node lease duration. Default 40 (the kubelet default),
	// 240 from 500 nodes on: kwok renews every lease each quarter of it, which at
	// 2,000 nodes and 40 s costs about a core. The controller manager's node grace
	// period is raised to match.
	NodeLeaseSeconds int
	// PodSecurityDefault is the Pod Security level enforced in namespaces without a
	// pod-security.kubernetes.io/enforce label (default "baseline", as hardened
	// clusters do; "privileged" is the upstream default). The plugin's kube-upgrade
	// namespace must carry the privileged label.
	PodSecurityDefault string

	// Binaries overrides DefaultBinaries().
	Binaries *Binaries
	// Detach lets the daemons outlive this process (the CLI's `up`). Otherwise each
	// gets SIGKILL when this process dies.
	Detach bool
	// SimCommand runs the simulator as this command (the CLI passes
	// `edgeupgrade-lab sim ...`); empty runs it as a goroutine of this process.
	// The lab appends --kubeconfig PATH --ready-file PATH.
	SimCommand []string
	// DriverBinary is the driver binary (cmd/edgeupgrade-driver) that stands for the
	// edgeupgrade image: the lab runs the driver and watchdog pods as local processes of it, with a
	// token of the pod's ServiceAccount (driver.go). Empty: those pods stay Pending.
	// From Go only (not with SimCommand).
	DriverBinary string
	// NoContainerLogs leaves out the simulated agents' container logs: no file and no
	// kwok Logs object per pod, so `kubectl logs` of a node Job shows nothing. For the
	// benchmarks: a Logs object is one more API write per pod when a batch starts, a
	// cost of the lab's log plumbing that a kubelet does not have. From Go only.
	NoContainerLogs bool
	// Progress receives timing lines; nil discards them.
	Progress io.Writer
	// WatchEgress samples the sockets of the lab's processes from the start on and
	// records every peer outside loopback (Lab.Egress): tests may send traffic only to
	// 127.0.0.0/8. Not for big labs (it reads every daemon's file descriptors 10 times
	// a second).
	WatchEgress bool
}

// Lab is a running lab.
type Lab struct {
	Dir string
	// Kubeconfig is the admin's (system:masters); OperatorKubeconfig and
	// ViewerKubeconfig are OperatorUser's and ViewerUser's.
	Kubeconfig, OperatorKubeconfig, ViewerKubeconfig string
	// RESTConfig is the admin's, with QPS 1000.
	RESTConfig *rest.Config
	Client     kubernetes.Interface
	Topology   Topology
	// Server is the API server's URL.
	Server string

	cfg       Config
	daemons   []*daemon
	simCancel context.CancelFunc
	simDone   chan struct{}
	stopOnce  sync.Once
	progress  io.Writer
	start     time.Time

	pidsMu sync.Mutex
	pids   map[int]string // every process of the lab, by PID: the daemons and this one
	egress *egressWatch

	drivers    *driverKubelet // runs the driver pods (Config.DriverBinary)
	driverStop func()
}

func (c *Config) defaults() error {
	if c.Masters < 0 || c.Workers < 0 || c.Pools < 0 || c.CloudWorkers < 0 {
		return errors.New("node counts must not be negative")
	}
	if c.Masters+c.Workers+c.CloudWorkers == 0 {
		return errors.New("a lab needs at least one node: set --masters, --workers or --cloud-workers")
	}
	if c.Workers > 0 && c.Pools == 0 {
		c.Pools = 1
	}
	if c.Pools > c.Workers && c.Workers > 0 {
		return fmt.Errorf("%d pools for %d workers: every pool needs a worker", c.Pools, c.Workers)
	}
	if c.From == "" {
		return errors.New("set the kubelet version the nodes report (--from, e.g. v1.35.4)")
	}
	if !strings.HasPrefix(c.From, "v") || strings.Count(c.From, ".") != 2 {
		return fmt.Errorf("--from %q: want a version such as v1.35.4", c.From)
	}
	if c.JobDuration < 0 {
		return errors.New("job duration must not be negative")
	}
	if c.JobDuration == 0 {
		c.JobDuration = sim.DefaultJobDuration
	}
	if c.NodeLeaseSeconds == 0 {
		c.NodeLeaseSeconds = 40
		if c.Masters+c.Workers+c.CloudWorkers >= 500 {
			c.NodeLeaseSeconds = 240
		}
	}
	if c.PodSecurityDefault == "" {
		c.PodSecurityDefault = "baseline"
	}
	switch c.PodSecurityDefault {
	case "privileged", "baseline", "restricted":
	default:
		return fmt.Errorf("pod security level %q: want privileged, baseline or restricted", c.PodSecurityDefault)
	}
	known := map[string]bool{}
	for _, n := range c.Topology().Nodes() {
		known[n] = true
	}
	var unknown []string
	check := func(n string) {
		if !known[n] {
			unknown = append(unknown, n)
		}
	}
	for _, n := range c.Unready {
		check(n)
	}
	for n := range c.Fail {
		check(n)
	}
	for _, n := range c.Hang {
		check(n)
	}
	for n := range c.NotReadyDuring {
		check(n)
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return fmt.Errorf("unknown nodes %v: names are master-N, edge-<pool letter>-NNN, cloud-NN", unknown)
	}
	return nil
}

// Start brings a lab up and returns once the control plane is healthy, every node is
// Ready (or NotReady, for Unready nodes) and the simulator runs. Cancelling ctx
// during Start tears everything down. On error nothing is left running.
func Start(ctx context.Context, cfg Config) (*Lab, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	bins := cfg.Binaries
	if bins == nil {
		b, err := DefaultBinaries()
		if err != nil {
			return nil, err
		}
		bins = &b
	} else if err := bins.check(); err != nil {
		return nil, err
	}
	l := &Lab{cfg: cfg, Topology: cfg.Topology(), progress: cfg.Progress, start: time.Now(),
		pids: map[int]string{os.Getpid(): "lab"}}
	if l.progress == nil {
		l.progress = io.Discard
	}
	if cfg.WatchEgress {
		l.egress = startEgressWatch("/proc", l.processes)
	}
	if err := l.prepareDir(); err != nil {
		return nil, err
	}
	if err := l.up(ctx, *bins); err != nil {
		if ctx.Err() != nil {
			l.Stop()
			return nil, fmt.Errorf("lab start interrupted, everything stopped: %w", ctx.Err())
		}
		// Keep the logs of a lab in a directory the caller chose.
		l.cfg.KeepDir = l.cfg.KeepDir || cfg.Dir != ""
		l.Stop()
		if l.cfg.KeepDir {
			return nil, fmt.Errorf("%w (processes stopped; logs in %s)", err, l.path("logs"))
		}
		return nil, err
	}
	l.logf("lab up: %d nodes in %s (kubeconfig %s)", len(l.Topology.Nodes()), time.Since(l.start).Round(10*time.Millisecond), l.Kubeconfig)
	return l, nil
}

func (l *Lab) logf(format string, args ...any) {
	_, _ = fmt.Fprintf(l.progress, "%6.2fs  %s\n", time.Since(l.start).Seconds(), fmt.Sprintf(format, args...))
}

// prepareDir creates the lab directory, refusing one that a running lab owns.
func (l *Lab) prepareDir() error {
	dir := l.cfg.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "edgeupgrade-lab-")
		if err != nil {
			return err
		}
		dir = d
	} else {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return err
		}
		dir = abs
		if entries, err := readPids(dir); err == nil {
			for _, e := range entries {
				if ownedBy(e.pid, dir) {
					return fmt.Errorf("a lab is already running in %s (%s, pid %d): run `edgeupgrade-lab down --dir %s` first", dir, e.name, e.pid, dir)
				}
			}
		}
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	l.Dir = dir
	for _, sub := range []string{"logs", "pki", "etcd"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return err
		}
	}
	return nil
}

func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func (l *Lab) path(elem ...string) string { return filepath.Join(append([]string{l.Dir}, elem...)...) }

func (l *Lab) startDaemon(name string, argv []string) (*daemon, error) {
	d, err := startDaemon(name, l.path("logs"), l.cfg.Detach, argv)
	if err != nil {
		return nil, err
	}
	l.daemons = append(l.daemons, d)
	l.pidsMu.Lock()
	l.pids[d.cmd.Process.Pid] = name
	l.pidsMu.Unlock()
	// Record every PID at once so `down` (or Ctrl-C) finds a half-started lab.
	return d, writePids(l.Dir, l.daemons)
}

func (l *Lab) up(ctx context.Context, bins Binaries) error {
	ports, err := freePorts(6)
	if err != nil {
		return fmt.Errorf("find free ports: %w", err)
	}
	etcdPort, peerPort, apiPort, kcmPort, schedPort, kwokPort := ports[0], ports[1], ports[2], ports[3], ports[4], ports[5]
	l.Server = fmt.Sprintf("https://127.0.0.1:%d", apiPort)

	pk, err := newPKI(l.path("pki"))
	if err != nil {
		return fmt.Errorf("generate PKI: %w", err)
	}
	l.Kubeconfig = l.path("kubeconfig")
	l.OperatorKubeconfig = l.path("kubeconfig-operator")
	l.ViewerKubeconfig = l.path("kubeconfig-viewer")
	admin, err := pk.issue(AdminUser, []string{"system:masters"}, false)
	if err != nil {
		return err
	}
	for _, u := range []struct {
		path, user string
		groups     []string
		kp         *keyPair
	}{
		{l.Kubeconfig, AdminUser, nil, &admin},
		{l.OperatorKubeconfig, OperatorUser, []string{OperatorGroup}, nil},
		{l.ViewerKubeconfig, ViewerUser, []string{ViewerGroup}, nil},
	} {
		kp := u.kp
		if kp == nil {
			issued, err := pk.issue(u.user, u.groups, false)
			if err != nil {
				return err
			}
			kp = &issued
		}
		if err := writeKubeconfig(u.path, l.Server, u.user, pk.CACert, *kp); err != nil {
			return err
		}
	}
	if err := pk.write("admin", admin); err != nil {
		return err
	}
	kwokServing, err := pk.issue("kwok", nil, true)
	if err != nil {
		return err
	}
	if err := pk.write("kwok", kwokServing); err != nil {
		return err
	}
	l.logf("PKI and kubeconfigs written to %s", l.Dir)

	// etcd
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPort)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	etcd, err := l.startDaemon("etcd", []string{bins.Etcd,
		"--name=lab", "--data-dir=" + l.path("etcd"),
		"--listen-client-urls=" + etcdURL, "--advertise-client-urls=" + etcdURL,
		"--listen-peer-urls=" + peerURL, "--initial-advertise-peer-urls=" + peerURL,
		"--initial-cluster=lab=" + peerURL,
		"--quota-backend-bytes=8589934592", "--unsafe-no-fsync=true", "--log-level=warn",
	})
	if err != nil {
		return err
	}
	plain := &http.Client{Timeout: 2 * time.Second}
	if err := waitHealthy(ctx, etcd, plain, etcdURL+"/health", `"health":"true"`); err != nil {
		return err
	}
	l.logf("etcd %s ready", EtcdVersion)

	// kube-apiserver
	admission := l.path("admission.yaml")
	if err := os.WriteFile(admission, []byte(admissionConfig(l.cfg.PodSecurityDefault)), 0o644); err != nil {
		return err
	}
	api, err := l.startDaemon("kube-apiserver", []string{bins.APIServer,
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", apiPort),
		"--tls-cert-file=" + pk.path("apiserver.crt"), "--tls-private-key-file=" + pk.path("apiserver.key"),
		"--client-ca-file=" + pk.path("ca.crt"),
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + pk.path("sa.pub"), "--service-account-signing-key-file=" + pk.path("sa.key"),
		"--service-cluster-ip-range=10.96.0.0/16",
		"--authorization-mode=Node,RBAC",
		"--enable-admission-plugins=NodeRestriction",
		"--admission-control-config-file=" + admission,
		"--allow-privileged=true",
		// Node "kubelets" are kwok's server on 127.0.0.1 (every node's InternalIP), with a
		// certificate of the lab's CA. Only the InternalIP: a Hostname would go to DNS.
		"--kubelet-preferred-address-types=InternalIP",
		"--kubelet-certificate-authority=" + pk.path("ca.crt"),
		// The default/kubernetes endpoints would be 127.0.0.1, which the API rejects
		// every 10 s; nothing in the lab needs them.
		"--endpoint-reconciler-type=none",
	})
	if err != nil {
		return err
	}
	tlsClient, err := adminHTTPClient(pk.CACert, admin)
	if err != nil {
		return err
	}
	if err := waitHealthy(ctx, api, tlsClient, l.Server+"/readyz", "ok"); err != nil {
		return err
	}
	l.logf("kube-apiserver %s ready at %s", KubeVersion, l.Server)

	rc, err := clientcmd.BuildConfigFromFlags("", l.Kubeconfig)
	if err != nil {
		return err
	}
	rc.QPS, rc.Burst = 1000, 2000
	rc.ContentType = "application/vnd.kubernetes.protobuf"
	rc.UserAgent = "edgeupgrade-lab"
	l.RESTConfig = rc
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	l.Client = client

	// Controllers and kwok, started together.
	grace := 50
	if l.cfg.NodeLeaseSeconds+10 > grace {
		grace = l.cfg.NodeLeaseSeconds + 60
	}
	kcm, err := l.startDaemon("kube-controller-manager", []string{bins.ControllerManager,
		"--kubeconfig=" + l.Kubeconfig, "--authentication-kubeconfig=" + l.Kubeconfig, "--authorization-kubeconfig=" + l.Kubeconfig,
		"--bind-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", kcmPort), "--leader-elect=false",
		"--use-service-account-credentials=false",
		"--service-account-private-key-file=" + pk.path("sa.key"), "--root-ca-file=" + pk.path("ca.crt"),
		"--cluster-signing-cert-file=" + pk.path("ca.crt"), "--cluster-signing-key-file=" + pk.path("ca.key"),
		"--controllers=*",
		"--kube-api-qps=500", "--kube-api-burst=1000", "--concurrent-job-syncs=20",
		fmt.Sprintf("--node-monitor-grace-period=%ds", grace),
	})
	if err != nil {
		return err
	}
	sched, err := l.startDaemon("kube-scheduler", []string{bins.Scheduler,
		"--kubeconfig=" + l.Kubeconfig, "--authentication-kubeconfig=" + l.Kubeconfig, "--authorization-kubeconfig=" + l.Kubeconfig,
		"--bind-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", schedPort), "--leader-elect=false",
		"--kube-api-qps=500", "--kube-api-burst=1000",
	})
	if err != nil {
		return err
	}
	kwokAddr := fmt.Sprintf("%s:%d", NodeAddress, kwokPort)
	if err := l.installLogsCRD(ctx); err != nil {
		return err
	}
	if err := writeKwokConfig(l.path("kwok.yaml"), kwokAddr, kwokPort, pk.path("kwok.crt"), pk.path("kwok.key"), l.cfg.NodeLeaseSeconds); err != nil {
		return err
	}
	kwok, err := l.startDaemon("kwok", []string{bins.Kwok,
		"--kubeconfig=" + l.Kubeconfig, "--config=" + l.path("kwok.yaml"),
		"--manage-all-nodes=false", "--manage-nodes-with-annotation-selector=" + annotationKwokNode + "=" + kwokNodeValue,
		"--server-address=" + kwokAddr,
		"--v=WARN", // INFO logs every lease renewal
	})
	if err != nil {
		return err
	}

	// Cluster objects the lab owns.
	if err := l.bootstrap(ctx); err != nil {
		return err
	}
	nodes := l.cfg.nodeObjects(kwokPort)
	if err := createNodes(ctx, client, nodes); err != nil {
		return err
	}
	l.logf("%d nodes created", len(nodes))
	if err := l.applyInitialKnobs(ctx); err != nil {
		return err
	}
	if err := l.startSim(ctx); err != nil {
		return err
	}
	if err := l.startDriverKubelet(ctx); err != nil {
		return err
	}

	insecure := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	if err := waitHealthy(ctx, kcm, insecure, fmt.Sprintf("https://127.0.0.1:%d/healthz", kcmPort), "ok"); err != nil {
		return err
	}
	if err := waitHealthy(ctx, sched, insecure, fmt.Sprintf("https://127.0.0.1:%d/healthz", schedPort), "ok"); err != nil {
		return err
	}
	if err := waitHealthy(ctx, kwok, tlsClient, "https://"+kwokAddr+"/healthz", "ok"); err != nil {
		return err
	}
	// The job controller can create pods once the serviceaccount controller runs.
	if err := l.poll(ctx, kcm, func(ctx context.Context) (bool, error) {
		_, err := client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	}); err != nil {
		return fmt.Errorf("wait for the default ServiceAccount: %w", err)
	}
	l.logf("kube-controller-manager, kube-scheduler and kwok %s ready", KwokVersion)
	if err := l.waitNodes(ctx, kwok); err != nil {
		return err
	}
	if err := l.waitSim(ctx); err != nil {
		return err
	}
	return l.writeState()
}

func admissionConfig(level string) string {
	return fmt.Sprintf(`apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: PodSecurity
  configuration:
    apiVersion: pod-security.admission.config.k8s.io/v1
    kind: PodSecurityConfiguration
    defaults:
      enforce: %q
      enforce-version: latest
      audit: privileged
      warn: privileged
    exemptions: {}
`, level)
}

func writeKubeconfig(path, server, user string, ca []byte, kp keyPair) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["edgeupgrade-lab"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{ClientCertificateData: kp.Cert, ClientKeyData: kp.Key}
	cfg.Contexts["edgeupgrade-lab"] = &clientcmdapi.Context{Cluster: "edgeupgrade-lab", AuthInfo: user}
	cfg.CurrentContext = "edgeupgrade-lab"
	return clientcmd.WriteToFile(*cfg, path)
}

func adminHTTPClient(ca []byte, kp keyPair) (*http.Client, error) {
	cert, err := tls.X509KeyPair(kp.Cert, kp.Key)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	return &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}},
	}}, nil
}

// waitHealthy polls url until its body contains want, failing fast if d exits.
func waitHealthy(ctx context.Context, d *daemon, c *http.Client, url, want string) error {
	err := pollDaemon(ctx, d, func(ctx context.Context) (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false, err
		}
		resp, err := c.Do(req)
		if err != nil {
			return false, nil
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return resp.StatusCode == http.StatusOK && strings.Contains(string(b), want), nil
	})
	if err != nil {
		return fmt.Errorf("wait for %s: %w", d.name, err)
	}
	return nil
}

// startupTimeout bounds every wait in Start (a cold cache makes the first exec slow).
const startupTimeout = 3 * time.Minute

func pollDaemon(ctx context.Context, d *daemon, cond wait.ConditionWithContextFunc) error {
	ctx, cancel := context.WithTimeout(ctx, startupTimeout)
	defer cancel()
	return wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		if d != nil && d.exited() {
			return false, d.deadErr()
		}
		return cond(ctx)
	})
}

func (l *Lab) poll(ctx context.Context, d *daemon, cond wait.ConditionWithContextFunc) error {
	return pollDaemon(ctx, d, cond)
}

// bootstrap creates the simulator's ConfigMap and the FlowSchema for the lab users.
func (l *Lab) bootstrap(ctx context.Context) error {
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: sim.ConfigMapName, Namespace: sim.ConfigMapNamespace},
		Data:       map[string]string{sim.KeyJobDuration: l.cfg.JobDuration.String()},
	}
	if _, err := l.Client.CoreV1().ConfigMaps(cm.Namespace).Create(ctx, cm, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create ConfigMap %s/%s: %w", cm.Namespace, cm.Name, err)
	}
	all := []string{"*"}
	fs := &flowcontrolv1.FlowSchema{
		ObjectMeta: metav1.ObjectMeta{Name: FlowSchemaUsers},
		Spec: flowcontrolv1.FlowSchemaSpec{
			PriorityLevelConfiguration: flowcontrolv1.PriorityLevelConfigurationReference{Name: "global-default"},
			MatchingPrecedence:         9800, // before global-default (9900)
			DistinguisherMethod:        &flowcontrolv1.FlowDistinguisherMethod{Type: flowcontrolv1.FlowDistinguisherMethodByUserType},
			Rules: []flowcontrolv1.PolicyRulesWithSubjects{{
				Subjects: []flowcontrolv1.Subject{
					{Kind: flowcontrolv1.SubjectKindUser, User: &flowcontrolv1.UserSubject{Name: OperatorUser}},
					{Kind: flowcontrolv1.SubjectKindUser, User: &flowcontrolv1.UserSubject{Name: ViewerUser}},
				},
				ResourceRules: []flowcontrolv1.ResourcePolicyRule{{
					Verbs: all, APIGroups: all, Resources: all, ClusterScope: true, Namespaces: all,
				}},
				NonResourceRules: []flowcontrolv1.NonResourcePolicyRule{{Verbs: all, NonResourceURLs: all}},
			}},
		},
	}
	if _, err := l.Client.FlowcontrolV1().FlowSchemas().Create(ctx, fs, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create FlowSchema %s: %w", fs.Name, err)
	}
	return nil
}

func (l *Lab) applyInitialKnobs(ctx context.Context) error {
	nodes := map[string]bool{}
	for n := range l.cfg.Fail {
		nodes[n] = true
	}
	for _, n := range l.cfg.Hang {
		nodes[n] = true
	}
	for n := range l.cfg.NotReadyDuring {
		nodes[n] = true
	}
	for n := range nodes {
		if err := l.annotate(ctx, n, l.cfg.knobAnnotations(n)); err != nil {
			return err
		}
	}
	return nil
}

// startSim runs the simulator as a goroutine or, with SimCommand, as a daemon.
func (l *Lab) startSim(ctx context.Context) error {
	if len(l.cfg.SimCommand) > 0 {
		argv := append(slices.Clone(l.cfg.SimCommand), "--kubeconfig="+l.Kubeconfig, "--ready-file="+l.path("sim.ready"),
			"--container-logs="+l.path("containers"))
		_, err := l.startDaemon("sim", argv)
		return err
	}
	f, err := os.OpenFile(l.path("logs", "sim.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	opts := sim.Options{Log: f}
	if !l.cfg.NoContainerLogs {
		dyn, err := dynamic.NewForConfig(l.RESTConfig)
		if err != nil {
			return err
		}
		if opts.ContainerLogs, err = sim.NewContainerLogs(l.path("containers"), dyn); err != nil {
			return err
		}
	}
	s := sim.New(l.Client, opts)
	simCtx, cancel := context.WithCancel(context.Background())
	l.simCancel, l.simDone = cancel, make(chan struct{})
	go func() {
		defer close(l.simDone)
		// The simulator's log is where a failure is told: a failed write of it has
		// nowhere else to go.
		if err := s.Run(simCtx); err != nil {
			_, _ = fmt.Fprintf(f, "simulator stopped: %v\n", err)
		}
		_ = f.Close()
	}()
	select {
	case <-s.Synced():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(startupTimeout):
		return errors.New("simulator caches did not sync")
	}
}

// installLogsCRD creates kwok's Logs kind and waits until it is served: kwok watches it
// from its start.
func (l *Lab) installLogsCRD(ctx context.Context) error {
	dyn, err := dynamic.NewForConfig(l.RESTConfig)
	if err != nil {
		return err
	}
	crds := dyn.Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"})
	if _, err := crds.Create(ctx, sim.LogsCRD(), metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create kwok's Logs CRD: %w", err)
	}
	return l.poll(ctx, nil, func(ctx context.Context) (bool, error) {
		_, err := dyn.Resource(sim.LogsResource).Namespace("default").List(ctx, metav1.ListOptions{Limit: 1})
		return err == nil, nil
	})
}

func (l *Lab) waitSim(ctx context.Context) error {
	if len(l.cfg.SimCommand) == 0 {
		return nil
	}
	d := l.daemons[len(l.daemons)-1]
	return l.poll(ctx, d, func(context.Context) (bool, error) {
		_, err := os.Stat(l.path("sim.ready"))
		return err == nil, nil
	})
}

// waitNodes waits until every node reports Ready, except Unready ones, which must
// report NotReady.
func (l *Lab) waitNodes(ctx context.Context, kwok *daemon) error {
	want := map[string]corev1.ConditionStatus{}
	for _, n := range l.Topology.Nodes() {
		want[n] = corev1.ConditionTrue
	}
	for _, n := range l.cfg.Unready {
		want[n] = corev1.ConditionFalse
	}
	factory := informers.NewSharedInformerFactory(l.Client, 0)
	inf := factory.Core().V1().Nodes().Informer()
	stop := make(chan struct{})
	defer func() { close(stop); factory.Shutdown() }()
	factory.Start(stop)
	var pending int
	err := l.poll(ctx, kwok, func(context.Context) (bool, error) {
		if !inf.HasSynced() {
			return false, nil
		}
		pending = 0
		for name, status := range want {
			obj, ok, _ := inf.GetStore().GetByKey(name)
			if !ok || readyStatus(obj.(*corev1.Node)) != status {
				pending++
			}
		}
		return pending == 0, nil
	})
	if err != nil {
		return fmt.Errorf("wait for nodes (%d of %d not in the expected Ready state): %w", pending, len(want), err)
	}
	l.logf("%d nodes Ready, %d NotReady", len(want)-len(l.cfg.Unready), len(l.cfg.Unready))
	return nil
}

func readyStatus(n *corev1.Node) corev1.ConditionStatus {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status
		}
	}
	return corev1.ConditionUnknown
}

// Stop kills every process of the lab (SIGKILL to each process group) and removes
// its directory unless KeepDir is set. It is safe to call more than once.
// processes returns the lab's processes by PID.
func (l *Lab) processes() map[int]string {
	l.pidsMu.Lock()
	defer l.pidsMu.Unlock()
	return maps.Clone(l.pids)
}

// Egress returns what the egress watch saw so far (Config.WatchEgress), after one more
// sample; the zero report without it.
func (l *Lab) Egress() EgressReport {
	if l.egress == nil {
		return EgressReport{}
	}
	l.egress.sample()
	return l.egress.report()
}

func (l *Lab) Stop() {
	l.stopOnce.Do(func() {
		if l.egress != nil {
			l.egress.stop()
		}
		if l.driverStop != nil {
			l.driverStop()
		}
		if l.simCancel != nil {
			l.simCancel()
			<-l.simDone
		}
		for i := len(l.daemons) - 1; i >= 0; i-- {
			l.daemons[i].kill()
		}
		if !l.cfg.KeepDir && l.Dir != "" {
			_ = os.RemoveAll(l.Dir)
		}
	})
}

// PIDs returns the process IDs of the lab's daemons by name.
func (l *Lab) PIDs() map[string]int {
	out := map[string]int{}
	for _, d := range l.daemons {
		out[d.name] = d.pid()
	}
	return out
}

// Down stops the lab recorded in dir (by `up` in another process): it kills each
// recorded process group that still belongs to the lab, then removes dir. A missing
// dir is not an error.
func Down(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if _, err := os.Stat(abs); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	entries, err := readPids(abs)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("read %s: %w", filepath.Join(abs, pidsFile), err)
	}
	if err := killPids(abs, entries); err != nil {
		return err
	}
	return os.RemoveAll(abs)
}

// ---- runtime knobs: change the simulated behaviour of a node ----

func (l *Lab) annotate(ctx context.Context, node string, values map[string]*string) error {
	return sim.PatchNode(ctx, l.Client, node, map[string]any{"metadata": map[string]any{"annotations": values}}, "")
}

func strPtr(s string) *string { return &s }

// SetFail makes the node's next upgrade pods fail with message (prefix "preprocess:"
// to fail the init container); "" makes them succeed again.
func (l *Lab) SetFail(ctx context.Context, node, message string) error {
	var v *string
	if message != "" {
		v = strPtr(message)
	}
	return l.annotate(ctx, node, map[string]*string{sim.AnnotationFail: v})
}

// SetHang makes the node's upgrade pods stay Running until deleted. Turning it off lets
// a hanging pod finish.
func (l *Lab) SetHang(ctx context.Context, node string, hang bool) error {
	var v *string
	if hang {
		v = strPtr("true")
	}
	return l.annotate(ctx, node, map[string]*string{sim.AnnotationHang: v})
}

// SetJobDuration sets how long the node's upgrade takes; 0 restores the default.
func (l *Lab) SetJobDuration(ctx context.Context, node string, d time.Duration) error {
	var v *string
	if d > 0 {
		v = strPtr(d.String())
	}
	return l.annotate(ctx, node, map[string]*string{sim.AnnotationJobDuration: v})
}

// SetDefaultJobDuration sets the job duration of every node without its own.
func (l *Lab) SetDefaultJobDuration(ctx context.Context, d time.Duration) error {
	patch := fmt.Sprintf(`{"data":{%q:%q}}`, sim.KeyJobDuration, d.String())
	_, err := l.Client.CoreV1().ConfigMaps(sim.ConfigMapNamespace).Patch(ctx, sim.ConfigMapName,
		"application/merge-patch+json", []byte(patch), metav1.PatchOptions{})
	return err
}

// SetNotReadyDuring makes the node go NotReady when its upgrade pod starts: for d, or
// with d == 0 until SetReady (the pod then never reports and its Job deadline fires).
func (l *Lab) SetNotReadyDuring(ctx context.Context, node string, on bool, d time.Duration) error {
	var v *string
	if on {
		v = strPtr("true")
		if d > 0 {
			v = strPtr(d.String())
		}
	}
	return l.annotate(ctx, node, map[string]*string{sim.AnnotationNotReadyDuring: v})
}

// SetDeepResult sets the termination message of the node's deep-check pods (JSON of
// hostcheck.Result); "" restores the default (no findings).
func (l *Lab) SetDeepResult(ctx context.Context, node, resultJSON string) error {
	var v *string
	if resultJSON != "" {
		v = strPtr(resultJSON)
	}
	return l.annotate(ctx, node, map[string]*string{sim.AnnotationDeepResult: v})
}

// SetReady makes kwok report the node Ready or NotReady (within about a second).
func (l *Lab) SetReady(ctx context.Context, node string, ready bool) error {
	var v any
	if !ready {
		v = "true"
	}
	return sim.PatchNode(ctx, l.Client, node, map[string]any{"metadata": map[string]any{"labels": map[string]any{sim.LabelNotReady: v}}}, "")
}

// ClearFaults removes every knob from the node and makes it Ready.
func (l *Lab) ClearFaults(ctx context.Context, node string) error {
	if err := l.annotate(ctx, node, (sim.Knobs{}).Annotations()); err != nil {
		return err
	}
	return l.SetReady(ctx, node, true)
}

// WaitReady waits until the node's Ready condition is ready (true) or not (false).
func (l *Lab) WaitReady(ctx context.Context, node string, ready bool) error {
	want := corev1.ConditionFalse
	if ready {
		want = corev1.ConditionTrue
	}
	var last *corev1.Node
	err := wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		n, err := l.Client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = n
		return readyStatus(n) == want, nil
	})
	if err != nil && last != nil {
		return fmt.Errorf("node %s is Ready=%s (label %s=%q), want Ready=%s: %w",
			node, readyStatus(last), sim.LabelNotReady, last.Labels[sim.LabelNotReady], want, err)
	}
	return err
}

// KubeletVersions returns each node's reported kubelet version.
func (l *Lab) KubeletVersions(ctx context.Context) (map[string]string, error) {
	list, err := l.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{ResourceVersion: "0"})
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(list.Items))
	for _, n := range list.Items {
		out[n.Name] = n.Status.NodeInfo.KubeletVersion
	}
	return out, nil
}
