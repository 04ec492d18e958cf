package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Pinned versions of everything the lab runs. KubeVersion is also the API server's
// version, so an upgrade in the lab can target at most a v1.36 kubelet.
const (
	KubeVersion = "v1.36.3"
	EtcdVersion = "v3.6.8"
	KwokVersion = "v0.8.0"
)

// Binaries are the executables the lab starts.
type Binaries struct {
	Etcd, APIServer, ControllerManager, Scheduler, Kwok string
	// Kubectl is not started by the lab; it is listed for tests and the demo.
	Kubectl string
}

// CacheDir is where the hack/ scripts cache binaries: $EDGEUPGRADE_CACHE, else
// ~/.cache/edgeupgrade.
func CacheDir() string {
	if d := os.Getenv("EDGEUPGRADE_CACHE"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "edgeupgrade")
	}
	return filepath.Join(os.TempDir(), "edgeupgrade-cache")
}

// DefaultBinaries locates the pinned binaries in CacheDir(). The error, when some are
// missing, names the command that builds them.
func DefaultBinaries() (Binaries, error) {
	c := CacheDir()
	kube := filepath.Join(c, "kube", KubeVersion, "bin")
	b := Binaries{
		Etcd:              filepath.Join(c, "etcd", EtcdVersion, "bin", "etcd"),
		APIServer:         filepath.Join(kube, "kube-apiserver"),
		ControllerManager: filepath.Join(kube, "kube-controller-manager"),
		Scheduler:         filepath.Join(kube, "kube-scheduler"),
		Kubectl:           filepath.Join(kube, "kubectl"),
		Kwok:              filepath.Join(c, "kwok", KwokVersion, "bin", "kwok"),
	}
	return b, b.check()
}

// ErrMissingBinaries wraps the error of DefaultBinaries when a binary is not built.
var ErrMissingBinaries = errors.New("lab binaries missing: run `make lab-tools` (cold build takes several minutes)")

func (b Binaries) check() error {
	var missing []string
	for _, p := range []string{b.Etcd, b.APIServer, b.ControllerManager, b.Scheduler, b.Kwok} {
		if fi, err := os.Stat(p); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %v", ErrMissingBinaries, missing)
	}
	return nil
}

// Kubectl runs the lab's kubectl with kubeconfig and args, and returns its combined
// output; the error names the command.
func Kubectl(ctx context.Context, kubeconfig string, args ...string) ([]byte, error) {
	b, err := DefaultBinaries()
	if err != nil {
		return nil, err
	}
	out, err := exec.CommandContext(ctx, b.Kubectl, append([]string{"--kubeconfig", kubeconfig}, args...)...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return out, nil
}
