#!/usr/bin/env bash
# Offline krew test of the release archives (run by `make krew-test`, after `make dist`).
#
# 1. validates dist/krew.yaml and the committed krew.yaml / plugins/edgeupgrade.yaml with
#    krew's own validator (validate-krew-manifest, built from the Go module proxy);
# 2. installs every platform's archive with `kubectl krew install --manifest --archive`
#    under KREW_OS/KREW_ARCH (what the validator's install step does, but offline), checking
#    the sha256, the bin and the LICENSE;
# 3. installs the host's archive into a temporary KREW_ROOT and runs the plugin through
#    kubectl's plugin discovery: `kubectl plugin list`, `kubectl edgeupgrade version`, and
#    completion through kubectl_complete-edgeupgrade and `kubectl __complete`;
# 4. uses this repository as a krew custom index (`kubectl krew index add` on a file://
#    clone), and installs from an index whose uri points at a loopback HTTP server.
#
# Needs: kubectl from hack/build-kube.sh, krew from hack/krew-tools.sh, git, python3
# (loopback file server). Apart from those tool caches it writes only to a temporary
# directory, which it removes, and stops the file server it starts.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
KUBE_VERSION=${KUBE_VERSION:-v1.36.3}
KREW_VERSION=${KREW_VERSION:-v0.5.0}
CACHE=${EDGEUPGRADE_CACHE:-$HOME/.cache/edgeupgrade}
DIST=${DIST:-$ROOT/dist}
T0=$(date +%s)

step() { printf '\n== [%3ss] %s\n' "$(( $(date +%s) - T0 ))" "$*"; }
fail() { echo "krew-test: FAIL: $*" >&2; exit 1; }
# run prints a command as typed and its output (kept in OUT); a failure ends the test.
# run_stdout keeps stdout only (completion writes debug lines to stderr).
OUT=
run() {
  echo "\$ $*"
  local rc=0 t=$SECONDS
  OUT=$("$@" 2>&1) || rc=$?
  show_out $(( SECONDS - t ))
  [ "$rc" -eq 0 ] || fail "exit status $rc: $*"
}
run_stdout() {
  echo "\$ $*"
  local rc=0 t=$SECONDS
  OUT=$("$@" 2>"$WORK/stderr") || rc=$?
  show_out $(( SECONDS - t ))
  [ "$rc" -eq 0 ] || fail "exit status $rc: $*: $(cat "$WORK/stderr")"
}
show_out() { # show_out SECONDS: the output, indented, and the time if it was slow
  [ -z "$OUT" ] || printf '%s\n' "$OUT" | sed 's/^/  /'
  [ "$1" -lt 3 ] || echo "  ($1s)"
}
# expect PATTERN: the last run's output has a line matching the extended regexp.
expect() { grep -qE -- "$1" <<<"$OUT" || fail "no line matches /$1/ in the output above"; }

if [ ! -f "$DIST/krew.yaml" ] || [ ! -f "$DIST/SHA256SUMS" ]; then
  fail "no $DIST/krew.yaml: run 'make dist' first"
fi
# The system python3: a pyenv shim would not survive the private HOME below.
if [ -x /usr/bin/python3 ]; then PY=/usr/bin/python3; else PY=$(command -v python3) || fail "python3 is missing (apt-get install python3)"; fi
command -v git >/dev/null || fail "git is missing"
HOST_OS=$(go env GOOS) HOST_ARCH=$(go env GOARCH)
VERSION=$(sed -n 's/^  version: //p' "$DIST/krew.yaml")
HOST_ARCHIVE=kubectl-edgeupgrade_${VERSION}_${HOST_OS}_$HOST_ARCH.tar.gz
[ -f "$DIST/$HOST_ARCHIVE" ] || fail "no archive for this machine: $DIST/$HOST_ARCHIVE"

step "tools: kubectl $KUBE_VERSION, krew $KREW_VERSION"
KUBE_BIN=$CACHE/kube/$KUBE_VERSION/bin
hack/build-kube.sh "$KUBE_VERSION" kubectl >/dev/null   # cached; waits for a concurrent build
KREW_BIN=$(hack/krew-tools.sh "$KREW_VERSION")
echo "kubectl: $KUBE_BIN/kubectl ($("$KUBE_BIN/kubectl" version --client | sed -n 1p))"
echo "krew:    $KREW_BIN/kubectl-krew ($KREW_VERSION, built from the Go module proxy)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/edgeupgrade-krew-test.XXXXXX")
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# A hermetic environment: our kubectl and krew first, a private HOME and KREW_ROOT, no
# kubeconfig, no network calls from krew.
export HOME=$WORK/home KREW_ROOT=$WORK/krew KUBECONFIG=$WORK/home/no-kubeconfig
export PATH=$KREW_ROOT/bin:$KREW_BIN:$KUBE_BIN:/usr/bin:/bin
export KREW_NO_UPGRADE_CHECK=1 GIT_CONFIG_NOSYSTEM=1
unset KREW_OS KREW_ARCH
mkdir -p "$HOME" "$WORK/dist" "$WORK/committed"

step "validate the manifests with krew's validator (validate-krew-manifest from krew $KREW_VERSION)"
# The validator takes the plugin name from the file name, as an index does.
cp "$DIST/krew.yaml" "$WORK/dist/edgeupgrade.yaml"
run validate-krew-manifest -manifest "$WORK/dist/edgeupgrade.yaml" -skip-install
expect "no overlapping spec.platform"
for f in krew.yaml plugins/edgeupgrade.yaml; do
  [ -f "$f" ] || fail "$f is missing: 'make dist VERSION=vX.Y.Z' writes it for a release"
done
cmp -s krew.yaml plugins/edgeupgrade.yaml ||
  fail "krew.yaml and plugins/edgeupgrade.yaml differ: regenerate both with 'make dist VERSION=vX.Y.Z'"
cp krew.yaml "$WORK/committed/edgeupgrade.yaml"
run validate-krew-manifest -manifest "$WORK/committed/edgeupgrade.yaml" -skip-install
echo "committed krew.yaml = plugins/edgeupgrade.yaml (version $(sed -n 's/^  version: //p' krew.yaml)): valid"

step "install every platform's archive offline (KREW_OS/KREW_ARCH + --archive): sha256, bin link, LICENSE"
while read -r sum archive; do
  plat=${archive#kubectl-edgeupgrade_"${VERSION}"_}; plat=${plat%%.*}; os=${plat%_*} arch=${plat#*_}
  ext=; [ "$os" = windows ] && ext=.exe
  root=$WORK/platform-$plat
  out=$(KREW_ROOT=$root KREW_OS=$os KREW_ARCH=$arch \
    kubectl krew install --manifest="$WORK/dist/edgeupgrade.yaml" --archive="$DIST/$archive" 2>&1) ||
    fail "krew install for $os/$arch:"$'\n'"$out"
  store=$root/store/edgeupgrade/$VERSION
  for f in "kubectl-edgeupgrade$ext" "kubectl_complete-edgeupgrade$ext" LICENSE; do
    [ -f "$store/$f" ] || fail "$os/$arch: $f not installed (store has: $(ls "$store"))"
  done
  [ -L "$root/bin/kubectl-edgeupgrade$ext" ] || fail "$os/$arch: krew did not link bin/kubectl-edgeupgrade$ext"
  printf '  %-14s %-42s sha256 %s...  store: %s\n' "$os/$arch" "$archive" "${sum:0:12}" "$(cd "$store" && echo *)"
done < "$DIST/SHA256SUMS"

step "install the $HOST_OS/$HOST_ARCH archive into a temporary KREW_ROOT"
run kubectl krew install --manifest="$WORK/dist/edgeupgrade.yaml" --archive="$DIST/$HOST_ARCHIVE"
expect "^Installed plugin: edgeupgrade$"
[ "$(readlink "$KREW_ROOT/bin/kubectl-edgeupgrade")" = "$KREW_ROOT/store/edgeupgrade/$VERSION/kubectl-edgeupgrade" ] ||
  fail "bin/kubectl-edgeupgrade does not link to the installed version"

step "kubectl finds and runs the plugin (plugin discovery on PATH)"
run kubectl plugin list
expect "^$KREW_ROOT/bin/kubectl-edgeupgrade$"
run kubectl edgeupgrade version
expect "^Version: +$VERSION$"
run kubectl edgeupgrade version -o json
expect "\"apiVersion\": \"edgeupgrade.io/v1alpha1\""
expect "\"kind\": \"Version\""
expect "\"version\": \"$VERSION\""

step "completion: kubectl_complete-edgeupgrade on PATH, then kubectl's own plugin completion"
# What docs/install.md tells krew users to do once.
run cp "$KREW_ROOT/store/edgeupgrade/$VERSION/kubectl_complete-edgeupgrade" "$KREW_ROOT/bin/"
run_stdout kubectl_complete-edgeupgrade st
expect "^start" && expect "^status" && expect "^:4$"
run_stdout kubectl __complete edgeupgrade st
expect "^start" && expect "^status"
run_stdout kubectl __complete edgeupgrade completion ""
expect "^bash$" && expect "^powershell$"
echo '$ kubectl edgeupgrade completion bash'
OUT=$(kubectl edgeupgrade completion bash)
expect "^ *complete -o default -F __start_kubectl-edgeupgrade kubectl-edgeupgrade$"
echo "  $(wc -l <<<"$OUT") lines, registers __start_kubectl-edgeupgrade for kubectl-edgeupgrade"

step "this repository as a krew custom index (kubectl krew index add on a file:// URL)"
# krew's list, search, info and uninstall need an index; install --manifest did not.
git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1 || fail "$ROOT is not a git checkout: it cannot be cloned as an index"
git -C "$ROOT" cat-file -e HEAD:plugins/edgeupgrade.yaml 2>/dev/null ||
  fail "plugins/edgeupgrade.yaml is not committed: an index is what git clone sees"
run kubectl krew index add edgeupgrade "file://$ROOT"
run kubectl krew index list
expect "^edgeupgrade +file://$ROOT$"
run kubectl krew search edgeupgrade
expect "^edgeupgrade/edgeupgrade +Upgrade edge clusters"
run kubectl krew info edgeupgrade/edgeupgrade
expect "^NAME: edgeupgrade$"
run kubectl krew list
expect "^detached/edgeupgrade$"
run kubectl krew uninstall edgeupgrade
[ ! -e "$KREW_ROOT/bin/kubectl-edgeupgrade" ] || fail "krew uninstall left the plugin linked"
rm -f "$KREW_ROOT/bin/kubectl_complete-edgeupgrade"
run kubectl krew index remove edgeupgrade

step "install from a custom index over HTTP (same manifest, uri on a loopback file server)"
"$PY" -u -m http.server --bind 127.0.0.1 --directory "$DIST" 0 >"$WORK/http.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 100); do grep -q ' port [0-9]' "$WORK/http.log" && break; sleep 0.1; done
PORT=$(sed -n 's/.* port \([0-9]*\) .*/\1/p' "$WORK/http.log" | sed -n 1p)
[ -n "$PORT" ] || fail "the loopback file server did not start: $(cat "$WORK/http.log")"
mkdir -p "$WORK/index/plugins"
sed "s|https://github.com/edgeupgrade/kubectl-edgeupgrade/releases/download/$VERSION|http://127.0.0.1:$PORT|" \
  "$DIST/krew.yaml" > "$WORK/index/plugins/edgeupgrade.yaml"
git -C "$WORK/index" init -q && git -C "$WORK/index" add plugins &&
  git -C "$WORK/index" -c user.name=krew-test -c user.email=krew-test@localhost commit -q -m "test index"
run kubectl krew index add local "file://$WORK/index"
run kubectl krew install local/edgeupgrade
expect "^Installed plugin: edgeupgrade$"
run kubectl krew list
expect "^local/edgeupgrade$"
run kubectl edgeupgrade version
expect "^Version: +$VERSION$"
run kubectl krew uninstall edgeupgrade
kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=

step "PASS: krew $KREW_VERSION validated and installed kubectl-edgeupgrade $VERSION offline; kubectl $KUBE_VERSION ran it"
