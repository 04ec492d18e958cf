#!/usr/bin/env bash
# Test of the build scripts' locking (run by make unit): two concurrent
# `hack/build-kube.sh VERSION kubectl` with a fake `go` that takes two seconds to
# "build". The second must wait for the first (flock), find the binary built and not
# build again; both must finish within the time bound (a wait that can match itself,
# as a pgrep of command lines did, never ends). Nothing outside a temporary directory
# is touched.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=$(mktemp -d /tmp/edgeupgrade-build-lock.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/bin"
cat > "$WORK/bin/go" <<'FAKE'
#!/usr/bin/env bash
# A stand-in for go with just what build-kube.sh asks of it.
case "$1 $2" in
  "env GOARCH") echo amd64 ;;
  "mod download")
    printf 'module k8s.io/kubernetes\n' > "$FAKE_DIR/kubernetes.mod"
    printf '{\n\t"GoMod": "%s",\n}\n' "$FAKE_DIR/kubernetes.mod" ;;
  "mod tidy") : > go.sum ;;
  build*)
    echo "build $$" >> "$FAKE_DIR/builds"
    sleep 2
    out=
    while [ $# -gt 0 ]; do
      case $1 in -o) out=$2; shift ;; k8s.io/*) touch "$out/${1##*/}"; chmod +x "$out/${1##*/}" ;; esac
      shift
    done ;;
  *) echo "fake go: unexpected: $*" >&2; exit 2 ;;
esac
FAKE
chmod +x "$WORK/bin/go"
export PATH=$WORK/bin:$PATH EDGEUPGRADE_CACHE=$WORK/cache FAKE_DIR=$WORK
unset GOARCH

pids=()
for i in 1 2; do
  timeout 60 "$ROOT/hack/build-kube.sh" v9.9.9 kubectl >"$WORK/out$i" 2>"$WORK/err$i" &
  pids+=($!)
  sleep 0.3
done
for i in 1 2; do
  rc=0; wait "${pids[$((i - 1))]}" || rc=$?
  [ "$rc" = 0 ] || { cat "$WORK/err$i" >&2; echo "test-build-lock: FAIL: build $i exited $rc (124: it hung)" >&2; exit 1; }
  [ "$(cat "$WORK/out$i")" = "$WORK/cache/kube/v9.9.9/bin" ] || { echo "test-build-lock: FAIL: build $i printed $(cat "$WORK/out$i")" >&2; exit 1; }
done
builds=$(wc -l < "$WORK/builds")
[ "$builds" = 1 ] || { echo "test-build-lock: FAIL: $builds builds of one version, want 1" >&2; exit 1; }
grep -q 'another build of Kubernetes v9.9.9 is running; waiting for it' "$WORK/err2" ||
  { cat "$WORK/err2" >&2; echo "test-build-lock: FAIL: the second caller did not wait for the lock" >&2; exit 1; }
[ -x "$WORK/cache/kube/v9.9.9/bin/kubectl" ] || { echo "test-build-lock: FAIL: no binary" >&2; exit 1; }
echo "test-build-lock: PASS (two concurrent callers, one build, the second waited on the lock)"
