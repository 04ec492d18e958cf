# shellcheck shell=bash
# Shared settings and helpers of the real-cluster lab (sourced; bash).
# The settings are read by the scripts that source this file (build.sh, up.sh, down.sh,
# e2e.sh), not here:
# shellcheck disable=SC2034
#
# Everything the lab creates lives under $LAB_DIR (processes are recorded there by PID)
# plus: network namespaces eulab-*, the host bridge $LAB_BRIDGE with its veths, and
# cgroups /eulab-* in each cgroup v1 hierarchy. down.sh removes all of it.

REAL_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$REAL_DIR/../.." && pwd)
export EDGEUPGRADE_CACHE=${EDGEUPGRADE_CACHE:-$HOME/.cache/edgeupgrade}
LAB_CACHE=${LAB_CACHE:-$EDGEUPGRADE_CACHE/reallab}
LAB_DIR=${REALLAB_DIR:-/var/tmp/eulab}        # short: containerd sockets live below it
FROM_VERSION=${REALLAB_FROM:-v1.35.4}
TO_VERSION=${REALLAB_TO:-v1.36.3}
# containerd the run installs before the kubelet: the plugin's --runtime-version auto
# default, which the upgrade image carries (CONTAINERD_VERSION in mk/images.mk).
RUNTIME_VERSION=${REALLAB_RUNTIME:-v2.2.9}

# Network: a host bridge with one veth per node; each node has its own network namespace.
# Every address is on this machine (bridge + namespaces the lab made); nodes get no
# default route, so nothing they run can reach past the bridge.
LAB_BRIDGE=eulab0
LAB_NET=${REALLAB_NET:-172.30.250}
LAB_HOST_IP=$LAB_NET.1
POD_SUBNET=10.244.0.0/16
SERVICE_SUBNET=10.96.0.0/12
CP_NODE=eulab-cp
WORKER_NODE=eulab-w1
LAB_NODES=("$CP_NODE" "$WORKER_NODE")
declare -A NODE_IP=(["$CP_NODE"]=$LAB_NET.10 ["$WORKER_NODE"]=$LAB_NET.11)
TOKEN=eulab0.0123456789abcdef
KUBECONFIG_LAB=$LAB_DIR/admin.conf

log() { printf '%s [reallab] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }

# Stage timing: stage_begin NAME; ...; stage_end  → appends "NAME seconds" to $LAB_TIMINGS.
LAB_TIMINGS=${LAB_TIMINGS:-}
_stage_name=; _stage_t0=
stage_begin() { _stage_name=$1; _stage_t0=$(date +%s.%N); log "== stage $1"; }
stage_end() {
  local t; t=$(awk -v a="$_stage_t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
  log "== stage $_stage_name: ${t}s"
  [ -z "$LAB_TIMINGS" ] || printf '%-28s %8s s\n' "$_stage_name" "$t" >> "$LAB_TIMINGS"
}

kube_bin() { echo "$EDGEUPGRADE_CACHE/kube/$1/bin"; }
# kubectl on the host (any version within skew of both ends).
kc() {
  local k; k=$(kube_bin "$TO_VERSION")/kubectl; [ -x "$k" ] || k=$(kube_bin "$FROM_VERSION")/kubectl
  "$k" --kubeconfig "$KUBECONFIG_LAB" "$@"
}

node_dir() { echo "$LAB_DIR/nodes/$1"; }
node_pid() { cat "$(node_dir "$1")/init.pid" 2>/dev/null; }
# node_exec NODE CMD...: run CMD inside a node (its mount, UTS, IPC, network and PID
# namespaces and its root), like a shell on that machine.
node_exec() {
  local n=$1; shift
  local pid; pid=$(node_pid "$n") || die "node $n is not running"
  nsenter -t "$pid" -m -u -i -n -p -r -w -- env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root "$@"
}
node_ctr() { local n=$1; shift; ctr --address "$(node_dir "$n")/run/containerd/containerd.sock" -n k8s.io "$@"; }

# wait_for TIMEOUT_S DESCRIPTION CMD...: poll CMD every second.
wait_for() {
  local timeout=$1 what=$2; shift 2
  local end=$(( $(date +%s) + timeout ))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$end" ] || { log "timed out after ${timeout}s waiting for: $what"; return 1; }
    sleep 1
  done
}
