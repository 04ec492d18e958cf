#!/usr/bin/env bash
# Tear the real-cluster lab down: every process (by the PIDs recorded at start: killing a
# node's init ends its whole PID namespace), every mount, the network namespaces, the
# bridge and veths, the cgroups, and $LAB_DIR. Safe to run repeatedly and on a
# half-built lab. Reports what it could not remove and exits non-zero then.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
problems=0
warn() { log "teardown: $*"; problems=$((problems + 1)); }

for n in "${LAB_NODES[@]}"; do
  d=$(node_dir "$n")
  for f in launcher.pid init.pid; do
    pid=$(cat "$d/$f" 2>/dev/null) || continue
    # Only ever the PID we recorded, and only if it is still our process.
    if [ -d "/proc/$pid" ] && grep -qaE 'unshare|node-init' "/proc/$pid/cmdline" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
done
# The PID namespaces die with their init; wait for their processes to be gone.
for n in "${LAB_NODES[@]}"; do
  pid=$(cat "$(node_dir "$n")/init.pid" 2>/dev/null) || continue
  for _ in $(seq 50); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
  [ ! -d "/proc/$pid" ] || warn "node $n init $pid still alive"
done

# Mounts the host side made (the nodes' own mounts vanished with their namespaces).
if [ -d "$LAB_DIR" ]; then
  for _ in 1 2 3; do
    mps=$(awk -v p="$LAB_DIR/" 'index($2, p) == 1 {print $2}' /proc/self/mounts | sort -r)
    [ -n "$mps" ] || break
    for m in $mps; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
  done
  mps=$(awk -v p="$LAB_DIR/" 'index($2, p) == 1 {print $2}' /proc/self/mounts)
  [ -z "$mps" ] || warn "still mounted: $mps"
fi

for n in "${LAB_NODES[@]}"; do
  if ip netns list 2>/dev/null | grep -qw "^$n"; then ip netns delete "$n" || warn "netns $n"; fi
  # The veth usually goes with its peer's namespace; delete it if it is still there.
  if ip link show "ve-$n" >/dev/null 2>&1; then
    ip link delete "ve-$n" 2>/dev/null || ! ip link show "ve-$n" >/dev/null 2>&1 || warn "veth ve-$n"
  fi
done
if ip link show "$LAB_BRIDGE" >/dev/null 2>&1; then ip link delete "$LAB_BRIDGE" || warn "bridge $LAB_BRIDGE"; fi

# cgroups: /eulab-NODE trees, deepest first; they empty once the processes are gone.
for n in "${LAB_NODES[@]}"; do
  for h in /sys/fs/cgroup/*/; do
    [ -d "$h$n" ] || continue
    for _ in $(seq 30); do
      find "$h$n" -depth -type d -exec rmdir {} \; 2>/dev/null
      [ -d "$h$n" ] || break
      sleep 0.2
    done
    [ ! -d "$h$n" ] || warn "cgroup $h$n not removable"
  done
done

if [ -d "$LAB_DIR" ]; then
  rm -rf --one-file-system "$LAB_DIR" || warn "could not remove $LAB_DIR"
fi
if [ "$problems" = 0 ]; then
  log "teardown complete"
else
  log "teardown finished with $problems problem(s)"
  exit 1
fi
