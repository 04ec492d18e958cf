#!/bin/bash
# PID 1 of one lab node. down.sh/up.sh start it as
#   nsenter --net=/run/netns/NODE unshare --mount --uts --ipc --pid --fork -- node-init.sh NODE DIR
# so it runs in the node's network namespace and in fresh mount, UTS, IPC and PID
# namespaces. It gives the node its own root filesystem and then acts as the node's
# init system: it keeps containerd running and supervises the kubelet the way systemd's
# kubelet.service + 10-kubeadm.conf do (same flag files, restart whenever it exits),
# which is the non-systemd restart path the node agent relies on.
#
# Root filesystem: overlayfs with the host's / as the (read-only) lower layer and a tmpfs
# (DIR/upper, mounted by the host side) as the upper layer, so each node has its own
# /usr/bin/kubelet, /etc/kubernetes, ... Directories with heavy or mount-sensitive state
# are bind mounts of real directories under DIR: /var/lib/containerd (overlay snapshots
# cannot live on overlayfs), /var/lib/kubelet, /var/lib/etcd, /var/log, /run.
set -euo pipefail
NODE=$1 D=$2
R=$D/root

mount --make-rprivate /
mount -t overlay overlay -o "lowerdir=/,upperdir=$D/upper/diff,workdir=$D/upper/work" "$R"
for d in proc sys dev run tmp var/lib/containerd var/lib/kubelet var/lib/etcd var/log lib/modules .lab-oldroot; do
  mkdir -p "$R/$d"
done
mount -t proc proc "$R/proc"
mount -t sysfs sysfs "$R/sys"                 # shows this node's network devices
mount --rbind /sys/fs/cgroup "$R/sys/fs/cgroup"
mount --rbind /dev "$R/dev"
mount -t tmpfs -o mode=1777 tmpfs "$R/tmp"
mount --bind "$D/run" "$R/run"
mount --bind "$D/containerd" "$R/var/lib/containerd"
mount --bind "$D/kubelet" "$R/var/lib/kubelet"
mount --bind "$D/etcd" "$R/var/lib/etcd"
mount --bind "$D/log" "$R/var/log"

# LAB ONLY: the kubelet insists on these global (not namespaced) kernel tunables and
# writes them when they differ. Two kubelets on one shared machine must not change the
# machine's panic behaviour, so the node sees files holding the values the kubelet wants.
mkdir -p "$D/sysctl"
for kv in vm/overcommit_memory=1 vm/panic_on_oom=0 kernel/panic=10 kernel/panic_on_oops=1 \
          kernel/keys/root_maxkeys=1000000 kernel/keys/root_maxbytes=25000000; do
  k=${kv%%=*} v=${kv#*=}
  [ -e "/proc/sys/$k" ] || continue
  if [ "$(cat "/proc/sys/$k")" != "$v" ]; then
    f=$D/sysctl/${k//\//_}
    echo "$v" > "$f"
    mount --bind "$f" "$R/proc/sys/$k"
  fi
done

cd "$R"
pivot_root . .lab-oldroot
cd /
umount -l /.lab-oldroot
rmdir /.lab-oldroot 2>/dev/null || true
hostname "$NODE"
set +e   # from here on this is an init: it must never exit
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
mkdir -p /var/log/eulab /run/eulab
slog() { printf '%s %s\n' "$(date '+%F %T')" "$*" >> /var/log/eulab/supervisor.log; }
slog "node $NODE up (init pid $$ in the node's PID namespace)"

containerd_loop() {
  while true; do
    slog "starting containerd"
    containerd --config /etc/containerd/config.toml >> /var/log/eulab/containerd.log 2>&1 || true
    slog "containerd exited"
    sleep 1
  done
}

# The kubelet, started the way kubeadm's systemd drop-in starts it. The flag files are
# re-read on every start (kubeadm and the node agent edit them).
kubelet_loop() {
  while true; do
    if [ -s /var/lib/kubelet/config.yaml ]; then
      KUBELET_KUBEADM_ARGS='' KUBELET_EXTRA_ARGS=''
      # shellcheck disable=SC1091 # written by kubeadm on the node, at run time
      [ ! -f /var/lib/kubelet/kubeadm-flags.env ] || . /var/lib/kubelet/kubeadm-flags.env
      # shellcheck disable=SC1091 # exists only on the node, at run time
      [ ! -f /etc/default/kubelet ] || . /etc/default/kubelet
      # LAB-ONLY failure knob (e2e.sh): /etc/eulab/break-kubelet holds a version prefix;
      # a kubelet of that version gets a flag it rejects, so it cannot start (as on a
      # node whose init script passes a flag the new release removed). The version is
      # only probed while the knob is set (a probe is a short-lived kubelet process).
      if [ -s /etc/eulab/break-kubelet ]; then
        ver=$(/usr/bin/kubelet --version 2>&1 | sed -n 1p)
        if [[ "${ver#Kubernetes }" == "$(cat /etc/eulab/break-kubelet)"* ]]; then
          KUBELET_EXTRA_ARGS="$KUBELET_EXTRA_ARGS --eulab-injected-bad-flag"
        fi
      fi
      slog "starting kubelet $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS"
      # shellcheck disable=SC2086
      /usr/bin/kubelet --bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf \
        --kubeconfig=/etc/kubernetes/kubelet.conf --config=/var/lib/kubelet/config.yaml \
        $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS >> /var/log/eulab/kubelet.log 2>&1 &
      echo $! > /run/eulab/kubelet.pid
      rc=0; wait $! || rc=$?
      slog "kubelet exited rc=$rc; restarting in 1s"
    fi
    sleep 1
  done
}

containerd_loop &
kubelet_loop &
# PID 1: reap orphans (containerd shims re-parent here) until killed from the host.
while true; do wait -n 2>/dev/null || sleep 1; done
