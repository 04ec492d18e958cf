#!/usr/bin/env bash
# Build and cache everything the real-cluster lab needs, for the versions given
# (default: $REALLAB_FROM and $REALLAB_TO). Idempotent; each piece is cached by version:
#
#   $EDGEUPGRADE_CACHE/kube/V/bin/*            Kubernetes binaries (hack/build-kube.sh, shared)
#   $EDGEUPGRADE_CACHE/etcd/vX/bin/etcd        etcd (hack/build-etcd.sh, shared with the lab)
#   $LAB_CACHE/coredns/vX/coredns              CoreDNS from the module proxy
#   $LAB_CACHE/tools/                          lab tools (runc wrapper, pause, mkimage)
#   $LAB_CACHE/images/V/{cp,node}.tar          docker-archive images kubeadm V expects
#   $LAB_CACHE/images/lab.tar                  the workload image
#
# Usage: build.sh [tools|kube|images|all] (default all)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$REPO_ROOT/hack/lib/progress.sh"
WHAT=${1:-all}
TOOLS=$LAB_CACHE/tools
mkdir -p "$LAB_CACHE" "$TOOLS"
# One build.sh at a time (CI's background `make prefetch` and e2e-real both run it): the
# tools and images are written in place.
exec 7>"$LAB_CACHE/build.lock"
lock_or_wait 7 "the real-cluster lab's tools and images"

build_tools() {
  # Seconds when cached (go build cache); always run so source edits are picked up, but
  # replace a tool only when it changed: its time stamp decides whether images rebuild.
  local t
  rm -rf "$TOOLS/.new"; mkdir -p "$TOOLS/.new"
  (cd "$REAL_DIR" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$TOOLS/.new/" ./cmd/...)
  for t in "$TOOLS"/.new/*; do
    cmp -s "$t" "$TOOLS/$(basename "$t")" || mv "$t" "$TOOLS/"
  done
  rm -rf "$TOOLS/.new"
}

KUBE_COMPONENTS=(kubelet kubeadm kube-proxy kube-apiserver kube-controller-manager kube-scheduler kubectl)
build_kube() {
  local v=$1 c missing=0
  for c in "${KUBE_COMPONENTS[@]}"; do [ -x "$(kube_bin "$v")/$c" ] || missing=1; done
  [ "$missing" = 1 ] || return 0
  # build-kube.sh holds the version's lock: a concurrent build of it is waited for.
  "$REPO_ROOT/hack/build-kube.sh" "$v" "${KUBE_COMPONENTS[@]}" >/dev/null
}

# Versions kubeadm V deploys, from `kubeadm config images list`.
image_list() { "$(kube_bin "$1")/kubeadm" config images list --kubernetes-version "$1" 2>/dev/null; }
image_ref() { image_list "$1" | grep -E "/$2:" | sed -n 1p; }

# etcd: by default the simulated lab's build (REALLAB_ETCD_VERSION, set by make from
# LAB_ETCD_VERSION) serves under the tags both kubeadm versions expect, as CoreDNS does
# below: one build fewer on a cold machine, same 3.6 data format. REALLAB_EXACT_ETCD=1
# builds the exact version each kubeadm names.
build_etcd() {  # build_etcd KUBE_VERSION → prints the etcd binary
  local tag ver
  tag=$(image_ref "$1" etcd); ver=v${tag##*:}; ver=${ver%-*}     # registry.k8s.io/etcd:3.6.6-0 → v3.6.6
  [ "${REALLAB_EXACT_ETCD:-0}" = 1 ] || ver=${REALLAB_ETCD_VERSION:-v3.6.8}
  echo "$("$REPO_ROOT/hack/build-etcd.sh" "$ver")/etcd"
}

# CoreDNS is the longest build after Kubernetes itself. By default one binary, the
# target's, serves under both versions' tags: the upgrade only changes the Deployment's
# image tag and migrates the Corefile, which the lab still exercises.
# REALLAB_EXACT_COREDNS=1 builds each version's own CoreDNS.
#
# The binary carries only the plugins a kubeadm Corefile uses (plus log and hosts, for
# debugging): CoreDNS's own main links every plugin, and the cloud DNS plugins' SDKs
# (route53, azure, clouddns), etcd, dnstap and tracing nearly double the packages to
# compile (1,335 against 776). Measured with an empty build cache: 181 CPU-seconds
# against 276, and a 52 MB binary against 74 MB.
build_coredns() {  # build_coredns KUBE_VERSION → prints the coredns binary
  local tag ver out mod v=$1
  [ "${REALLAB_EXACT_COREDNS:-0}" = 1 ] || v=$TO_VERSION
  tag=$(image_ref "$v" coredns); ver=${tag##*:}
  out=$LAB_CACHE/coredns/$ver/coredns-kubeadm
  mod=$LAB_CACHE/coredns/$ver/mod-kubeadm
  mkdir -p "$mod"
  # One build of a version at a time (fd 8: the subshell that prints the path holds it).
  exec 8>"$LAB_CACHE/coredns/$ver.lock"
  flock 8
  if [ ! -x "$out" ]; then
    if [ ! -f "$mod/go.sum" ]; then
      printf 'module corednsbuild\n\ngo 1.26\n' > "$mod/go.mod"
      coredns_main > "$mod/main.go"
      # shellcheck disable=SC2016 # $1, $2... are expanded by the inner shell
      with_progress "downloading the modules of CoreDNS $ver" "1 min" \
        sh -c 'cd "$1" && go get "github.com/coredns/coredns@$2" && exec go mod tidy' _ "$mod" "$ver" >&2
    fi
    # shellcheck disable=SC2016 # $1, $2... are expanded by the inner shell
    with_progress "building CoreDNS $ver (the plugins of kubeadm's Corefile)" "1-2 min" \
      sh -c 'cd "$1" && CGO_ENABLED=0 exec go build -trimpath -ldflags "-s -w" -o "$2" .' _ "$mod" "$out.tmp"
    mv "$out.tmp" "$out"
  fi
  exec 8>&-
  echo "$out"
}

# coredns_main prints a CoreDNS main package with the plugins of kubeadm's Corefile
# (errors, health, ready, kubernetes, prometheus, forward, cache, loop, reload,
# loadbalance) and log and hosts.
coredns_main() {
  cat <<'EOF'
package main

import (
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/hosts"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

func main() { coremain.Run() }
EOF
}

# Debian's iptables (nft backend) with the libraries and extensions it loads, for the
# kube-proxy image.
iptables_spec() {
  local libs f
  echo "file /usr/sbin/xtables-nft-multi /usr/sbin/xtables-nft-multi"
  for n in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
    echo "link xtables-nft-multi /usr/sbin/$n"
  done
  libs=$( { ldd /usr/sbin/xtables-nft-multi; for f in /usr/lib/x86_64-linux-gnu/xtables/*.so; do ldd "$f"; done; } \
          | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | sort -u)
  for f in $libs; do
    case $f in */ld-linux-x86-64.so.2) echo "file $f /usr/lib64/ld-linux-x86-64.so.2" ;; esac
    echo "file $f /usr/lib/x86_64-linux-gnu/$(basename "$f")"
  done
  for f in /usr/lib/x86_64-linux-gnu/xtables/*.so; do echo "file $f $f"; done
  echo "link usr/lib /lib"; echo "link usr/lib64 /lib64"
}

build_images() {
  local v=$1 kb out etcd coredns
  kb=$(kube_bin "$v"); out=$LAB_CACHE/images/$v
  mkdir -p "$out"
  etcd=$(build_etcd "$v"); coredns=$(build_coredns "$v")
  local cp_inputs=("$kb/kube-apiserver" "$kb/kube-controller-manager" "$kb/kube-scheduler" "$etcd" "$TOOLS/mkimage")
  local node_inputs=("$kb/kube-proxy" "$coredns" "$TOOLS/pause" "$TOOLS/mkimage")
  if ! fresh "$out/cp.tar" "${cp_inputs[@]}"; then
    log "images $v: control plane"
    {
      for c in kube-apiserver kube-controller-manager kube-scheduler; do
        echo "image $(image_ref "$v" "$c")"
        echo "file $kb/$c /usr/local/bin/$c 0755"; echo "dir /tmp"
      done
      echo "image $(image_ref "$v" etcd)"
      echo "file $etcd /usr/local/bin/etcd 0755"; echo "dir /tmp"; echo "dir /var/lib/etcd"
    } | "$TOOLS/mkimage" -o "$out/cp.tar.tmp"
    mv "$out/cp.tar.tmp" "$out/cp.tar"
  fi
  if ! fresh "$out/node.tar" "${node_inputs[@]}"; then
    log "images $v: node (kube-proxy with iptables, coredns, pause)"
    {
      echo "image $(image_ref "$v" kube-proxy)"
      echo "file $kb/kube-proxy /usr/local/bin/kube-proxy 0755"; echo "dir /tmp"; echo "dir /run"
      iptables_spec
      echo "image $(image_ref "$v" coredns)"
      echo "entrypoint /coredns"; echo "file $coredns /coredns 0755"; echo "dir /tmp"
      echo "image $(image_ref "$v" pause)"
      echo "entrypoint /pause"; echo "file $TOOLS/pause /pause 0755"
    } | "$TOOLS/mkimage" -o "$out/node.tar.tmp"
    mv "$out/node.tar.tmp" "$out/node.tar"
  fi
}

# fresh OUT INPUT...: OUT exists and is newer than every input.
fresh() { local o=$1 i; shift; [ -s "$o" ] || return 1; for i in "$@"; do [ "$o" -nt "$i" ] || return 1; done; }

build_lab_images() {
  if ! fresh "$LAB_CACHE/images/lab.tar" "$TOOLS/pause"; then
    mkdir -p "$LAB_CACHE/images"
    printf 'image registry.local/eulab/workload:v1\nentrypoint /pause\nfile %s /pause 0755\n' "$TOOLS/pause" \
      | "$TOOLS/mkimage" -o "$LAB_CACHE/images/lab.tar"
  fi
}

case $WHAT in
  tools) build_tools ;;
  kube) for v in "$FROM_VERSION" "$TO_VERSION"; do build_kube "$v"; done ;;
  images) build_tools; build_lab_images; for v in "$FROM_VERSION" "$TO_VERSION"; do build_images "$v"; done ;;
  all)
    build_tools
    for v in "$FROM_VERSION" "$TO_VERSION"; do build_kube "$v"; done
    build_lab_images
    for v in "$FROM_VERSION" "$TO_VERSION"; do build_images "$v"; done ;;
  *) die "usage: build.sh [tools|kube|images|all]" ;;
esac
