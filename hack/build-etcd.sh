#!/usr/bin/env bash
# Build etcd (server + etcdctl) for one version from the Go module proxy and cache it.
#
#   hack/build-etcd.sh [v3.6.8]
#
# `go install go.etcd.io/etcd/server/v3@VERSION` is refused ("contains one or more replace
# directives"), so the main packages are built from a small wrapper module. Output:
# $EDGEUPGRADE_CACHE/etcd/<version>/bin/{etcd,etcdctl} (default cache ~/.cache/edgeupgrade).
# Idempotent: does nothing when both binaries exist. Prints the bin dir on stdout,
# progress on stderr.
set -euo pipefail
. "$(dirname "$0")/lib/progress.sh"
V=${1:-v3.6.8}
CACHE=${EDGEUPGRADE_CACHE:-$HOME/.cache/edgeupgrade}
OUT=$CACHE/etcd/$V/bin
if [ -x "$OUT/etcd" ] && [ -x "$OUT/etcdctl" ]; then echo "$OUT"; exit 0; fi

MOD=$CACHE/etcd/$V/mod
mkdir -p "$MOD" "$OUT"
# One build of a version at a time; a second caller waits, then finds it built.
exec 9>"$CACHE/etcd/$V.lock"
lock_or_wait 9 "etcd $V"
if [ -x "$OUT/etcd" ] && [ -x "$OUT/etcdctl" ]; then echo "$OUT"; exit 0; fi
if [ ! -f "$MOD/go.sum" ]; then
  echo ">> preparing etcd $V wrapper module (first time only)" >&2
  printf 'module etcdbuild\n\ngo 1.26\n' > "$MOD/go.mod"
  cat > "$MOD/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "go.etcd.io/etcd/etcdctl/v3"
	_ "go.etcd.io/etcd/server/v3"
)
GO
  # shellcheck disable=SC2016 # $1, $2... are expanded by the inner shell
  with_progress "downloading the modules of etcd $V" "under a minute" \
    sh -c 'cd "$1" && exec go get "go.etcd.io/etcd/server/v3@$2" "go.etcd.io/etcd/etcdctl/v3@$2"' _ "$MOD" "$V"
fi
tmp=$(mktemp -d "$OUT/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# shellcheck disable=SC2016 # $1, $2... are expanded by the inner shell
with_progress "building etcd $V" "1-2 min" sh -c 'cd "$1" && CGO_ENABLED=0 exec go build -trimpath -ldflags "-s -w" -o "$2/" go.etcd.io/etcd/server/v3 go.etcd.io/etcd/etcdctl/v3' _ "$MOD" "$tmp"
# The server's main package builds as "server".
mv "$tmp/server" "$OUT/etcd"
mv "$tmp/etcdctl" "$OUT/etcdctl"
echo ">> $("$OUT/etcd" --version | sed -n 1p)" >&2
echo "$OUT"
