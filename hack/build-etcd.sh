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
V=${1:-v3.6.8}
CACHE=${EDGEUPGRADE_CACHE:-$HOME/.cache/edgeupgrade}
OUT=$CACHE/etcd/$V/bin
if [ -x "$OUT/etcd" ] && [ -x "$OUT/etcdctl" ]; then echo "$OUT"; exit 0; fi

MOD=$CACHE/etcd/$V/mod
mkdir -p "$MOD" "$OUT"
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
  (cd "$MOD" && go get "go.etcd.io/etcd/server/v3@$V" "go.etcd.io/etcd/etcdctl/v3@$V")
fi
echo ">> building etcd $V (cold: about a minute; cached afterwards)" >&2
start=$(date +%s)
tmp=$(mktemp -d "$OUT/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
(cd "$MOD" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$tmp/" go.etcd.io/etcd/server/v3 go.etcd.io/etcd/etcdctl/v3)
# The server's main package builds as "server".
mv "$tmp/server" "$OUT/etcd"
mv "$tmp/etcdctl" "$OUT/etcdctl"
echo ">> built etcd in $(( $(date +%s) - start ))s: $("$OUT/etcd" --version | head -1)" >&2
echo "$OUT"
