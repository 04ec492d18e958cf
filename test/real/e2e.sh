#!/usr/bin/env bash
# make e2e-real: a real kubeadm cluster on this machine upgraded v1.35.4 -> v1.36.3 by
# `kubectl edgeupgrade` with the node agent's images (docs/real-lab.md).
#
#  1. build/cache: Kubernetes binaries and control-plane images for both versions, the
#     plugin, the agent images (make images, amd64 only)
#  2. up.sh: kubeadm init (v1.35.4) + kubeadm join, bridge CNI, workload on the worker
#  3. check; then the failure case and the upgrade in one run, the way an operator meets
#     it: the worker's new kubelet cannot start (a lab knob on that node injects a bad
#     kubelet flag for v1.36 kubelets only) -> the agent rolls the worker back -> the
#     run pauses with that cause; the operator fixes the node and resumes with
#     --retry-failed -> the run completes. The run is detached (start --detach, resume
#     --detach): the in-cluster driver pod runs it in containerd, through the API
#     server's restart in `kubeadm upgrade apply`, its pod deleted once mid-run, with
#     no plugin process left on the machine between short status polls.
#  4. assertions; teardown (checked: nothing left behind)
#
# Env: REALLAB_KEEP=1 keeps the cluster up at the end (tear down with make real-down);
# REALLAB_FAILURE_CASE=0 skips the failure case; REALLAB_ARTIFACTS=DIR (default
# /var/tmp/eulab-artifacts) receives logs when something fails. The agent images are
# exactly those `make images` builds (amd64 only, lab tags); nothing is added for the lab.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
ARTIFACTS=${REALLAB_ARTIFACTS:-/var/tmp/eulab-artifacts}
FAILURE_CASE=${REALLAB_FAILURE_CASE:-1}
LAB_TIMINGS=$(mktemp /tmp/eulab-timings.XXXXXX)
export LAB_TIMINGS
AGENT_VERSION=e2e-real
PREPROCESS_IMAGE=registry.local/edgeupgrade/node-preprocess:$AGENT_VERSION
IMAGE_REGISTRY=registry.local/edgeupgrade
UPGRADE_IMAGE=$IMAGE_REGISTRY/upgrade:$TO_VERSION
# The run upgrades containerd on both nodes (1.6): both get the upgrade image with it,
# named as the plugin names it (--image-registry, no --upgrade-image).
UPGRADE_RUNTIME_IMAGE=$UPGRADE_IMAGE-containerd-$RUNTIME_VERSION
DRIVER_IMAGE=registry.local/edgeupgrade/edgeupgrade:$AGENT_VERSION
# make images writes into its own directories for the lab, so that the lab's amd64-only,
# lab-tagged archives never replace the ones `make images` builds in dist/images.
IMAGES_DIR=dist/reallab/images IMAGE_STAGE=dist/reallab/stage
PREPROCESS_TAR=$REPO_ROOT/$IMAGES_DIR/node-preprocess_${AGENT_VERSION}_linux-amd64.tar
# The upgrade images are imported in their zstd form (what containerd reads; amd64
# only, so one platform per archive): the base image, and the one with containerd.
UPGRADE_TAR=$REPO_ROOT/$IMAGES_DIR/upgrade_${TO_VERSION}.zstd.tar
UPGRADE_RUNTIME_TAR=$REPO_ROOT/$IMAGES_DIR/upgrade_${TO_VERSION}-containerd-${RUNTIME_VERSION}.zstd.tar
DRIVER_TAR=$REPO_ROOT/$IMAGES_DIR/edgeupgrade_${AGENT_VERSION}_linux-amd64.tar
T0=$(date +%s)

PASS=0 FAILED=0
check() {  # check DESCRIPTION CMD...: one assertion
  local what=$1; shift
  if "$@"; then PASS=$((PASS + 1)); log "PASS: $what"; else FAILED=$((FAILED + 1)); log "FAIL: $what"; fi
}
eq() { [ "$1" = "$2" ] || { log "  got '$1', want '$2'"; return 1; }; }

collect_artifacts() {
  rm -rf "$ARTIFACTS"; mkdir -p "$ARTIFACTS"
  cp "$LAB_TIMINGS" "$ARTIFACTS/timings.txt" 2>/dev/null || true
  cp "$LAB_DIR"/*.log "$ARTIFACTS/" 2>/dev/null || true
  for n in "${LAB_NODES[@]}"; do
    mkdir -p "$ARTIFACTS/$n"
    cp -r "$(node_dir "$n")/log/." "$ARTIFACTS/$n/" 2>/dev/null || true
    cp -r "$(node_dir "$n")/upper/diff/var/lib/edgeupgrade" "$ARTIFACTS/$n/" 2>/dev/null || true
  done
  if [ -s "$KUBECONFIG_LAB" ]; then
    kc get nodes -o wide > "$ARTIFACTS/nodes.txt" 2>&1 || true
    kc get pods -A -o wide > "$ARTIFACTS/pods.txt" 2>&1 || true
    kc get events -A --sort-by=.lastTimestamp > "$ARTIFACTS/events.txt" 2>&1 || true
    kc -n kube-upgrade get jobs,pods -o yaml > "$ARTIFACTS/kube-upgrade.yaml" 2>&1 || true
    kc -n kube-upgrade get configmap edgeupgrade -o yaml > "$ARTIFACTS/state.yaml" 2>&1 || true
  fi
  log "artifacts in $ARTIFACTS"
}

MAIN_PID=$$
finish() {
  local rc=$?
  # A subshell (pipeline, ( ) &) that exits on an error runs this trap too: only the
  # main shell reports and tears down.
  [ "$BASHPID" = "$MAIN_PID" ] || return "$rc"
  set +e
  if [ "$rc" != 0 ] || [ "$FAILED" != 0 ]; then collect_artifacts; fi
  if [ "${REALLAB_KEEP:-0}" = 1 ]; then
    log "REALLAB_KEEP=1: cluster kept (KUBECONFIG=$KUBECONFIG_LAB); make real-down removes it"
  else
    stage_begin "teardown"
    "$REAL_DIR/down.sh"; local drc=$?
    stage_end
    check "teardown removed everything" [ "$drc" = 0 ]
    # ([/] keeps pgrep from matching this check's own command line)
    check "no lab process left" sh -c "! pgrep -f '[/]${LAB_DIR#/}/' >/dev/null"
    check "no lab mount left" sh -c "! grep -q ' $LAB_DIR' /proc/self/mounts"
    check "no lab network namespace left" sh -c "! ip netns list | grep -q '^eulab-'"
  fi
  printf '\nreal-cluster lab timings (this run):\n' >&2; cat "$LAB_TIMINGS" >&2
  printf '%-28s %8s s\n' "total" "$(( $(date +%s) - T0 ))" >&2
  rm -f "$LAB_TIMINGS"
  echo "e2e-real: $PASS passed, $FAILED failed"
  [ "$rc" = 0 ] && [ "$FAILED" = 0 ] || exit 1
}
trap finish EXIT

# --- 1. build ------------------------------------------------------------------------
stage_begin "build: kube+etcd+coredns+images"
"$REAL_DIR/build.sh" all
stage_end
stage_begin "build: plugin + agent images"
make -C "$REPO_ROOT" --no-print-directory -s build >/dev/null
# images.mk links the cached Kubernetes binaries under a lock shared by every arch's
# build; with our binaries already cached, link them the same way so that a teammate's
# long arm64 build holding that lock does not stall the lab.
kstage=$REPO_ROOT/$IMAGE_STAGE/kube/$TO_VERSION
if [ -x "$(kube_bin "$TO_VERSION")/kubelet" ] && [ ! -e "$kstage/linux-amd64.ok" ]; then
  mkdir -p "$kstage" && ln -sfn "$(kube_bin "$TO_VERSION")" "$kstage/linux-amd64" && touch "$kstage/linux-amd64.ok"
fi
make -C "$REPO_ROOT" --no-print-directory -s images IMAGES_DIR="$IMAGES_DIR" IMAGE_STAGE="$IMAGE_STAGE" \
  IMAGE_ARCHES=amd64 KUBE_VERSION="$TO_VERSION" CONTAINERD_VERSION="$RUNTIME_VERSION" \
  AGENT_VERSION="$AGENT_VERSION" PREPROCESS_IMAGE="$PREPROCESS_IMAGE" UPGRADE_IMAGE="$UPGRADE_IMAGE" \
  DRIVER_IMAGE="$DRIVER_IMAGE" >/dev/null
if [ ! -s "$PREPROCESS_TAR" ] || [ ! -s "$UPGRADE_TAR" ] || [ ! -s "$UPGRADE_RUNTIME_TAR" ] || [ ! -s "$DRIVER_TAR" ]; then
  die "make images did not produce $PREPROCESS_TAR, $UPGRADE_TAR, $UPGRADE_RUNTIME_TAR and $DRIVER_TAR"
fi
stage_end

# kubectl finds the plugin on PATH: `kubectl edgeupgrade` is what users type.
PATH="$REPO_ROOT/bin:$(kube_bin "$TO_VERSION"):$PATH"
export PATH KUBECONFIG=$KUBECONFIG_LAB
ku() { kubectl edgeupgrade "$@"; }

# --- 2. cluster ----------------------------------------------------------------------
"$REAL_DIR/down.sh" >/dev/null 2>&1 || true
"$REAL_DIR/up.sh" "$FROM_VERSION"

stage_begin "load target + agent images"
for n in "${LAB_NODES[@]}"; do
  (
    [ "$n" != "$CP_NODE" ] || node_ctr "$n" images import "$LAB_CACHE/images/$TO_VERSION/cp.tar" >/dev/null
    for t in "$LAB_CACHE/images/$TO_VERSION/node.tar" "$PREPROCESS_TAR" "$UPGRADE_TAR" "$UPGRADE_RUNTIME_TAR" "$DRIVER_TAR"; do
      node_ctr "$n" images import "$t" >/dev/null
    done
  ) & pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || die "image import failed"; done
stage_end

wl_pod() { kc -n default get pods -l app=lab-workload -o jsonpath="{.items[0].$1}"; }
WL_UID=$(wl_pod metadata.uid); WL_NAME=$(wl_pod metadata.name)
WL_RESTARTS=$(wl_pod 'status.containerStatuses[0].restartCount')
WL_CONTAINER=$(wl_pod 'status.containerStatuses[0].containerID')
# The container's process, as containerd's task list says: restarting containerd (its
# upgrade to 2.x) must leave it running, the same process.
wl_pid() { node_ctr "$WORKER_NODE" tasks ls | awk -v id="${WL_CONTAINER#containerd://}" '$1 == id {print $2}'; }
WL_PID=$(wl_pid)
log "workload pod $WL_NAME uid $WL_UID restarts $WL_RESTARTS pid $WL_PID on $(wl_pod spec.nodeName)"

# --- 3. check + upgrade ---------------------------------------------------------------
# What an operator does first (README): the namespace and RBAC.
kubectl apply -f "$REPO_ROOT/manifests/" >/dev/null

# Debian 12's containerd is 1.6; upstream supports 1.36 only on containerd 2.x. With
# --runtime-version auto (the default) the run upgrades containerd to the 2.x the upgrade
# image carries, before the kubelet: the pre-check says so (runtime-version, a warning)
# and nothing is skipped. With --runtime-version none it is the one error. Everything
# must pass, including the deep host checks run by privileged Jobs with the
# node-preprocess image (cgroup v1 is this machine's documented warning).
stage_begin "kubectl edgeupgrade check"
rc=0; ku check --to "$TO_VERSION" --runtime-version none -o json > "$LAB_DIR/check-none.json" 2>/dev/null || rc=$?
check "check --runtime-version none: the only error is runtime-version (containerd 1.6 on Debian 12), naming --runtime-version" jq -e \
  '([.results[] | select(.severity == "error" and .result == "failed") | .id] == ["runtime-version"]) and
   ([.results[] | select(.id == "runtime-version") | .findings[].remediation | test("--runtime-version")] | all)' "$LAB_DIR/check-none.json"
rc=0; ku check --to "$TO_VERSION" -o json > "$LAB_DIR/check.json" 2>/dev/null || rc=$?
check "check: no error; runtime-version warns that the run upgrades containerd on both nodes" jq -e \
  '([.results[] | select(.severity == "error" and .result == "failed")] | length == 0) and
   ([.results[] | select(.id == "runtime-version") | .findings[] | select(.severity == "warning" and (.message | test("upgrades containerd to v2")))] | length == 2)' "$LAB_DIR/check.json"
rc=0; ku check --to "$TO_VERSION" --deep --preprocess-image "$PREPROCESS_IMAGE" \
  > "$LAB_DIR/check.txt" 2>&1 || rc=$?
cat "$LAB_DIR/check.txt" >&2
stage_end
check "check --deep passes (exit 0), nothing skipped" eq "$rc" 0
check "check --deep: the host checks ran on both nodes (cgroup v1 warning for each)" \
  sh -c "grep -q 'Node/$CP_NODE,Node/$WORKER_NODE' '$LAB_DIR/check.txt' && ! grep -q 'host-check-incomplete *warning *failed' '$LAB_DIR/check.txt'"

UPGRADE_FLAGS=(--to "$TO_VERSION" --image-registry "$IMAGE_REGISTRY" --preprocess-image "$PREPROCESS_IMAGE" --job-timeout 20m)
DETACH_FLAGS=(--detach --driver-image "$DRIVER_IMAGE")
# A detached run is followed by short status polls: between them no plugin process runs
# on this machine but the driver's, in its pod. Prints the phase it ended in.
phase() { ku status --read-only -o json 2>/dev/null | jq -r .phase; }
run_ended() { case "$(phase)" in Completed|Paused|Cancelled) return 0 ;; esac; return 1; }
wait_detached() {
  wait_for 1500 "the detached run to complete or pause" run_ended || true
  log "detached run: $(phase); driven by $(ku status --read-only 2>/dev/null | grep '^Driven by' || echo -)"
  # shellcheck disable=SC2009 # the plugin processes of this machine, the driver's included
  ps -eo pid,args | grep '[k]ubectl-edgeupgrade' >&2 || true
}
driver_pods() { kc -n kube-upgrade get pods -l app.kubernetes.io/component=driver -o name; }
DELETED_DRIVER=none
replaced() { driver_pods | grep -q . && ! driver_pods | grep -qx "$DELETED_DRIVER"; }
# The driver pod deleted once mid-run (the job controller replaces it, after its backoff).
delete_driver_once() {
  wait_for 300 "a running driver pod" sh -c "kubectl -n kube-upgrade get pods -l app.kubernetes.io/component=driver \
    --field-selector status.phase=Running -o name | grep -q ." || return 1
  wait_for 120 "the first batch's Job" sh -c "kubectl -n kube-upgrade get jobs -l app.kubernetes.io/component=node-upgrade -o name | grep -q ."
  DELETED_DRIVER=$(driver_pods | head -1)
  wait_for 120 "the driver pod deleted" kubectl -n kube-upgrade delete "$DELETED_DRIVER" --wait=false
  log "driver $DELETED_DRIVER deleted mid-run"
}
kubelet_version() { kc get node "$1" -o jsonpath='{.status.nodeInfo.kubeletVersion}'; }
node_ready() { [ "$(kc get node "$1" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ]; }
disk_kubelet() { node_exec "$1" /usr/bin/kubelet --version | awk '{print $2}'; }
# containerd's version on a node's disk: Debian's "1.6.20~ds1", a release build's "v2.2.9".
disk_containerd() { node_exec "$1" containerd --version | awk '{print $3}'; }
FROM_CONTAINERD=$(disk_containerd "$WORKER_NODE")
state() { kc -n kube-upgrade get configmap edgeupgrade -o json | jq -r '.data | to_entries[0].value' ; }

if [ "$FAILURE_CASE" = 1 ]; then
  # LAB-ONLY knob (node-init.sh): the worker's supervisor adds a bad flag to any v1.36
  # kubelet it starts, like a node whose init script carries a flag the new release
  # rejects. The v1.35 kubelet (the rollback) starts normally.
  node_exec "$WORKER_NODE" sh -c "echo 'v1.36.' > /etc/eulab/break-kubelet"
  stage_begin "upgrade run (detached): master ok, worker fails"
  rc=0; ku start "${UPGRADE_FLAGS[@]}" "${DETACH_FLAGS[@]}" > "$LAB_DIR/start.txt" 2>&1 || rc=$?
  cat "$LAB_DIR/start.txt" >&2
  check "start --detach exits 0 at once, naming how to follow" sh -c "[ $rc = 0 ] && grep -q 'status --watch --read-only' '$LAB_DIR/start.txt'"
  check "the driver pod is deleted once mid-run" delete_driver_once
  wait_detached
  stage_end
  check "the deleted driver pod was replaced by another" replaced
  ku status -o json > "$LAB_DIR/status-paused.json" 2>&1 || true
  jq -r '"status: phase \(.phase), pause: \(.pause.reason // "-"); failures: " + ([.failures[] | "\(.node)/\(.container): \(.message)"] | join("; "))' \
    "$LAB_DIR/status-paused.json" >&2 || true
  check "status: phase Paused, paused by an error" \
    jq -e '.phase == "Paused" and .pause.byError == true' "$LAB_DIR/status-paused.json"
  # shellcheck disable=SC2016 # $n is a jq variable, expanded by jq
  check "status: the failure names the worker and the kubelet's crash loop, and the rollback" jq -e --arg n "$WORKER_NODE" \
    '[.failures[] | select(.node == $n and (.message | test("kubelet crash loop")) and (.message | test("rolled back to '"$FROM_VERSION"' and containerd v1[.0-9]+$")))] | length == 1' "$LAB_DIR/status-paused.json"
  check "status: the master is counted upgraded" jq -e '.masters.upgraded == 1' "$LAB_DIR/status-paused.json"
  check "the worker was rolled back to $FROM_VERSION (Node)" eq "$(kubelet_version "$WORKER_NODE")" "$FROM_VERSION"
  check "the worker's kubelet on disk is $FROM_VERSION again" eq "$(disk_kubelet "$WORKER_NODE")" "$FROM_VERSION"
  check "the worker is Ready after the rollback" wait_for 120 "worker Ready" node_ready "$WORKER_NODE"
  check "the worker's containerd on disk is $FROM_CONTAINERD again (rolled back with the kubelet)" eq "$(disk_containerd "$WORKER_NODE")" "$FROM_CONTAINERD"
  check "the workload container still runs as pid $WL_PID after containerd's upgrade and rollback" eq "$(wl_pid)" "$WL_PID"
  cp "$(node_dir "$WORKER_NODE")/upper/diff/var/lib/edgeupgrade/last-result.json" "$LAB_DIR/w1-failed-result.json" || true
  check "the agent recorded rolled-back" jq -e '.result == "rolled-back"' "$LAB_DIR/w1-failed-result.json"
  # The crash loop is found within seconds, not at the verify timeout (2m), and the
  # rollback's restart waits for the supervisor instead of failing when no kubelet runs.
  check "the failed verify took < 60s (crash-loop detection)" jq -e \
    '[.steps[] | select(.name == "verify") | .duration | test("^([0-9.]+ms|[0-9.]+s)$")] == [true]' "$LAB_DIR/w1-failed-result.json"
  jq -r '"upgrade wall eulab-w1-failed " + ((((.finishedAt | sub("\\.[0-9]+";"") | fromdateiso8601) - (.startedAt | sub("\\.[0-9]+";"") | fromdateiso8601)) | tostring))' \
    "$LAB_DIR/w1-failed-result.json" | awk '{printf "%-28s %8s s\n", $1" "$2" "$3, $4}' >> "$LAB_TIMINGS" || true
  jq -r '"eulab-w1 (failed): " + ([.steps[] | "\(.name) \(.duration)"] | join(", "))' "$LAB_DIR/w1-failed-result.json" >&2 || true
  check "the master is upgraded meanwhile" eq "$(kubelet_version "$CP_NODE")" "$TO_VERSION"
  check "the failed pod is kept for diagnosis" sh -c "kubectl -n kube-upgrade get pods -o json | jq -e '[.items[] | select(.status.phase == \"Failed\")] | length > 0' >/dev/null"
  rc=0; ku resume > "$LAB_DIR/resume-refused.txt" 2>&1 || rc=$?
  cat "$LAB_DIR/resume-refused.txt" >&2
  check "resume is refused while failed pods remain" [ "$rc" != 0 ]
  # The operator fixes the node and retries it.
  node_exec "$WORKER_NODE" rm -f /etc/eulab/break-kubelet
  stage_begin "resume --retry-failed --detach: worker ok"
  t_resume=$(date +%s)
  rc=0; ku resume --retry-failed "${DETACH_FLAGS[@]}" > "$LAB_DIR/resume.txt" 2>&1 || rc=$?
  cat "$LAB_DIR/resume.txt" >&2
  wait_detached
  stage_end
  check "resume --retry-failed --detach exits 0" eq "$rc" 0
  # The resume comes seconds after the automatic pause, while the driver that saw the
  # pause may still be exiting: a driver must take the resumed run at once, not the
  # watchdog's next pass (up to 5 minutes later).
  check "the resumed run was driven at once: done within 120 s of the resume" [ $(( $(date +%s) - t_resume )) -lt 120 ]
else
  stage_begin "upgrade run (detached)"
  rc=0; ku start "${UPGRADE_FLAGS[@]}" "${DETACH_FLAGS[@]}" > "$LAB_DIR/start.txt" 2>&1 || rc=$?
  cat "$LAB_DIR/start.txt" >&2
  check "the driver pod is deleted once mid-run" delete_driver_once
  wait_detached
  stage_end
  check "start --detach exits 0" eq "$rc" 0
fi
RUN_ID=$(ku status --read-only -o json | jq -r .runID)
kc -n kube-upgrade logs "job/eu-$RUN_ID-driver" > "$LAB_DIR/driver.log" 2>&1 || true
tail -5 "$LAB_DIR/driver.log" >&2
check "the in-cluster driver ended the run: its last line says completed" \
  sh -c "tail -1 '$LAB_DIR/driver.log' | grep -q 'upgrade $RUN_ID completed; driver exits'"
check "the driver ran as the edgeupgrade-driver ServiceAccount, unprivileged" sh -c \
  "kubectl -n kube-upgrade get pods -l app.kubernetes.io/component=driver -o json | jq -e '[.items[] | .spec.serviceAccountName == \"edgeupgrade-driver\" and .spec.securityContext.runAsNonRoot] | all' >/dev/null"
check "the watchdog CronJob and the Lease are gone" sh -c \
  "[ -z \"\$(kubectl -n kube-upgrade get cronjobs,leases -o name)\" ]"

# --- 4. assertions ---------------------------------------------------------------------
ku status -o json > "$LAB_DIR/status.json" 2>&1 || true
check "status: phase Completed, 2/2 nodes upgraded" jq -e '.phase == "Completed" and .nodes.upgraded == 2 and .nodes.total == 2' "$LAB_DIR/status.json"
check "API server reports $TO_VERSION" eq "$(kubectl version -o json | jq -r .serverVersion.gitVersion)" "$TO_VERSION"
for n in "${LAB_NODES[@]}"; do
  check "$n: Node reports kubelet $TO_VERSION" eq "$(kubelet_version "$n")" "$TO_VERSION"
  check "$n: Ready" wait_for 60 "$n Ready" node_ready "$n"
  check "$n: /usr/bin/kubelet on disk is $TO_VERSION" eq "$(disk_kubelet "$n")" "$TO_VERSION"
  check "$n: /usr/bin/kubeadm on disk is $TO_VERSION" eq "$(node_exec "$n" kubeadm version -o short)" "$TO_VERSION"
  # shellcheck disable=SC2016 # $p is expanded by the inner shell, on the node
  check "$n: the running kubelet is the new binary (not deleted)" \
    node_exec "$n" sh -c 'p=$(cat /run/eulab/kubelet.pid); [ "$(readlink /proc/$p/exe)" = /usr/bin/kubelet ]'
  # The container runtime, upgraded before the kubelet (--runtime-version auto).
  check "$n: containerd on disk is $RUNTIME_VERSION" eq "$(disk_containerd "$n")" "$RUNTIME_VERSION"
  check "$n: Node reports containerd://$RUNTIME_VERSION" sh -c \
    "kubectl get node $n -o jsonpath='{.status.nodeInfo.containerRuntimeVersion}' | grep -qx 'containerd://v\\?${RUNTIME_VERSION#v}'"
  # shellcheck disable=SC2016 # $p is expanded by the inner shell, on the node
  check "$n: the running containerd is the new binary (not deleted)" \
    node_exec "$n" sh -c 'for p in $(pgrep -x containerd); do [ "$(readlink /proc/$p/exe)" = /usr/bin/containerd ] || exit 1; done; pgrep -x containerd >/dev/null'
  check "$n: the backup of containerd $FROM_CONTAINERD holds that binary" \
    eq "$(node_exec "$n" sh -c "/var/lib/edgeupgrade/backup/containerd-v*/files/usr/bin/containerd --version" 2>/dev/null | awk '{print $3}')" "$FROM_CONTAINERD"
  check "$n: backup of $FROM_VERSION exists with its manifest" \
    node_exec "$n" sh -c "test -s /var/lib/edgeupgrade/backup/$FROM_VERSION/manifest.json && test -x /var/lib/edgeupgrade/backup/$FROM_VERSION/files/usr/bin/kubelet"
  check "$n: the backed-up kubelet is $FROM_VERSION" \
    eq "$(node_exec "$n" "/var/lib/edgeupgrade/backup/$FROM_VERSION/files/usr/bin/kubelet" --version 2>/dev/null | awk '{print $2}')" "$FROM_VERSION"
  check "$n: the supervisor (no systemd) started kubelet $TO_VERSION after the agent's SIGTERM" \
    sh -c "grep -q 'kubelet exited rc=' '$(node_dir "$n")/log/eulab/supervisor.log' && grep -q 'Kubelet version\" kubeletVersion=\"$TO_VERSION\"' '$(node_dir "$n")/log/eulab/kubelet.log'"
done
# This machine is cgroup v1 and the lab's kubelets set failCgroupV1: false: the agent
# itself skips kubeadm's SystemVerification check (no lab image, no --kubeadm-arg).
check "the agent skipped kubeadm's SystemVerification itself (cgroup v1 + failCgroupV1: false)" sh -c \
  "grep -l 'adding --ignore-preflight-errors=SystemVerification' '$(node_dir "$CP_NODE")'/log/pods/kube-upgrade_*/upgrade/*.log >/dev/null"
# What each node pulled: containerd 1.6 on both nodes, so both staging Jobs and both
# node Jobs ran the upgrade image with containerd (by tag: images imported with ctr
# have no registry digest), and containerd holds it with zstd layers.
jobs_images() {  # jobs_images COMPONENT CONTAINER-INDEX: "node image" per Job
  kubectl -n kube-upgrade get jobs -l "app.kubernetes.io/component=$1" -o json |
    jq -r --argjson i "$2" '.items[] | "\(.metadata.annotations["edgeupgrade.io/node"]) \(.spec.template.spec.containers[$i].image)"' | sort
}
want_images=$(printf '%s\n' "${LAB_NODES[@]}" | sort | sed "s|\$| $UPGRADE_RUNTIME_IMAGE|")
check "both nodes' staging Jobs pulled the upgrade image with containerd" eq "$(jobs_images stage 1)" "$want_images"
check "both nodes' upgrade Jobs ran the upgrade image with containerd" eq "$(jobs_images node-upgrade 0 | sort -u)" "$want_images"
layer_types() {  # the media types of an image's layers in a node's containerd
  local d; d=$(node_ctr "$1" images ls "name==$2" | awk 'NR == 2 {print $3}')
  node_ctr "$1" content get "$d" | jq -r '[.layers[].mediaType] | unique | join(",")'
}
check "containerd holds the upgrade images with zstd layers (imported from the zstd archives)" sh -c \
  "[ '$(layer_types "$WORKER_NODE" "$UPGRADE_RUNTIME_IMAGE")' = application/vnd.oci.image.layer.v1.tar+zstd ] && [ '$(layer_types "$WORKER_NODE" "$UPGRADE_IMAGE")' = application/vnd.oci.image.layer.v1.tar+zstd ]"
check "control-plane static pods run $TO_VERSION" sh -c \
  "kubectl -n kube-system get pod kube-apiserver-$CP_NODE -o jsonpath='{.spec.containers[0].image}' | grep -q ':$TO_VERSION\$'"
check "kube-proxy DaemonSet is $TO_VERSION" sh -c \
  "kubectl -n kube-system get ds kube-proxy -o jsonpath='{.spec.template.spec.containers[0].image}' | grep -q ':$TO_VERSION\$'"
check "workload pod kept its UID" eq "$(wl_pod metadata.uid)" "$WL_UID"
check "workload container was not restarted" eq "$(wl_pod 'status.containerStatuses[0].restartCount')" "$WL_RESTARTS"
check "workload container is the same container" eq "$(wl_pod 'status.containerStatuses[0].containerID')" "$WL_CONTAINER"
check "workload container process kept its pid ($WL_PID) through containerd's upgrade" eq "$(wl_pid)" "$WL_PID"
check "workload pod Ready" eq "$(wl_pod 'status.conditions[?(@.type=="Ready")].status')" True

kubectl get events -A -o json > "$LAB_DIR/events.json"
reasons=$(jq -r '[.items[] | select(.reason | test("^(Upgrade|PreCheck|Phase|Batch|Node)"))] | sort_by(.firstTimestamp // .eventTime) | .[] | "\(.reason) \(.message)"' "$LAB_DIR/events.json")
printf '%s\n' "$reasons" | sed 's/^/  event: /' >&2
# A here-string, not a pipe: with pipefail, grep -q exiting at its first match can kill
# the writer (SIGPIPE) and fail an assertion that matched.
has_event() { grep -q "^$1 .*${2:-}" <<< "$reasons"; }
check "Events: UpgradeStarted" has_event UpgradeStarted
check "Events: NodeUpgraded $CP_NODE" has_event NodeUpgraded "$CP_NODE"
check "Events: NodeUpgraded $WORKER_NODE" has_event NodeUpgraded "$WORKER_NODE"
if [ "$FAILURE_CASE" = 1 ]; then
  check "Events: NodeUpgradeFailed $WORKER_NODE" has_event NodeUpgradeFailed "$WORKER_NODE"
  check "Events: UpgradePaused" has_event UpgradePaused
  check "Events: UpgradeResumed" has_event UpgradeResumed
fi
check "Events: UpgradeCompleted" has_event UpgradeCompleted

# Per-node wall time of the upgrade: the Jobs' start to completion, and the agent's steps.
kubectl -n kube-upgrade get jobs -o json | jq -r '.items[] |
  "\(.metadata.annotations["edgeupgrade.io/node"]) job \(.metadata.name): \(.status.startTime) -> \(.status.completionTime // "-") \(if .status.failed then "failed" else "" end)"' \
  | while read -r line; do log "  $line"; done
for n in "${LAB_NODES[@]}"; do
  f=$(node_dir "$n")/upper/diff/var/lib/edgeupgrade/last-result.json
  [ -s "$f" ] || continue
  jq -r --arg n "$n" '"\($n): \(.result) \(.fromVersion) -> \(.targetVersion): " + ([.steps[] | "\(.name) \(.duration)"] | join(", "))' "$f" >&2
  jq -r --arg n "$n" '"upgrade wall " + $n + " " + ((((.finishedAt | sub("\\.[0-9]+";"") | fromdateiso8601) - (.startedAt | sub("\\.[0-9]+";"") | fromdateiso8601)) | tostring))' "$f" \
    | awk '{printf "%-28s %8s s\n", $1" "$2" "$3, $4}' >> "$LAB_TIMINGS"
done

# A DaemonSet upgraded by components upgrade (its own file: components.sh).
. "$(dirname "$0")/components.sh"
