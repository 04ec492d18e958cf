# shellcheck shell=bash
# Shared settings of the kind lab (sourced; bash). Read by build.sh, dockerd.sh and
# mk/kind.mk's recipes:
# shellcheck disable=SC2034
#
# The lab runs its own dockerd (dockerd.sh), private to it: its socket, PID file and
# runtime state live under $KIND_DIR, its images (the kind base and node images, which
# take minutes to build) under $KIND_CACHE/docker, so they survive from run to run like
# every other build cached under $EDGEUPGRADE_CACHE.

KIND_LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$KIND_LAB_DIR/../.." && pwd)
export EDGEUPGRADE_CACHE=${EDGEUPGRADE_CACHE:-$HOME/.cache/edgeupgrade}
KIND_CACHE=$EDGEUPGRADE_CACHE/kind
KIND_DIR=${KIND_DIR:-/var/tmp/edgeupgrade-kind}   # short: containerd's sockets live below it
export DOCKER_HOST=unix://$KIND_DIR/docker.sock
FROM_VERSION=${KIND_FROM:-v1.35.4}
TO_VERSION=${KIND_TO:-v1.36.3}
# kind itself, from the Go module proxy (its Go API is the e2e's, see test/go.mod).
KIND_VERSION=${KIND_VERSION:-v0.33.0}
# The Debian release of the node's base image (systemd, containerd, runc, CNI plugins).
KIND_DEBIAN_SUITE=bookworm
KIND_DEBIAN_MIRROR=${KIND_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# The Docker network kind's nodes join: made by dockerd.sh, internal (no route off it).
KIND_NETWORK_SUBNET=${KIND_NETWORK_SUBNET:-172.31.251.0/24}
KIND_BRIDGE=eukind0
KIND_IMAGE_REPO=edgeupgrade.local/kind

log() { printf '%s [kind] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }
kube_bin() { echo "$EDGEUPGRADE_CACHE/kube/$1/bin"; }
