#!/usr/bin/env bash
# Build krew and its manifest validator from the Go module proxy, once per version.
#
#   hack/krew-tools.sh [VERSION]     (default v0.5.0; prints the bin dir)
#
# Output: $EDGEUPGRADE_CACHE/krew/<version>/bin/{kubectl-krew,validate-krew-manifest}
# (default cache ~/.cache/edgeupgrade), built in a module of its own under
# $EDGEUPGRADE_CACHE/krew/<version>/mod so krew never enters our go.mod. kubectl runs
# the binary as `kubectl krew` once that directory is on PATH.
set -euo pipefail
. "$(dirname "$0")/lib/progress.sh"
V=${1:-v0.5.0}
CACHE=${EDGEUPGRADE_CACHE:-$HOME/.cache/edgeupgrade}
OUT=$CACHE/krew/$V/bin
if [ -x "$OUT/kubectl-krew" ] && [ -x "$OUT/validate-krew-manifest" ]; then echo "$OUT"; exit 0; fi

mkdir -p "$OUT"
exec 9>"$CACHE/krew/$V.lock"
lock_or_wait 9 "krew $V"
if [ ! -x "$OUT/kubectl-krew" ] || [ ! -x "$OUT/validate-krew-manifest" ]; then
  # A throwaway module of our own (cached next to the binaries): `go install pkg@version`
  # would ask the proxy for krew's version list, which this proxy refuses, and our
  # go.mod must not see krew.
  MOD=$CACHE/krew/$V/mod
  mkdir -p "$MOD"
  if [ ! -f "$MOD/go.sum" ]; then
    printf 'module krewbuild\n\ngo 1.26\n\nrequire sigs.k8s.io/krew %s\n' "$V" > "$MOD/go.mod"
    printf '//go:build tools\n\npackage tools\n\nimport (\n\t_ "sigs.k8s.io/krew/cmd/krew"\n\t_ "sigs.k8s.io/krew/cmd/validate-krew-manifest"\n)\n' > "$MOD/tools.go"
    # shellcheck disable=SC2016 # $1, $2... are expanded by the inner shell
    with_progress "downloading the modules of krew $V" "under a minute" sh -c 'cd "$1" && exec go mod tidy' _ "$MOD"
  fi
  export CGO_ENABLED=0
  # shellcheck disable=SC2016 # $1, $2... are expanded by the inner shell
  with_progress "building krew $V and validate-krew-manifest" "1-2 min" sh -c '
    cd "$1" &&
    go build -trimpath -ldflags "-s -w -X sigs.k8s.io/krew/internal/version.gitTag=$2" -o "$3/kubectl-krew" sigs.k8s.io/krew/cmd/krew &&
    go build -trimpath -ldflags "-s -w" -o "$3/validate-krew-manifest" sigs.k8s.io/krew/cmd/validate-krew-manifest' _ "$MOD" "$V" "$OUT"
fi
echo "$OUT"
