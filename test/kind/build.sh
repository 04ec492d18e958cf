#!/usr/bin/env bash
# Build the kind lab's images offline and cache them (docs/kind.md). Needs the lab's
# dockerd (dockerd.sh start) for `base` and `node`.
#
#   build.sh kind            the kind CLI $KIND_VERSION from the module proxy
#   build.sh base            the node base image: Debian packages (systemd, containerd,
#                            runc, CNI plugins, iptables, ...) by debootstrap, kind's own
#                            base files (entrypoint, units, containerd config) from the
#                            kind module, imported into Docker with `docker import`
#   build.sh node VERSION    the node image: a Kubernetes server tarball assembled from
#                            our builds (binaries of hack/build-kube.sh, images of
#                            test/real/build.sh) given to `kind build node-image`
#   build.sh all             all of the above, for $FROM_VERSION and $TO_VERSION
#
# Images are tagged by a hash of their inputs, so an edit of this script or of an input
# rebuilds what depends on it, and a cached image is reused otherwise:
#   $KIND_IMAGE_REPO/base:<hash>   $KIND_IMAGE_REPO/node:<version>-<hash>
# They live in the lab dockerd's data root, $KIND_CACHE/docker. Every step prints the
# image it settled on as its last line of stdout.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$REPO_ROOT/hack/lib/progress.sh"
mkdir -p "$KIND_CACHE"
KIND_SRC=
KIND_BIN=$KIND_CACHE/$KIND_VERSION/bin/kind
WRAPPER=$KIND_CACHE/tools/runc-wrapper
# The real-cluster lab's builds: Kubernetes images of both versions, pause, mkimage.
REALLAB_CACHE=${LAB_CACHE:-$EDGEUPGRADE_CACHE/reallab}

# Packages of kind's images/base/Dockerfile that Debian 12 has, plus what kind builds
# from source there (containerd, runc, CNI plugins: Debian's 1.6.20, 1.1.5, 1.1.1).
# Not included: nfs-common, open-iscsi, fuse-overlayfs (storage and rootless extras)
# and crictl (not packaged in Debian 12).
BASE_PACKAGES=systemd,dbus,conntrack,iptables,nftables,iproute2,ethtool,util-linux,mount,kmod,libseccomp2,pigz,e2fsprogs,bash,ca-certificates,curl,jq,procps,containerd,runc,containernetworking-plugins

sha() { sha256sum | cut -c1-12; }

# prune_others REPO KEEP PREFIX: remove the images of REPO tagged PREFIX* but KEEP (an
# earlier build of what KEEP replaces), so the cache holds one build of each.
prune_others() {
  local repo=$1 keep=$2 prefix=$3 t
  for t in $(docker images "$repo" --format '{{.Tag}}'); do
    case $t in "$prefix"*) [ "$repo:$t" = "$keep" ] || docker rmi "$repo:$t" >/dev/null || true ;; esac
  done
  docker image prune -f >/dev/null
}

build_kind() {
  exec 8>"$KIND_CACHE/$KIND_VERSION.lock"
  lock_or_wait 8 "kind $KIND_VERSION"
  if [ ! -x "$KIND_BIN" ]; then
    # shellcheck disable=SC2016 # expanded by the inner shell
    with_progress "building kind $KIND_VERSION" "1 min" \
      sh -c 'GOBIN="$1" CGO_ENABLED=0 exec go install "sigs.k8s.io/kind@$2"' _ "$(dirname "$KIND_BIN")" "$KIND_VERSION" >&2
  fi
  exec 8>&-
  KIND_SRC=$(cd "$REPO_ROOT/test" && go mod download -json "sigs.k8s.io/kind@$KIND_VERSION" | jq -r .Dir)
  echo "$KIND_BIN"
}

base_tag() {
  { declare -f configure_rootfs; echo "$BASE_PACKAGES $KIND_DEBIAN_SUITE $KIND_VERSION"; sha256sum "$WRAPPER"; } | sha
}

# configure_rootfs DIR: what kind's images/base/Dockerfile does after installing its
# packages, with kind's own files, adapted to Debian's binaries.
configure_rootfs() {
  local r=$1 f=$KIND_SRC/images/base/files
  install -d -m 0755 "$r/kind/bin" "$r/LICENSES" "$r/etc/kubernetes/manifests" "$r/opt/cni"
  install -m 0755 "$f"/usr/local/bin/* "$r/usr/local/bin/"
  cp -r "$f/kind/." "$r/kind/"; chmod -R a+rX "$r/kind"; chmod 0755 "$r"/kind/bin/*
  cp -r "$f/etc/." "$r/etc/"; chmod -R a+rX,go-w "$r/etc/containerd" "$r/etc/systemd/system" "$r/etc/sysctl.d" "$r/etc/default"
  # kind's units run containerd from /usr/local/bin; Debian's is in /usr/bin.
  ln -sf /usr/bin/containerd "$r/usr/local/bin/containerd"
  ln -sf /usr/bin/containerd-shim-runc-v2 "$r/usr/local/bin/containerd-shim-runc-v2"
  ln -sfn /usr/lib/cni "$r/opt/cni/bin"
  # LAB ONLY: runc through the real-cluster lab's wrapper (no CAP_SYS_RESOURCE here).
  install -m 0755 "$WRAPPER" "$r/usr/local/sbin/runc-wrapper"
  sed -i 's|^\(\s*\)SystemdCgroup = true|&\n\1BinaryName = "/usr/local/sbin/runc-wrapper"|' "$r/etc/containerd/config.toml"
  # ctr 1.6 has no `images import --label` (kind's build pins its images with it).
  cat > "$r/usr/local/bin/ctr" <<'SH'
#!/bin/sh
# kind base image on Debian 12: ctr 1.6 lacks two things kind's node-image build uses:
# `ctr info` (its "is containerd up" probe; `ctr version` asks the daemon too) and
# `images import --label=...` (dropped: the images are not pinned against GC).
[ "${1:-}" = info ] && { shift; set -- version "$@"; }
for a do shift; case $a in --label=*) ;; *) set -- "$@" "$a" ;; esac; done
exec /usr/bin/ctr "$@"
SH
  chmod 0755 "$r/usr/local/bin/ctr"
  chroot "$r" sh -c '/usr/bin/ctr oci spec' \
    | jq '.hooks.createContainer[.hooks.createContainer| length] |= . + {"path": "/kind/bin/mount-product-files.sh"}' \
    | jq 'del(.process.rlimits)' > "$r/etc/containerd/cri-base.json"
  # The Dockerfile's clean-ups.
  find "$r/lib/systemd/system/sysinit.target.wants/" -name systemd-tmpfiles-setup.service -delete
  rm -f "$r"/lib/systemd/system/multi-user.target.wants/* "$r"/etc/systemd/system/*.wants/* \
    "$r"/lib/systemd/system/local-fs.target.wants/* "$r"/lib/systemd/system/sockets.target.wants/*udev* \
    "$r"/lib/systemd/system/sockets.target.wants/*initctl* "$r"/lib/systemd/system/basic.target.wants/*
  echo "ReadKMsg=no" >> "$r/etc/systemd/journald.conf"
  ln -sf /usr/lib/systemd/systemd "$r/sbin/init"
  # LAB ONLY: this machine is shared. systemd-sysctl would apply Debian's global kernel
  # settings (pid_max, fs.protected_*) to the host; kind's own are per network namespace.
  rm -f "$r"/usr/lib/sysctl.d/*.conf
  # LAB ONLY: the kubelet writes global kernel tunables (panic behaviour, overcommit);
  # each node sees files holding the values it wants instead (as the real-cluster lab).
  cat > "$r/kind/bin/eukind-sysctl-guard.sh" <<'SH'
#!/bin/sh
set -eu
mkdir -p /run/eukind-sysctl
for kv in vm/overcommit_memory=1 vm/panic_on_oom=0 kernel/panic=10 kernel/panic_on_oops=1 \
          kernel/keys/root_maxkeys=1000000 kernel/keys/root_maxbytes=25000000; do
  k=${kv%%=*} v=${kv#*=} f=/run/eukind-sysctl/$(echo "${kv%%=*}" | tr / _)
  [ -e "/proc/sys/$k" ] || continue
  echo "$v" > "$f"
  mountpoint -q "/proc/sys/$k" || mount --bind "$f" "/proc/sys/$k"
done
SH
  chmod 0755 "$r/kind/bin/eukind-sysctl-guard.sh"
  cat > "$r/etc/systemd/system/eukind-sysctl-guard.service" <<'UNIT'
[Unit]
Description=lab only: keep the kubelet off the shared machine's global kernel tunables
DefaultDependencies=no
Before=kubelet.service containerd.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/kind/bin/eukind-sysctl-guard.sh

[Install]
WantedBy=multi-user.target
UNIT
  chroot "$r" systemctl enable kubelet.service containerd.service undo-mount-hacks.service eukind-sysctl-guard.service >/dev/null 2>&1
  chroot "$r" systemctl mask systemd-binfmt.service >/dev/null 2>&1
  cp "$KIND_SRC/images/base/files/LICENSES/README.txt" "$r/LICENSES/" 2>/dev/null || true
  rm -rf "$r"/var/cache/apt/archives/*.deb "$r"/var/lib/apt/lists/* "$r/etc/machine-id"
  : > "$r/etc/machine-id"
}

build_base() {
  local tag work
  tag=$KIND_IMAGE_REPO/base:$(base_tag)
  exec 9>"$KIND_CACHE/base.lock"
  lock_or_wait 9 "the kind base image"
  if docker image inspect "$tag" >/dev/null 2>&1; then echo "$tag"; return 0; fi
  command -v debootstrap >/dev/null || flock /tmp/edgeupgrade-apt.lock sh -c \
    'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null'
  work=$KIND_CACHE/base.work
  rm -rf "$work"; mkdir -p "$work"
  # shellcheck disable=SC2016 # expanded by the inner shell
  with_progress "debootstrap $KIND_DEBIAN_SUITE for the kind base image" "3-5 min" \
    sh -c 'log=$1; shift; exec debootstrap "$@" >"$log" 2>&1' _ "$work/debootstrap.log" \
    --variant=minbase --include="$BASE_PACKAGES" "$KIND_DEBIAN_SUITE" "$work/rootfs" "$KIND_DEBIAN_MIRROR" \
    || { tail -20 "$work/debootstrap.log" >&2; die "debootstrap failed"; }
  configure_rootfs "$work/rootfs"
  log "docker import $tag"
  tar -C "$work/rootfs" --numeric-owner -cf - . | docker import \
    --change 'ENV container=docker' \
    --change 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]' - "$tag" >/dev/null
  rm -rf "$work"
  prune_others "$KIND_IMAGE_REPO/base" "$tag" ""
  echo "$tag"
}

# Placeholders for the images kind's node-image build insists on (its default CNI and
# storage); the lab disables both (docs/kind.md), and a container of these would fail
# at once: their entrypoint does not exist.
kind_default_images() {
  sed -n 's/^const \(kindnetdImage\|storageProvisionerImage\|storageHelperImage\) = "\(.*\)"$/\2/p' \
    "$KIND_SRC"/pkg/build/nodeimage/const_*.go
}

# server_tarball VERSION DIR: the layout of kubernetes-server-linux-amd64.tar.gz that
# `kind build node-image --type file` reads.
server_tarball() {
  local v=$1 d=$2 kb lab=$REALLAB_CACHE mk=$REALLAB_CACHE/tools/mkimage img
  kb=$(kube_bin "$v")
  mkdir -p "$d/kubernetes/server/bin"
  echo "$v" > "$d/kubernetes/version"
  cp "$kb/kubeadm" "$kb/kubelet" "$kb/kubectl" "$d/kubernetes/server/bin/"
  # kind loads exactly these four archives; each may hold several images.
  ln "$lab/images/$v/cp.tar" "$d/kubernetes/server/bin/kube-apiserver.tar" 2>/dev/null || cp "$lab/images/$v/cp.tar" "$d/kubernetes/server/bin/kube-apiserver.tar"
  ln "$lab/images/$v/node.tar" "$d/kubernetes/server/bin/kube-proxy.tar" 2>/dev/null || cp "$lab/images/$v/node.tar" "$d/kubernetes/server/bin/kube-proxy.tar"
  # containerd's sandbox image (the base's config) under its tag, from the lab's pause.
  {
    echo "image $(sandbox_image)"
    echo "entrypoint /pause"; echo "file $lab/tools/pause /pause 0755"
  } | "$mk" -o "$d/kubernetes/server/bin/kube-controller-manager.tar"
  {
    for img in $(kind_default_images); do
      echo "image $img"; echo "entrypoint /not-built-offline-see-docs-kind.md"; echo "dir /tmp"
    done
  } | "$mk" -o "$d/kubernetes/server/bin/kube-scheduler.tar"
}

sandbox_image() { sed -n 's/^\s*sandbox_image = "\(.*\)"/\1/p' "$KIND_SRC/images/base/files/etc/containerd/config.toml"; }

build_node() {
  local v=$1 base tag work
  base=$(build_base | tail -1)
  "$REPO_ROOT/test/real/build.sh" all >&2
  tag=$KIND_IMAGE_REPO/node:$v-$( { echo "$base"; declare -f server_tarball build_node; sha256sum "$(kube_bin "$v")"/{kubeadm,kubelet,kubectl} \
    "$REALLAB_CACHE/images/$v"/*.tar; } | sha)
  exec 9>"$KIND_CACHE/node-$v.lock"
  lock_or_wait 9 "the kind node image $v"
  if docker image inspect "$tag" >/dev/null 2>&1; then echo "$tag"; return 0; fi
  work=$(mktemp -d "$KIND_CACHE/node-$v.XXXXXX")
  server_tarball "$v" "$work/src"
  tar -C "$work/src" -cf - kubernetes | gzip -1 > "$work/kubernetes-server-linux-amd64.tar.gz"
  rm -rf "$work/src"
  # The base image is local only: kind's `docker pull` of it fails at once (dockerd's
  # proxy is a closed loopback port) and kind goes on with the local image. The same
  # proxy in the build container keeps containerd there from fetching anything.
  # kind extracts the server tarball under TMPDIR and leaves it there (about 600 MB a
  # build): give it a directory inside $work, which is removed below.
  mkdir -p "$work/tmp"
  # shellcheck disable=SC2016 # expanded by the inner shell
  TMPDIR=$work/tmp HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 NO_PROXY='' \
  with_progress "kind build node-image $v" "1-3 min" \
    sh -c 'log=$1; shift; exec "$@" >"$log" 2>&1' _ "$work/build.log" \
    "$KIND_BIN" build node-image --type file --base-image "$base" --image "$tag.kind" "$work/kubernetes-server-linux-amd64.tar.gz" \
    || { tail -30 "$work/build.log" >&2; die "kind build node-image $v failed (log: $work/build.log)"; }
  # kind's default StorageClass manifest names the local-path images the lab does not
  # build: without it, kind installs its host-path StorageClass (no pods).
  docker rm -f "eukind-build-$v" >/dev/null 2>&1 || true
  docker run --name "eukind-build-$v" --network none --entrypoint rm "$tag.kind" -f /kind/manifests/default-storage.yaml
  docker commit --change 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]' "eukind-build-$v" "$tag" >/dev/null
  docker rm -f "eukind-build-$v" >/dev/null
  docker rmi "$tag.kind" >/dev/null
  rm -rf "$work"
  prune_others "$KIND_IMAGE_REPO/node" "$tag" "$v-"
  echo "$tag"
}

case ${1:-all} in
  kind) build_kind ;;
  base) build_kind >/dev/null; build_base ;;
  node) [ -n "${2:-}" ] || die "usage: build.sh node VERSION"; build_kind >/dev/null; build_node "$2" ;;
  all) build_kind >/dev/null; build_base; build_node "$FROM_VERSION"; build_node "$TO_VERSION" ;;
  *) die "usage: build.sh kind|base|node VERSION|all" ;;
esac
