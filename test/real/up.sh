#!/usr/bin/env bash
# Bring up the real-cluster lab: a kubeadm control-plane node and a worker node, each a
# real kubelet + its own containerd in its own network/mount/PID namespaces with its own
# root filesystem (see node-init.sh), bridge CNI, and a workload Deployment on the
# worker. Needs build.sh to have run. Idempotent only from a clean state (run down.sh).
#
#   up.sh [VERSION]      (default $REALLAB_FROM)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
V=${1:-$FROM_VERSION}
KB=$(kube_bin "$V")
TOOLS=$LAB_CACHE/tools
if [ ! -x "$KB/kubelet" ] || [ ! -x "$KB/kubeadm" ]; then
  die "Kubernetes $V binaries missing: run test/real/build.sh"
fi
[ -s "$LAB_CACHE/images/$V/cp.tar" ] || die "images for $V missing: run test/real/build.sh"
[ "$(id -u)" = 0 ] || die "the real-cluster lab needs root"
for t in containerd runc ctr iptables nsenter unshare pivot_root ip /usr/lib/cni/bridge; do
  command -v "$t" >/dev/null || die "$t missing: apt-get install containerd containernetworking-plugins conntrack iptables socat"
done
[ ! -e "$LAB_DIR/nodes" ] || die "$LAB_DIR/nodes exists: run test/real/down.sh first"
mkdir -p "$LAB_DIR"

setup_network() {
  ip link add "$LAB_BRIDGE" type bridge
  ip addr add "$LAB_HOST_IP/24" dev "$LAB_BRIDGE"
  ip link set "$LAB_BRIDGE" up
  local n
  for n in "${LAB_NODES[@]}"; do
    ip netns add "$n"
    ip link add "ve-$n" type veth peer name eth0 netns "$n"
    ip link set "ve-$n" master "$LAB_BRIDGE" up
    ip -n "$n" link set lo up
    ip -n "$n" addr add "${NODE_IP[$n]}/24" dev eth0
    ip -n "$n" link set eth0 up
    # No default route: nothing in a node reaches past the bridge. Service VIPs need a
    # route to be DNAT'ed by kube-proxy.
    ip -n "$n" route add "$SERVICE_SUBNET" dev eth0
    ip netns exec "$n" sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 \
      net.bridge.bridge-nf-call-ip6tables=1
  done
}

setup_cgroups() {  # /eulab-NODE in every v1 hierarchy: the node kubelet's cgroupRoot
  local n=$1 h
  for h in /sys/fs/cgroup/*/; do
    [ "$h" != /sys/fs/cgroup/unified/ ] || continue
    mkdir -p "$h$n"
    if [ -f "${h}cpuset.cpus" ]; then
      cat "${h}cpuset.cpus" > "$h$n/cpuset.cpus"; cat "${h}cpuset.mems" > "$h$n/cpuset.mems"
    fi
  done
}

containerd_config() {
  cat <<TOML
version = 2
root = "/var/lib/containerd"
state = "/run/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "/run/containerd/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$(grep /pause: <("$KB/kubeadm" config images list --kubernetes-version "$V" 2>/dev/null))"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        # LAB ONLY: see test/real/cmd/runc-wrapper (this machine lacks CAP_SYS_RESOURCE).
        BinaryName = "/usr/local/sbin/runc-lab-wrapper"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "/etc/cni/net.d"
[plugins."io.containerd.internal.v1.opt"]
  path = "/var/lib/containerd/opt"
TOML
}

# Prepare a node's own files in its upper layer, then start its init. (Mind merged /usr:
# /lib is a symlink in the lower layer; a real lib/ directory in the upper would hide it.)
start_node() {
  local n=$1 d u
  d=$(node_dir "$n"); u=$d/upper/diff
  mkdir -p "$d"/{root,upper,run,containerd,kubelet,etcd,log}
  mount -t tmpfs -o size=4g,mode=755 "eulab-$n" "$d/upper"
  mkdir -p "$u" "$d/upper/work" "$u/usr/bin" "$u/usr/local/sbin" "$u/etc/containerd" "$u/etc/default" \
    "$u/etc/eulab" "$u/etc/cni/net.d" "$u/etc/kubernetes/manifests" "$u/usr/lib/modules"
  install -m 0755 "$KB/kubelet" "$KB/kubeadm" "$KB/kubectl" "$u/usr/bin/"
  install -m 0755 "$TOOLS/runc-wrapper" "$u/usr/local/sbin/runc-lab-wrapper"
  containerd_config > "$u/etc/containerd/config.toml"
  # Per-node kubelet flags, kept by kubeadm upgrades (like /etc/default/kubelet on a real
  # node): each kubelet gets its own cgroup root, the two share one cgroup tree.
  echo "KUBELET_EXTRA_ARGS=\"--cgroup-root=/$n\"" > "$u/etc/default/kubelet"
  echo "nameserver $LAB_HOST_IP" > "$u/etc/eulab/resolv.conf"
  printf '127.0.0.1 localhost\n%s %s\n' "${NODE_IP[$n]}" "$n" > "$u/etc/hosts"
  echo "$n" > "$u/etc/hostname"
  setup_cgroups "$n"
  setsid nsenter --net="/run/netns/$n" unshare --mount --uts --ipc --pid --fork --kill-child -- \
    "$REAL_DIR/node-init.sh" "$n" "$d" > "$d/init.out" 2>&1 < /dev/null &
  echo $! > "$d/launcher.pid"
  local pid
  wait_for 10 "node $n init" sh -c "pgrep -P $(cat "$d/launcher.pid") > '$d/init.pid'" || { cat "$d/init.out"; die "node $n did not start"; }
  pid=$(cat "$d/init.pid")
  wait_for 30 "containerd on $n" node_ctr "$n" version || { cat "$d/init.out" "$d/log/eulab/containerd.log"; die "containerd on $n did not start"; }
  log "node $n: init pid $pid, containerd up"
}

import_images() {  # import_images NODE TAR...
  local n=$1; shift
  local t
  for t in "$@"; do node_ctr "$n" images import "$t" >/dev/null; done
}

write_cni() {  # write_cni NODE: bridge + host-local for the node's podCIDR
  local n=$1 cidr
  cidr=$(kc get node "$n" -o jsonpath='{.spec.podCIDR}')
  [ -n "$cidr" ] || die "node $n has no podCIDR"
  node_exec "$n" sh -c 'cat > /etc/cni/net.d/10-eulab.conflist' <<JSON
{
  "cniVersion": "0.4.0",
  "name": "eulab",
  "plugins": [
    {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "$cidr"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
JSON
  echo "$cidr"
}

IGNORE_PREFLIGHT=SystemVerification,FileExisting-crictl,FileExisting-ethtool,FileExisting-tc,FileExisting-socat,FileExisting-conntrack,FileExisting-ebtables,Service-Kubelet

kubeadm_init() {
  node_exec "$CP_NODE" sh -c 'cat > /etc/eulab/kubeadm-init.yaml' <<YAML
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
bootstrapTokens:
- token: "$TOKEN"
  ttl: 24h0m0s
localAPIEndpoint:
  advertiseAddress: ${NODE_IP[$CP_NODE]}
  bindPort: 6443
nodeRegistration:
  name: $CP_NODE
  criSocket: unix:///run/containerd/containerd.sock
  kubeletExtraArgs:
  - {name: node-ip, value: "${NODE_IP[$CP_NODE]}"}
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: $V
clusterName: eulab
controlPlaneEndpoint: ${NODE_IP[$CP_NODE]}:6443
networking:
  podSubnet: $POD_SUBNET
  serviceSubnet: $SERVICE_SUBNET
etcd:
  local:
    extraArgs:
    - {name: unsafe-no-fsync, value: "true"}
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
resolvConf: /etc/eulab/resolv.conf
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
---
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
conntrack:
  maxPerCore: 0
YAML
  node_exec "$CP_NODE" kubeadm init --config /etc/eulab/kubeadm-init.yaml \
    --ignore-preflight-errors="$IGNORE_PREFLIGHT" > "$LAB_DIR/kubeadm-init.log" 2>&1 \
    || { tail -40 "$LAB_DIR/kubeadm-init.log"; die "kubeadm init failed (log: $LAB_DIR/kubeadm-init.log)"; }
  cp "$(node_dir "$CP_NODE")/upper/diff/etc/kubernetes/admin.conf" "$KUBECONFIG_LAB"
}

kubeadm_join() {
  local n=$1
  node_exec "$n" sh -c 'cat > /etc/eulab/kubeadm-join.yaml' <<YAML
apiVersion: kubeadm.k8s.io/v1beta4
kind: JoinConfiguration
discovery:
  bootstrapToken:
    apiServerEndpoint: ${NODE_IP[$CP_NODE]}:6443
    token: "$TOKEN"
    unsafeSkipCAVerification: true
nodeRegistration:
  name: $n
  criSocket: unix:///run/containerd/containerd.sock
  kubeletExtraArgs:
  - {name: node-ip, value: "${NODE_IP[$n]}"}
YAML
  node_exec "$n" kubeadm join --config /etc/eulab/kubeadm-join.yaml \
    --ignore-preflight-errors="$IGNORE_PREFLIGHT" > "$LAB_DIR/kubeadm-join-$n.log" 2>&1 \
    || { tail -40 "$LAB_DIR/kubeadm-join-$n.log"; die "kubeadm join of $n failed (log: $LAB_DIR/kubeadm-join-$n.log)"; }
}

has_podcidr() { [ -n "$(kc get node "$1" -o jsonpath='{.spec.podCIDR}')" ]; }
node_ready() { [ "$(kc get node "$1" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ]; }

stage_begin "up: network+nodes+containerd"
setup_network
for n in "${LAB_NODES[@]}"; do start_node "$n"; done
stage_end

stage_begin "up: import images"
import_images "$CP_NODE" "$LAB_CACHE/images/$V/cp.tar" "$LAB_CACHE/images/$V/node.tar" & p1=$!
import_images "$WORKER_NODE" "$LAB_CACHE/images/$V/node.tar" "$LAB_CACHE/images/lab.tar" & p2=$!
if ! wait "$p1" || ! wait "$p2"; then
  die "image import failed"
fi
stage_end

stage_begin "up: kubeadm init"
kubeadm_init
stage_end

stage_begin "up: kubeadm join"
kubeadm_join "$WORKER_NODE"
stage_end

stage_begin "up: CNI + nodes Ready"
declare -A CIDR
for n in "${LAB_NODES[@]}"; do
  wait_for 60 "podCIDR of $n" has_podcidr "$n" || die "no podCIDR for $n"
  CIDR[$n]=$(write_cni "$n")
done
for n in "${LAB_NODES[@]}"; do
  for m in "${LAB_NODES[@]}"; do
    [ "$n" = "$m" ] || ip -n "$n" route replace "${CIDR[$m]}" via "${NODE_IP[$m]}"
  done
done
for n in "${LAB_NODES[@]}"; do wait_for 180 "node $n Ready" node_ready "$n" || die "node $n not Ready"; done
stage_end

stage_begin "up: system pods + workload"
kc apply -f - > /dev/null <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: lab-workload, namespace: default, labels: {app: lab-workload}}
spec:
  replicas: 1
  selector: {matchLabels: {app: lab-workload}}
  template:
    metadata: {labels: {app: lab-workload}}
    spec:
      nodeSelector: {kubernetes.io/hostname: $WORKER_NODE}
      terminationGracePeriodSeconds: 5
      containers:
      - name: app
        image: registry.local/eulab/workload:v1
        imagePullPolicy: Never
YAML
kc -n default rollout status deploy/lab-workload --timeout=180s >/dev/null || die "workload did not become available"
kc -n kube-system rollout status ds/kube-proxy --timeout=180s >/dev/null || die "kube-proxy not ready"
kc -n kube-system rollout status deploy/coredns --timeout=180s >/dev/null || die "coredns not ready"
stage_end
log "cluster up: KUBECONFIG=$KUBECONFIG_LAB"
