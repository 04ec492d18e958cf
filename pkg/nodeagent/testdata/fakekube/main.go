// Command fakekube stands in for kubelet, kubeadm, kubectl, containerd and ctr in the node agent's
// tests (it acts as the binary it is installed as). It appends its arguments to
// $FAKE_RECORD and reads and writes the fake node under $FAKE_ROOT:
//
//	kubelet --version            "Kubernetes <version>"
//	kubelet [flags]              serve /healthz on $FAKE_HEALTHZ_PORT until SIGTERM;
//	                             500 while $FAKE_ROOT/fail/healthz-<version> exists
//	kubeadm version -o short     "<version>"
//	kubeadm upgrade apply|node   edit the kubelet config and the static pod manifests;
//	                             fail with the content of $FAKE_ROOT/fail/kubeadm, or
//	                             on cgroup v1 without --ignore-preflight-errors=SystemVerification
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// version is set with -ldflags "-X main.version=v1.36.3".
var version = "v0.0.0"

func main() {
	root := os.Getenv("FAKE_ROOT")
	name := filepath.Base(os.Args[0])
	args := os.Args[1:]
	if rec := os.Getenv("FAKE_RECORD"); rec != "" {
		f, err := os.OpenFile(rec, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err == nil {
			fmt.Fprintf(f, "%s %s %s\n", name, version, strings.Join(args, " "))
			f.Close()
		}
	}
	switch {
	case name == "containerd" && len(args) > 0 && args[0] == "--version":
		fmt.Printf("containerd github.com/containerd/containerd %s fake\n", version)
	case name == "ctr":
		ctr(root, args)
	case len(args) > 0 && args[0] == "--version":
		fmt.Printf("Kubernetes %s\n", version)
	case name == "kubeadm" && len(args) > 0 && args[0] == "version":
		fmt.Println(version)
	case name == "kubeadm" && len(args) > 1 && args[0] == "upgrade":
		kubeadmUpgrade(root, args[1], args[2:])
	case name == "kubelet":
		serve(root)
	default:
		fmt.Printf("%s %s\n", name, version)
	}
}

// ctr answers as the node's containerd would: $FAKE_ROOT/run/containerd/fake-server
// holds the running daemon's version (the test runner's `systemctl restart containerd`
// writes it), fake-tasks the output of `tasks ls`; fail/cri-<version> makes the CRI
// plugin of that version fail to load.
func ctr(root string, args []string) {
	for len(args) > 1 && strings.HasPrefix(args[0], "--") {
		args = args[2:] // --address SOCK, --namespace NS
	}
	state := filepath.Join(root, "run/containerd")
	server, err := os.ReadFile(filepath.Join(state, "fake-server"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "ctr: failed to dial: connection refused")
		os.Exit(1)
	}
	sv := strings.TrimSpace(string(server))
	switch strings.Join(args, " ") {
	case "version":
		fmt.Printf("Client:\n  Version:  %s\n\nServer:\n  Version:  %s\n  Revision: fake\n", version, sv)
	case "plugins ls":
		status := "ok"
		if _, err := os.Stat(filepath.Join(root, "fail", "cri-"+sv)); err == nil {
			status = "error"
		}
		fmt.Printf("TYPE                    ID     PLATFORMS      STATUS\nio.containerd.grpc.v1   cri    linux/amd64    %s\n", status)
	case "tasks ls":
		b, _ := os.ReadFile(filepath.Join(state, "fake-tasks"))
		fmt.Print("TASK    PID    STATUS\n" + string(b))
	default:
		fmt.Fprintf(os.Stderr, "ctr: unknown command %v\n", args)
		os.Exit(1)
	}
}

func kubeadmUpgrade(root, how string, args []string) {
	if b, err := os.ReadFile(filepath.Join(root, "fail", "kubeadm")); err == nil {
		fmt.Println("[upgrade] running preflight checks")
		fmt.Fprintln(os.Stderr, strings.TrimSpace(string(b)))
		os.Exit(1)
	}
	// kubeadm 1.35+ on a cgroup v1 host (the fake node has sys/fs/cgroup/memory):
	// SystemVerification fails unless skipped explicitly (texts of kubeadm v1.36.3 and
	// k8s.io/system-validators v1.12.1).
	if _, err := os.Stat(filepath.Join(root, "sys/fs/cgroup/memory")); err == nil && !slices.Contains(args, "--ignore-preflight-errors=SystemVerification") {
		fmt.Println("[upgrade/preflight] Running preflight checks")
		fmt.Fprint(os.Stderr, "[preflight] Some fatal errors occurred:\n"+
			"\t[ERROR SystemVerification]: cgroups v1 support is deprecated and will be removed in a future release. Please migrate to cgroups v2. "+
			"To explicitly enable cgroups v1 support for kubelet v1.35 or newer, you must set the kubelet configuration option 'FailCgroupV1' to 'false'. "+
			"You must also explicitly skip this validation. For more information, see https://git.k8s.io/enhancements/keps/sig-node/5573-remove-cgroup-v1\n"+
			"[preflight] If you know what you are doing, you can make a check non-fatal with `--ignore-preflight-errors=...`\n"+
			"error: error execution phase preflight: preflight checks failed\n"+
			"To see the stack trace of this error execute with --v=5 or higher\n")
		os.Exit(1)
	}
	fmt.Printf("[upgrade] kubeadm %s upgrade %s\n", version, how)
	appendTo(filepath.Join(root, "var/lib/kubelet/config.yaml"), fmt.Sprintf("# written by kubeadm %s upgrade %s\n", version, how))
	appendTo(filepath.Join(root, "var/lib/kubelet/kubeadm-flags.env"), "# upgraded\n")
	manifests := filepath.Join(root, "etc/kubernetes/manifests")
	if _, err := os.Stat(manifests); err == nil {
		appendTo(filepath.Join(manifests, "kube-apiserver.yaml"), "# image: registry.k8s.io/kube-apiserver:"+version+"\n")
		_ = os.WriteFile(filepath.Join(manifests, "kube-new-addon.yaml"), []byte("kind: Pod\n"), 0o600)
	}
	fmt.Println("[upgrade] SUCCESS")
}

func appendTo(p, s string) {
	f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = f.WriteString(s)
}

func serve(root string) {
	l, err := net.Listen("tcp", "127.0.0.1:"+os.Getenv("FAKE_HEALTHZ_PORT"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	http.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if _, err := os.Stat(filepath.Join(root, "fail", "healthz-"+version)); err == nil {
			http.Error(w, "fake kubelet "+version+" is broken", http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, "ok")
	})
	go func() { _ = http.Serve(l, nil) }()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	l.Close()
}
