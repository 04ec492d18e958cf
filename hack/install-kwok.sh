#!/usr/bin/env bash
# Install kwok (the standalone fake-node controller) for one version with `go install`
# from the Go module proxy, cached by version.
#
#   hack/install-kwok.sh [v0.8.0]
#
# Output: $EDGEUPGRADE_CACHE/kwok/<version>/bin/kwok (default cache ~/.cache/edgeupgrade).
# Idempotent: does nothing when the binary exists. Prints the bin dir on stdout,
# progress on stderr. kwokctl is not needed: the lab starts kwok itself.
set -euo pipefail
. "$(dirname "$0")/lib/progress.sh"
V=${1:-v0.8.0}
CACHE=${EDGEUPGRADE_CACHE:-$HOME/.cache/edgeupgrade}
OUT=$CACHE/kwok/$V/bin
if [ -x "$OUT/kwok" ]; then echo "$OUT"; exit 0; fi
mkdir -p "$OUT"
# One build of a version at a time; a second caller waits, then finds it built.
exec 9>"$CACHE/kwok/$V.lock"
lock_or_wait 9 "kwok $V"
if [ -x "$OUT/kwok" ]; then echo "$OUT"; exit 0; fi
tmp=$(mktemp -d "$OUT/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export GOBIN=$tmp CGO_ENABLED=0
with_progress "installing kwok $V with go install" "2-3 min" \
  go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$V"
mv "$tmp/kwok" "$OUT/kwok"
echo "$OUT"
