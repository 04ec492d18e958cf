package hostcheck

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/version"
	"sigs.k8s.io/yaml"
)

// Options say what to check and where.
type Options struct {
	Node          string
	TargetVersion string
	// KubeletPath is the host path of the kubelet binary (default /usr/bin/kubelet).
	KubeletPath string
	// RunningKubeletArgs are the arguments of the running kubelet process, when the
	// caller found it; they are checked with the flags set in kubeadm-flags.env.
	RunningKubeletArgs []string
	// MinFreeBytes is the free space below which a disk is an error (default 1 GiB);
	// below MinFreePercent (default 10) it is a warning.
	MinFreeBytes   uint64
	MinFreePercent float64
	HTTPClient     *http.Client
}

func (o *Options) defaults() {
	if o.KubeletPath == "" {
		o.KubeletPath = "/usr/bin/kubelet"
	}
	if o.MinFreeBytes == 0 {
		o.MinFreeBytes = 1 << 30
	}
	if o.MinFreePercent == 0 {
		o.MinFreePercent = 10
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 5 * time.Second}
	}
}

// DiskUsage is the free space of one file system holding a path the upgrade writes to.
type DiskUsage struct {
	Path        string
	Free, Total uint64
}

// Facts are what Gather read from the host. Each Err says a read failed; the checks
// turn those into findings instead of failing the whole check.
type Facts struct {
	Node       string
	Target     *version.Version
	Kubelet    *version.Version
	KubeletErr error
	Swaps      []string
	SwapErr    error
	Disks      []DiskUsage
	DiskErr    error
	// MinFreeBytes and MinFreePercent are the Options' disk thresholds.
	MinFreeBytes   uint64
	MinFreePercent float64
	Config         KubeletConfig
	ConfigFields   map[string]any
	ConfigErr      error
	Args           []string
	HealthzURL     string
	HealthzErr     error
	Runtime        string
	RuntimeErr     error
	CgroupVersion  int
	CgroupErr      error
}

// diskPaths are the file systems the upgrade writes to: the kubelet's state, the
// backup and staging area, and / (binaries, /etc/kubernetes).
var diskPaths = []string{"/", KubeletDir, "/var/lib/edgeupgrade"}

// Gather reads the host. It fails only when the host root itself cannot be read.
func Gather(ctx context.Context, h Host, o Options) (Facts, error) {
	o.defaults()
	f := Facts{Node: o.Node, MinFreeBytes: o.MinFreeBytes, MinFreePercent: o.MinFreePercent}
	if _, err := os.Stat(h.Path("/")); err != nil {
		return f, fmt.Errorf("read the host root: %w (is the host mounted?)", err)
	}
	if o.TargetVersion != "" {
		t, err := version.ParseSemantic(o.TargetVersion)
		if err != nil {
			return f, fmt.Errorf("target version %q: %w", o.TargetVersion, err)
		}
		f.Target = t
	}
	out, err := h.Run(ctx, o.KubeletPath, "--version")
	if err == nil {
		f.Kubelet, err = ParseKubeletVersion(string(out))
	}
	f.KubeletErr = err

	f.Swaps, f.SwapErr = readSwaps(h.Path("/proc/swaps"))
	f.Disks, f.DiskErr = statDisks(h)

	f.Config, f.ConfigErr = ReadKubeletConfig(h, KubeletConfigPath)
	if f.ConfigErr == nil {
		b, _ := os.ReadFile(h.Path(KubeletConfigPath))
		_ = yaml.Unmarshal(b, &f.ConfigFields)
	}
	fileArgs, err := KubeletFileArgs(h)
	if err != nil && f.ConfigErr == nil {
		f.ConfigErr = err
	}
	f.Args = append(fileArgs, o.RunningKubeletArgs...)

	f.HealthzURL = f.Config.HealthzURL()
	if f.ConfigErr != nil {
		f.HealthzURL = KubeletConfig{}.HealthzURL()
	}
	if f.HealthzURL != "" {
		f.HealthzErr = Healthz(ctx, o.HTTPClient, f.HealthzURL)
	}

	f.Runtime = runtimeEndpoint(f.Config, f.Args)
	f.RuntimeErr = dialRuntime(ctx, h, f.Runtime)

	f.CgroupVersion, f.CgroupErr = CgroupVersion(h.Path("/sys/fs/cgroup"))
	return f, nil
}

// Healthz asks a kubelet healthz endpoint once.
func Healthz(ctx context.Context, c *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	body := make([]byte, 256)
	n, _ := resp.Body.Read(body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %d %s", url, resp.StatusCode, strings.TrimSpace(string(body[:n])))
	}
	return nil
}

func readSwaps(p string) ([]string, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("read /proc/swaps: %w", err)
	}
	var devs []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for first := true; sc.Scan(); first = false {
		fs := strings.Fields(sc.Text())
		if first || len(fs) == 0 {
			continue // header
		}
		devs = append(devs, fs[0])
	}
	return devs, nil
}

func statDisks(h Host) ([]DiskUsage, error) {
	var out []DiskUsage
	seen := map[[2]int32]bool{}
	var errs []error
	for _, p := range diskPaths {
		q := h.Path(p)
		// The backup directory may not exist yet: measure the nearest existing parent.
		for {
			if _, err := os.Stat(q); err == nil || q == h.Path("/") {
				break
			}
			q = filepath.Dir(q)
		}
		st, err := statfs(q)
		if err != nil {
			errs = append(errs, fmt.Errorf("statfs %s: %w", p, err))
			continue
		}
		if seen[st.fsid] {
			continue
		}
		seen[st.fsid] = true
		out = append(out, DiskUsage{Path: p, Free: st.free, Total: st.total})
	}
	return out, errors.Join(errs...)
}

func runtimeEndpoint(c KubeletConfig, args []string) string {
	if v, ok := FlagValue(args, "container-runtime-endpoint"); ok && v != "" {
		return v
	}
	if c.ContainerRuntimeEndpoint != "" {
		return c.ContainerRuntimeEndpoint
	}
	return "unix:///run/containerd/containerd.sock"
}

func dialRuntime(ctx context.Context, h Host, endpoint string) error {
	p, ok := strings.CutPrefix(endpoint, "unix://")
	if !ok {
		if strings.HasPrefix(endpoint, "/") {
			p = endpoint
		} else {
			return fmt.Errorf("runtime endpoint %q is not a unix socket; not checked", endpoint)
		}
	}
	d := net.Dialer{Timeout: 3 * time.Second}
	c, err := d.DialContext(ctx, "unix", h.Path(p))
	if err != nil {
		return fmt.Errorf("connect to the container runtime at %s: %w", p, err)
	}
	return c.Close()
}

// Magic numbers of statfs(2) for the cgroup mount point.
const (
	cgroup2SuperMagic = 0x63677270
	tmpfsMagic        = 0x01021994
)

// CgroupVersion tells cgroup v1 from v2 at the cgroup mount point dir: v2 has
// cgroup.controllers at its root; v1 (and hybrid) has one directory per controller.
func CgroupVersion(dir string) (int, error) {
	if _, err := os.Stat(filepath.Join(dir, "cgroup.controllers")); err == nil {
		return 2, nil
	}
	for _, c := range []string{"memory", "cpu", "cpuset", "unified"} {
		if _, err := os.Stat(filepath.Join(dir, c)); err == nil {
			return 1, nil
		}
	}
	st, err := statfs(dir)
	if err != nil {
		return 0, fmt.Errorf("find the cgroup version: %w", err)
	}
	switch st.fsType {
	case cgroup2SuperMagic:
		return 2, nil
	case tmpfsMagic:
		return 1, nil
	}
	return 0, fmt.Errorf("find the cgroup version: %s is neither a cgroup2 nor a cgroup v1 mount", dir)
}
