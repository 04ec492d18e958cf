// Package kindlab is the kind lab (docs/kind.md): a kind cluster of systemd nodes, made
// with kind's Go API from node images built offline (build.sh), upgraded by the plugin
// in e2e_test.go. The shell scripts beside it start the lab's own dockerd and build
// the images; this package only talks to kind and to the cluster.
package kindlab

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/kind/pkg/cluster"
	"sigs.k8s.io/kind/pkg/cluster/nodes"
	"sigs.k8s.io/kind/pkg/cluster/nodeutils"
	"sigs.k8s.io/kind/pkg/log"
)

// PodSubnet is the cluster's pod network; each node's share is its Node.spec.podCIDR.
const PodSubnet = "10.244.0.0/16"

// kubeletPatch: this machine is cgroup v1, which kubelets from v1.35 refuse unless told
// (the real-cluster lab's kubelets say the same). The node agent reads this setting and
// skips kubeadm's cgroup v1 verification itself.
const kubeletPatch = `kind: KubeletConfiguration
failCgroupV1: false
`

// Config is the lab's cluster: one control-plane node and `workers` workers; kind's
// default CNI (kindnetd) and storage (local-path) are not built offline, so the CNI is
// the bridge plugin from the node image, configured by SetupCNI.
func Config(workers int) *v1alpha4.Cluster {
	c := &v1alpha4.Cluster{
		Nodes: []v1alpha4.Node{{Role: v1alpha4.ControlPlaneRole}},
		Networking: v1alpha4.Networking{
			DisableDefaultCNI: true,
			PodSubnet:         PodSubnet,
			KubeProxyMode:     v1alpha4.IPTablesProxyMode,
		},
		KubeadmConfigPatches: []string{kubeletPatch},
	}
	for i := 0; i < workers; i++ {
		c.Nodes = append(c.Nodes, v1alpha4.Node{Role: v1alpha4.WorkerRole})
	}
	v1alpha4.SetDefaultsCluster(c)
	return c
}

// Lab is one kind cluster.
type Lab struct {
	Name       string
	Provider   *cluster.Provider
	Kubeconfig string
}

// NewProvider returns kind's Docker provider logging to w.
func NewProvider(w io.Writer) *cluster.Provider {
	return cluster.NewProvider(cluster.ProviderWithDocker(), cluster.ProviderWithLogger(&logger{w: w}))
}

// Create makes the cluster from image and writes its kubeconfig.
func Create(p *cluster.Provider, name, image, kubeconfig string, cfg *v1alpha4.Cluster) (*Lab, error) {
	err := p.Create(name,
		cluster.CreateWithV1Alpha4Config(cfg),
		cluster.CreateWithNodeImage(image),
		cluster.CreateWithKubeconfigPath(kubeconfig),
		cluster.CreateWithDisplayUsage(false),
		cluster.CreateWithDisplaySalutation(false),
	)
	lab := &Lab{Name: name, Provider: p, Kubeconfig: kubeconfig}
	// The lab's Docker network is internal (no route off it), and Docker publishes no
	// ports on an internal network: kind's last step, writing a kubeconfig for the
	// published API server port, fails after the cluster is up. The lab's kubeconfig
	// names the control plane's address on that network instead, which the host
	// reaches over the network's bridge.
	if err != nil && strings.Contains(err.Error(), "failed to get api server port") {
		err = lab.writeInternalKubeconfig()
	}
	if err != nil {
		return lab, fmt.Errorf("kind create cluster %s: %w", name, err)
	}
	return lab, nil
}

func (l *Lab) writeInternalKubeconfig() error {
	cfg, err := l.Provider.KubeConfig(l.Name, true)
	if err != nil {
		return err
	}
	kn, err := l.Nodes()
	if err != nil {
		return err
	}
	cp, ok := kn[l.Name+"-control-plane"]
	if !ok {
		return fmt.Errorf("no node %s-control-plane", l.Name)
	}
	ip, _, err := cp.IP()
	if err != nil {
		return err
	}
	internal := "https://" + cp.String() + ":6443"
	if !strings.Contains(cfg, internal) {
		return fmt.Errorf("kind's internal kubeconfig does not name %s", internal)
	}
	return os.WriteFile(l.Kubeconfig, []byte(strings.ReplaceAll(cfg, internal, "https://"+ip+":6443")), 0o600)
}

// Nodes returns the cluster's nodes by name.
func (l *Lab) Nodes() (map[string]nodes.Node, error) {
	ns, err := l.Provider.ListInternalNodes(l.Name)
	if err != nil {
		return nil, err
	}
	m := map[string]nodes.Node{}
	for _, n := range ns {
		m[n.String()] = n
	}
	return m, nil
}

// Exec runs a command on a node (docker exec) and returns its output.
func Exec(n nodes.Node, stdin io.Reader, name string, args ...string) (string, error) {
	var out bytes.Buffer
	cmd := n.Command(name, args...).SetStdout(&out).SetStderr(&out)
	if stdin != nil {
		cmd.SetStdin(stdin)
	}
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("%s on %s: %w: %s", strings.Join(append([]string{name}, args...), " "), n, err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// CNIConfig is the bridge network of one node: its pod CIDR on bridge cni0, the node
// as the pods' gateway. Pods of other nodes are reached through routes (SetupCNI).
func CNIConfig(podCIDR string) string {
	return fmt.Sprintf(`{
  "cniVersion": "0.4.0",
  "name": "eukind",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {"type": "host-local", "ranges": [[{"subnet": %q}]], "routes": [{"dst": "0.0.0.0/0"}]}
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
`, podCIDR)
}

// Routes returns, for each node, the `ip route replace` arguments that send the other
// nodes' pod CIDRs to those nodes (all on the lab's one Docker network).
func Routes(podCIDR, nodeIP map[string]string) map[string][][]string {
	names := make([]string, 0, len(podCIDR))
	for n := range podCIDR {
		names = append(names, n)
	}
	sort.Strings(names)
	r := map[string][][]string{}
	for _, n := range names {
		for _, o := range names {
			if o != n {
				r[n] = append(r[n], []string{"route", "replace", podCIDR[o], "via", nodeIP[o]})
			}
		}
	}
	return r
}

// SetupCNI writes each node's CNI configuration from its Node.spec.podCIDR and routes
// the other nodes' pod networks, then waits until every node is Ready.
func (l *Lab) SetupCNI(ctx context.Context, cs kubernetes.Interface) error {
	kn, err := l.Nodes()
	if err != nil {
		return err
	}
	podCIDR, nodeIP := map[string]string{}, map[string]string{}
	for name, n := range kn {
		var node *corev1.Node
		err := poll(ctx, 2*time.Minute, func() (bool, error) {
			node, err = cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			return err == nil && node.Spec.PodCIDR != "", nil
		})
		if err != nil {
			return fmt.Errorf("node %s has no podCIDR: %w", name, err)
		}
		podCIDR[name] = node.Spec.PodCIDR
		if nodeIP[name], _, err = n.IP(); err != nil {
			return err
		}
	}
	routes := Routes(podCIDR, nodeIP)
	for name, n := range kn {
		if _, err := Exec(n, strings.NewReader(CNIConfig(podCIDR[name])), "sh", "-c", "mkdir -p /etc/cni/net.d && cat > /etc/cni/net.d/10-eukind.conflist"); err != nil {
			return err
		}
		for _, r := range routes[name] {
			if _, err := Exec(n, nil, "ip", r...); err != nil {
				return err
			}
		}
	}
	return poll(ctx, 3*time.Minute, func() (bool, error) {
		list, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		for i := range list.Items {
			if !Ready(&list.Items[i]) {
				return false, nil
			}
		}
		return len(list.Items) == len(kn), nil
	})
}

// Ready reports the node's Ready condition.
func Ready(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// Images are the image archives Up loads: onto every node, onto the control plane,
// onto the named workers.
type Images struct {
	All, ControlPlane []string
	Node              map[string][]string
}

// Up makes the lab's cluster, ready to upgrade: Create, SetupCNI, and the images
// loaded onto the nodes (in parallel). The returned Lab is set even on error, so that
// the caller can delete what was made.
func Up(ctx context.Context, p *cluster.Provider, name, image, kubeconfig string, workers int, img Images) (*Lab, kubernetes.Interface, error) {
	lab, err := Create(p, name, image, kubeconfig, Config(workers))
	if err != nil {
		return lab, nil, err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return lab, nil, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return lab, nil, err
	}
	if err := lab.SetupCNI(ctx, cs); err != nil {
		return lab, cs, fmt.Errorf("CNI: %w", err)
	}
	kn, err := lab.Nodes()
	if err != nil {
		return lab, cs, err
	}
	errs := make(chan error, len(kn))
	for nodeName, n := range kn {
		go func() {
			archives := append(append([]string{}, img.All...), img.Node[nodeName]...)
			if nodeName == name+"-control-plane" {
				archives = append(archives, img.ControlPlane...)
			}
			for _, a := range archives {
				if err := LoadArchive(n, a); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range kn {
		if e := <-errs; e != nil && err == nil {
			err = e
		}
	}
	return lab, cs, err
}

// LoadArchive imports a docker-archive image tarball into a node's containerd
// (kind's own loader, as `kind load image-archive`).
func LoadArchive(n nodes.Node, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	if err := nodeutils.LoadImageArchive(n, f); err != nil {
		return fmt.Errorf("load %s on %s: %w", path, n, err)
	}
	return nil
}

func poll(ctx context.Context, timeout time.Duration, f func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		ok, err := f()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// logger is kind's log.Logger on a writer: warnings, errors and V(0) information.
type logger struct{ w io.Writer }

func (l *logger) Warn(message string)                         { _, _ = fmt.Fprintln(l.w, "kind: WARNING:", message) }
func (l *logger) Warnf(format string, args ...interface{})    { l.Warn(fmt.Sprintf(format, args...)) }
func (l *logger) Error(message string)                        { _, _ = fmt.Fprintln(l.w, "kind: ERROR:", message) }
func (l *logger) Errorf(format string, args ...interface{})   { l.Error(fmt.Sprintf(format, args...)) }
func (l *logger) V(level log.Level) log.InfoLogger            { return infoLogger{w: l.w, on: level <= 0} }
func (i infoLogger) Info(message string)                      { i.Infof("%s", message) }
func (i infoLogger) Enabled() bool                            { return i.on }
func (i infoLogger) Infof(format string, args ...interface{}) { i.print(format, args...) }

type infoLogger struct {
	w  io.Writer
	on bool
}

func (i infoLogger) print(format string, args ...interface{}) {
	if i.on {
		_, _ = fmt.Fprintf(i.w, "kind: "+format+"\n", args...)
	}
}
