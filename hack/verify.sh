#!/usr/bin/env bash
# make verify: every static check, on both Go modules (the plugin's and test/), the tools
# module and every shell script. Installs what it needs (shellcheck from Debian, the
# pinned golangci-lint built once into the cache) and fails on the first finding.
#
#   gofmt · go vet · golangci-lint (errcheck, govet, staticcheck, unused, revive, misspell,
#   gochecknoinits; .golangci.yml) · shellcheck · go mod tidy leaves no diff
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/lib/progress.sh
CACHE=${EDGEUPGRADE_CACHE:-$HOME/.cache/edgeupgrade}
MODULES=(. test)
failed=0
step() { printf '\n== verify: %s\n' "$*"; }
fail() { echo "verify: FAIL: $*" >&2; failed=1; }

step "gofmt"
mapfile -t gofiles < <(git ls-files '*.go')
bad=$(gofmt -l "${gofiles[@]}" 2>&1) || true
[ -z "$bad" ] || fail "not gofmt'ed (run gofmt -w): $bad"

step "go vet"
for m in "${MODULES[@]}"; do (cd "$m" && go vet ./...) || fail "go vet in $m"; done

step "golangci-lint"
lint_version=$(cd tools && go list -m -f '{{.Version}}' github.com/golangci/golangci-lint/v2)
lint=$CACHE/tools/golangci-lint-$lint_version
if [ ! -x "$lint" ]; then
  mkdir -p "$CACHE/tools"
  exec 9>"$lint.lock"; lock_or_wait 9 "golangci-lint $lint_version"
  # shellcheck disable=SC2016 # $1 is expanded by the inner shell
  [ -x "$lint" ] || with_progress "building golangci-lint $lint_version (tools/go.mod)" "3-5 min" \
    sh -c 'cd tools && CGO_ENABLED=0 exec go build -trimpath -o "$1.tmp" github.com/golangci/golangci-lint/v2/cmd/golangci-lint' _ "$lint"
  [ -x "$lint" ] || mv "$lint.tmp" "$lint"
  exec 9>&-
fi
for m in "${MODULES[@]}"; do
  (cd "$m" && "$lint" run --config "$OLDPWD/.golangci.yml" ./...) || fail "golangci-lint in $m"
done

step "shellcheck"
if ! command -v shellcheck >/dev/null; then
  echo ">> apt-get install shellcheck" >&2
  # One apt at a time (test/real/deps.sh takes the same lock).
  flock /tmp/edgeupgrade-apt.lock sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck >/dev/null' ||
    fail "shellcheck is missing and could not be installed (apt-get install shellcheck)"
fi
mapfile -t scripts < <(git ls-files '*.sh' .ci/run)
shellcheck -x "${scripts[@]}" || fail "shellcheck"

step "go mod tidy"
for m in "${MODULES[@]}" tools; do
  (cd "$m" && go mod tidy -diff >/dev/null) || fail "go mod tidy changes $m/go.mod or go.sum (run: cd $m && go mod tidy)"
done

[ "$failed" = 0 ] || { echo "verify: FAILED" >&2; exit 1; }
echo "verify: all checks passed"
