#!/usr/bin/env bash
# Build containerd 2.x (containerd, containerd-shim-runc-v2, ctr) for one version from the
# Go module proxy and cache it.
#
#   hack/build-containerd.sh [v2.2.9] [ARCH]
#
# Static binaries (CGO_ENABLED=0): the cgo-only snapshotters and features are left out
# with build tags (no btrfs, no devmapper, no zfs, no seccomp in the binaries themselves:
# runc applies seccomp), which is what a node that gets containerd from the upgrade
# image needs. Only the three commands a node runs are built. Output:
# $EDGEUPGRADE_CACHE/containerd/<version>/bin[-ARCH]/{containerd,containerd-shim-runc-v2,ctr}
# (default cache ~/.cache/edgeupgrade). Idempotent: does nothing when all three exist.
# Prints the bin dir on stdout, progress on stderr.
set -euo pipefail
. "$(dirname "$0")/lib/progress.sh"
V=${1:-v2.2.9}
ARCH=${2:-$(go env GOARCH)}
CACHE=${EDGEUPGRADE_CACHE:-$HOME/.cache/edgeupgrade}
OUT=$CACHE/containerd/$V/bin
[ "$ARCH" = "$(go env GOHOSTARCH)" ] || OUT=$OUT-$ARCH
CMDS=(containerd containerd-shim-runc-v2 ctr)
built() { local c; for c in "${CMDS[@]}"; do [ -x "$OUT/$c" ] || return 1; done; }
if built; then echo "$OUT"; exit 0; fi

MOD=$CACHE/containerd/$V/mod
mkdir -p "$MOD" "$OUT"
# One build of a version at a time; a second caller waits, then finds it built.
exec 9>"$CACHE/containerd/$V.lock"
lock_or_wait 9 "containerd $V"
if built; then echo "$OUT"; exit 0; fi
PKG=github.com/containerd/containerd/v2
if [ ! -f "$MOD/go.sum" ]; then
  echo ">> preparing containerd $V wrapper module (first time only)" >&2
  printf 'module containerdbuild\n\ngo 1.26\n' > "$MOD/go.mod"
  cat > "$MOD/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "github.com/containerd/containerd/v2/cmd/containerd"
	_ "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2"
	_ "github.com/containerd/containerd/v2/cmd/ctr"
)
GO
  # shellcheck disable=SC2016 # $1, $2... are expanded by the inner shell
  with_progress "downloading the modules of containerd $V" "under a minute" \
    sh -c 'cd "$1" && exec go get "$2/cmd/containerd@$3" "$2/cmd/containerd-shim-runc-v2@$3" "$2/cmd/ctr@$3"' _ "$MOD" "$PKG" "$V"
fi
tmp=$(mktemp -d "$OUT/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# The version is stamped the way containerd's Makefile does, so `containerd --version`
# and the CRI's RuntimeVersion (what the Node reports) say $V.
LDFLAGS="-s -w -X $PKG/version.Version=$V -X $PKG/version.Package=github.com/containerd/containerd/v2"
TAGS=no_btrfs,no_devmapper,no_zfs,no_aufs,osusergo,netgo,static_build
# shellcheck disable=SC2016 # $1, $2... are expanded by the inner shell
with_progress "building containerd $V ($ARCH)" "3-6 min" sh -c 'cd "$1" && CGO_ENABLED=0 GOARCH="$5" exec go build -trimpath -tags "$4" -ldflags "$3" -o "$2/" \
  github.com/containerd/containerd/v2/cmd/containerd github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 github.com/containerd/containerd/v2/cmd/ctr' _ "$MOD" "$tmp" "$LDFLAGS" "$TAGS" "$ARCH"
for c in "${CMDS[@]}"; do mv "$tmp/$c" "$OUT/$c"; done
[ "$ARCH" != "$(go env GOHOSTARCH)" ] || echo ">> $("$OUT/containerd" --version)" >&2
echo "$OUT"
