#!/usr/bin/env bash
# make e2e-kind: a kind cluster (systemd nodes) on this machine upgraded v1.35.4 ->
# v1.36.3 by `kubectl edgeupgrade` with the node agent's images (docs/kind.md).
#
#  1. the lab's own dockerd (dockerd.sh), stopped by its PID at the end
#  2. build/cache: the node images (build.sh), the plugin, the agent images
#  3. the test (e2e_test.go, kind's Go API): cluster, images, check, upgrade with a
#     failure case (the agent restarts and rolls back the kubelet with systemd), resume,
#     assertions, cluster deleted
#  4. dockerd stopped; checked: nothing left behind
#
#   e2e.sh           all of it
#   e2e.sh build     only 1, 2 and 4 (make kind-images: the images, cached, for a later run)
#   e2e.sh base      only the base image (Debian packages; needs no Kubernetes build, so
#                    CI's make prefetch makes it while Kubernetes builds)
#   e2e.sh up        1, 2 and the cluster of 3, kept with dockerd for trying the plugin by
#                    hand (make kind-up; make kind-down removes both)
#
# Env: KIND_OPTIONAL=1 turns "Docker cannot run here" into a loud skip (exit 0) instead of
# a failure, for a machine without Docker; KIND_KEEP=1 keeps the cluster and dockerd (stop them with
# `make kind-down`); KIND_ARTIFACTS=DIR (default /var/tmp/eukind-artifacts) receives logs
# when something fails.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$REPO_ROOT/hack/lib/progress.sh"
MODE=${1:-test}
T0=$(date +%s)

if ! why=$("$KIND_LAB_DIR/dockerd.sh" check 2>&1); then
  printf '\n!!!!!!!! kind lab: %s\n!!!!!!!! make e2e-kind cannot run on this machine (docs/kind.md lists what it needs)\n\n' "$why" >&2
  [ "${KIND_OPTIONAL:-0}" = 1 ] && [ "$MODE" = test ] && { echo "e2e-kind: SKIPPED ($why)"; exit 0; }
  exit 1
fi

# One user of the lab's dockerd at a time (CI's background build and the test).
exec 5>/tmp/edgeupgrade-kind.lock
lock_or_wait 5 "the kind lab"

TIMINGS=()
stage() {  # stage NAME CMD...: run CMD, record its time
  local name=$1 t0=$SECONDS; shift
  log "== $name"
  "$@"
  TIMINGS+=("$(printf '%-40s %6s s' "$name" "$((SECONDS - t0))")")
}
finish() {
  local rc=$?
  set +e
  if [ "${KIND_KEEP:-0}" != 1 ]; then
    stage "dockerd stop (nothing left behind)" "$KIND_LAB_DIR/dockerd.sh" stop || rc=1
  fi
  printf '\nkind lab timings (this run):\n' >&2
  printf '%s\n' "${TIMINGS[@]}" >&2
  printf '%-40s %6s s\n' total "$(( $(date +%s) - T0 ))" >&2
  [ "$MODE" != test ] || echo "e2e-kind: $([ "$rc" = 0 ] && echo PASSED || echo FAILED)"
  exit "$rc"
}
trap finish EXIT
trap 'exit 143' TERM INT   # so that finish stops dockerd (its own session) then too

stage "dockerd start" "$KIND_LAB_DIR/dockerd.sh" start
build_images() {
  "$KIND_LAB_DIR/build.sh" base >/dev/null
  NODE_IMAGE=$("$KIND_LAB_DIR/build.sh" node "$FROM_VERSION" | tail -1)
  "$KIND_LAB_DIR/build.sh" node "$TO_VERSION" >/dev/null
}
if [ "$MODE" = base ]; then
  stage "build: kind base image" "$KIND_LAB_DIR/build.sh" base
  exit 0
fi
stage "build: kind node images" build_images
[ "$MODE" = build ] && exit 0

# The agent images exactly as `make images` builds them, amd64 only, with the same tags
# and directories as the real-cluster lab (test/real/e2e.sh): each lab reuses the
# other's build.
AGENT_VERSION=e2e-real
PREPROCESS_IMAGE=registry.local/edgeupgrade/node-preprocess:$AGENT_VERSION
UPGRADE_IMAGE=registry.local/edgeupgrade/upgrade:$TO_VERSION
DRIVER_IMAGE=registry.local/edgeupgrade/edgeupgrade:$AGENT_VERSION   # loaded for `start --detach`
IMAGES_DIR=dist/reallab/images IMAGE_STAGE=dist/reallab/stage
build_agent() {
  make -C "$REPO_ROOT" --no-print-directory -s build >/dev/null
  local kstage=$REPO_ROOT/$IMAGE_STAGE/kube/$TO_VERSION
  if [ -x "$(kube_bin "$TO_VERSION")/kubelet" ] && [ ! -e "$kstage/linux-amd64.ok" ]; then
    mkdir -p "$kstage" && ln -sfn "$(kube_bin "$TO_VERSION")" "$kstage/linux-amd64" && touch "$kstage/linux-amd64.ok"
  fi
  make -C "$REPO_ROOT" --no-print-directory -s images IMAGES_DIR="$IMAGES_DIR" IMAGE_STAGE="$IMAGE_STAGE" \
    IMAGE_ARCHES=amd64 KUBE_VERSION="$TO_VERSION" \
    AGENT_VERSION="$AGENT_VERSION" PREPROCESS_IMAGE="$PREPROCESS_IMAGE" UPGRADE_IMAGE="$UPGRADE_IMAGE" \
    DRIVER_IMAGE="$DRIVER_IMAGE" >/dev/null
}
stage "build: plugin + agent images" build_agent

LAB_IMAGES=$EDGEUPGRADE_CACHE/reallab/images
export EDGEUPGRADE_KIND=1 KIND_NODE_IMAGE="$NODE_IMAGE" KIND_FROM="$FROM_VERSION" KIND_TO="$TO_VERSION" \
  KIND_PREPROCESS_IMAGE="$PREPROCESS_IMAGE" KIND_UPGRADE_IMAGE="$UPGRADE_IMAGE" \
  KIND_ARCHIVES_ALL="$REPO_ROOT/$IMAGES_DIR/node-preprocess_${AGENT_VERSION}_linux-amd64.tar:$REPO_ROOT/$IMAGES_DIR/upgrade_${TO_VERSION}_linux-amd64.tar:$REPO_ROOT/$IMAGES_DIR/edgeupgrade_${AGENT_VERSION}_linux-amd64.tar:$LAB_IMAGES/$TO_VERSION/node.tar" \
  KIND_ARCHIVES_CP="$LAB_IMAGES/$TO_VERSION/cp.tar" KIND_WORKLOAD_ARCHIVE="$LAB_IMAGES/lab.tar" \
  KIND_ARTIFACTS="${KIND_ARTIFACTS:-/var/tmp/eukind-artifacts}" KIND_REPO_ROOT="$REPO_ROOT"
# kubectl finds the plugin on PATH: `kubectl edgeupgrade` is what users type.
PATH="$REPO_ROOT/bin:$(kube_bin "$TO_VERSION"):$PATH"
export PATH
cd "$REPO_ROOT/test"
if [ "$MODE" = up ]; then
  KIND_KEEP=1
  export KIND_KUBECONFIG=$KIND_DIR/kubeconfig
  stage "kind up (kind Go API): cluster, images, manifests" go run ./kind/cmd/kind-up
  exit 0
fi
stage "test (kind Go API): cluster, upgrade, assertions" go test -count=1 -timeout 45m -run TestKindUpgrade -v ./kind
