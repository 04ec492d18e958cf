# shellcheck shell=bash
# Sourced by e2e.sh once the Kubernetes run has completed (one run at a time): a small
# DaemonSet on both nodes is upgraded by `kubectl edgeupgrade components upgrade`, from the
# pause image of the old version to the target's, both already on both nodes (never
# pulled). Uses e2e.sh's check, kc and ku.
pause_image() { "$(kube_bin "$1")/kubeadm" config images list --kubernetes-version "$1" 2>/dev/null | grep /pause: ; }
ds_pods_at() {  # ds_pods_at IMAGE: both nodes' pods run IMAGE and are Ready
  kc -n default get pods -l app=lab-agent -o json | jq -e --arg img "$1" \
    '[.items[] | select(.metadata.deletionTimestamp == null) | select(.spec.containers[0].image == $img)
      | select(any(.status.conditions[]?; .type == "Ready" and .status == "True"))] | length == 2' >/dev/null
}

stage_begin "components upgrade of a DaemonSet"
OLD_PAUSE=$(pause_image "$FROM_VERSION") NEW_PAUSE=$(pause_image "$TO_VERSION")
kc apply -f - <<YAML
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: lab-agent, namespace: default}
spec:
  selector: {matchLabels: {app: lab-agent}}
  template:
    metadata: {labels: {app: lab-agent}}
    spec:
      tolerations: [{operator: Exists}]
      containers:
      - {name: agent, image: "$OLD_PAUSE", imagePullPolicy: Never}
YAML
check "components: the test DaemonSet runs $OLD_PAUSE on both nodes" wait_for 120 "lab-agent Ready" ds_pods_at "$OLD_PAUSE"
rc=0; ku components upgrade daemonset/lab-agent -n default --image "agent=$NEW_PAUSE" --pod-timeout 2m --wait --no-tty \
  > "$LAB_DIR/components-upgrade.txt" 2>&1 || rc=$?
cat "$LAB_DIR/components-upgrade.txt" >&2
check "components upgrade --wait exits 0" eq "$rc" 0
check "components: both pods run $NEW_PAUSE and are Ready" ds_pods_at "$NEW_PAUSE"
check "components: the DaemonSet's RollingUpdate strategy is restored" \
  eq "$(kc -n default get ds lab-agent -o jsonpath='{.spec.updateStrategy.type}')" RollingUpdate
ku status --read-only -o json > "$LAB_DIR/components-status.json" 2>/dev/null || true
check "components: status shows a completed daemonset run over both nodes" jq -e \
  '.runKind == "daemonset" and .phase == "Completed" and .nodes.upgraded == 2' "$LAB_DIR/components-status.json"
check "components: lists the test DaemonSet at the new image" sh -c \
  "kubectl edgeupgrade components -n default -o json | jq -e '[.components[] | select(.name == \"lab-agent\") | .versions[0].version] == [\"${NEW_PAUSE##*:}\"]' >/dev/null"
kc -n default delete ds lab-agent --wait=false >/dev/null
stage_end
