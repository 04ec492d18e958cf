#!/usr/bin/env bash
# The kind lab's private dockerd: start | stop | check.
#
#   start  install docker.io when missing (root), write daemon.json, start dockerd and
#          wait for it; make the lab's internal network "kind"
#   stop   remove every container and network of this dockerd, stop it by its PID, and
#          check that nothing is left (processes, mounts, cgroups)
#   check  exit 0 when Docker can run here (root, dockerd, overlayfs), else say why
#
# LAB ONLY settings (docs/kind.md):
#   - default runtime: the real-cluster lab's runc wrapper. This machine has no
#     CAP_SYS_RESOURCE, so runc cannot start a privileged container (every kind node)
#     without it; containerd inside the nodes uses the same wrapper.
#   - no registry: dockerd's proxy is a closed loopback port, so any pull fails at once
#     instead of dialling out; images are built here (build.sh).
#   - no NAT, no default bridge, and dockerd leaves iptables alone; the nodes' network is
#     internal, its DNS forwarder points to loopback, and one host firewall rule of the
#     lab's own drops whatever the nodes would send past their bridge (Docker still
#     gives the nodes a default route to the host): nothing in the lab leaves the machine.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
WRAPPER=$KIND_CACHE/tools/runc-wrapper
PIDFILE=$KIND_DIR/dockerd.pid

can_run() {
  [ "$(id -u)" = 0 ] || { echo "not root (dockerd and kind's privileged nodes need root)"; return 1; }
  grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null || { echo "no overlay file system in this kernel"; return 1; }
  [ -d /sys/fs/cgroup ] || { echo "no /sys/fs/cgroup"; return 1; }
  return 0
}

install_docker() {
  command -v dockerd >/dev/null && return 0
  log "apt-get install docker.io"
  flock /tmp/edgeupgrade-apt.lock sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io >/dev/null'
}

build_wrapper() {
  mkdir -p "$(dirname "$WRAPPER")"
  (cd "$REPO_ROOT/test/real" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$WRAPPER.new" ./cmd/runc-wrapper)
  if cmp -s "$WRAPPER.new" "$WRAPPER"; then rm -f "$WRAPPER.new"; else mv "$WRAPPER.new" "$WRAPPER"; fi
}

# The fence: nothing from the lab's bridge is forwarded anywhere but back onto it.
FENCE=(-i "$KIND_BRIDGE" ! -o "$KIND_BRIDGE" -m comment --comment "edgeupgrade kind lab: nothing leaves" -j DROP)

running() { [ -s "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

start() {
  local why
  why=$(can_run) || die "Docker cannot run here: $why"
  install_docker
  build_wrapper
  if running; then log "dockerd already running (PID $(cat "$PIDFILE"))"; return 0; fi
  mkdir -p "$KIND_DIR" "$KIND_CACHE/docker"
  cat > "$KIND_DIR/daemon.json" <<JSON
{
  "hosts": ["$DOCKER_HOST"],
  "data-root": "$KIND_CACHE/docker",
  "exec-root": "$KIND_DIR/exec",
  "pidfile": "$PIDFILE",
  "runtimes": {"eulab-runc": {"path": "$WRAPPER"}},
  "default-runtime": "eulab-runc",
  "storage-driver": "overlay2",
  "iptables": false,
  "ip6tables": false,
  "ip-forward": false,
  "ip-masq": false,
  "bridge": "none",
  "dns": ["127.0.0.1"],
  "userland-proxy": true,
  "log-driver": "json-file"
}
JSON
  log "starting dockerd ($(dockerd --version)); log $KIND_DIR/dockerd.log"
  # dockerd outlives this script (make kind-up): it must not inherit the lab's lock
  # (fd 5, e2e.sh) or a build lock, or it would hold them for as long as it runs.
  HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 NO_PROXY='' \
    setsid dockerd --config-file "$KIND_DIR/daemon.json" >"$KIND_DIR/dockerd.log" 2>&1 </dev/null 5>&- 7>&- 8>&- 9>&- &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    kill -0 $! 2>/dev/null || { tail -20 "$KIND_DIR/dockerd.log" >&2; die "dockerd exited"; }
    sleep 0.5
  done
  docker info >/dev/null 2>&1 || { tail -20 "$KIND_DIR/dockerd.log" >&2; die "dockerd did not answer within 30s"; }
  # kind joins its nodes to the network named "kind" when it exists.
  docker network inspect kind >/dev/null 2>&1 || docker network create --internal \
    --subnet "$KIND_NETWORK_SUBNET" -o com.docker.network.bridge.name="$KIND_BRIDGE" kind >/dev/null
  iptables -C FORWARD "${FENCE[@]}" 2>/dev/null || iptables -I FORWARD 1 "${FENCE[@]}"
  log "dockerd up (PID $(cat "$PIDFILE")), DOCKER_HOST=$DOCKER_HOST"
}

stop() {
  if running; then
    local pid c
    pid=$(cat "$PIDFILE")
    for c in $(docker ps -aq); do docker rm -f -v "$c" >/dev/null || true; done
    docker network rm kind >/dev/null 2>&1 || true
    docker volume prune -f >/dev/null 2>&1 || true
    kill -TERM "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && { log "dockerd $pid did not stop in 30s; killing it"; kill -KILL "$pid"; }
  fi
  rm -f "$PIDFILE"
  # What dockerd leaves when it had to be killed: mounts below its directories, its
  # cgroups (empty once their containers are gone), its bridge.
  local m
  { grep -oE " ($KIND_DIR|$KIND_CACHE/docker)[^ ]*" /proc/self/mounts || true; } | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  for m in /sys/fs/cgroup/*/docker /sys/fs/cgroup/docker; do
    if [ -d "$m" ]; then find "$m" -depth -type d -exec rmdir {} + 2>/dev/null || true; fi
  done
  ip link del "$KIND_BRIDGE" 2>/dev/null || true
  while iptables -C FORWARD "${FENCE[@]}" 2>/dev/null; do iptables -D FORWARD "${FENCE[@]}"; done
  rm -rf "$KIND_DIR"
  local left=()
  pgrep -f "[/]${KIND_DIR#/}/" >/dev/null && left+=("processes")
  grep -qE " ($KIND_DIR|$KIND_CACHE/docker)" /proc/self/mounts && left+=("mounts")
  ip link show "$KIND_BRIDGE" >/dev/null 2>&1 && left+=("bridge $KIND_BRIDGE")
  compgen -G '/sys/fs/cgroup/*/docker' >/dev/null && left+=("cgroups /sys/fs/cgroup/*/docker")
  [ ${#left[@]} -eq 0 ] || die "left behind: ${left[*]}"
  log "dockerd stopped; nothing left behind"
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  check) why=$(can_run) || { echo "Docker cannot run here: $why" >&2; exit 1; } ;;
  *) die "usage: dockerd.sh start|stop|check" ;;
esac
