// Command kind-up makes the kind lab's cluster for trying the plugin by hand (make
// kind-up, docs/kind.md): the same cluster as the e2e (one control plane, two workers,
// the images loaded), plus the plugin's namespace and RBAC (manifests/). It reads what
// test/kind/e2e.sh exports and prints what to type next.
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	kindlab "github.com/edgeupgrade/kubectl-edgeupgrade/test/kind"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "kind-up: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	env := func(k string) string { return os.Getenv(k) }
	for _, k := range []string{"KIND_NODE_IMAGE", "KIND_KUBECONFIG", "KIND_ARCHIVES_ALL", "KIND_ARCHIVES_CP", "KIND_REPO_ROOT"} {
		if env(k) == "" {
			return fmt.Errorf("%s is not set: run `make kind-up`", k)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	p := kindlab.NewProvider(os.Stderr)
	_ = p.Delete("eukind", "")
	_, _, err := kindlab.Up(ctx, p, "eukind", env("KIND_NODE_IMAGE"), env("KIND_KUBECONFIG"), 2, kindlab.Images{
		All: strings.Split(env("KIND_ARCHIVES_ALL"), ":"), ControlPlane: strings.Split(env("KIND_ARCHIVES_CP"), ":"),
	})
	if err != nil {
		_ = p.Delete("eukind", "")
		return err
	}
	cmd := exec.CommandContext(ctx, "kubectl", "--kubeconfig", env("KIND_KUBECONFIG"), "apply", "-f", filepath.Join(env("KIND_REPO_ROOT"), "manifests"))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("kubectl apply -f manifests: %v: %s", err, out)
	}
	fmt.Printf(`
kind cluster eukind is up (%s). Try the plugin:

  export KUBECONFIG=%s PATH=%s/bin:$PATH
  kubectl edgeupgrade start --to %s --wait --preprocess-image %s --upgrade-image %s --runtime-version none --skip-check runtime-version

make kind-down removes it (runtime-version: Debian 12's containerd 1.6, docs/kind.md).
`, env("KIND_FROM"), env("KIND_KUBECONFIG"), env("KIND_REPO_ROOT"), env("KIND_TO"), env("KIND_PREPROCESS_IMAGE"), env("KIND_UPGRADE_IMAGE"))
	return nil
}
