#!/usr/bin/env bash
# make demo: a lab with 3 masters, 60 edge workers in 3 pools and a cloud pool, then
# `kubectl edgeupgrade check`, `start --to v1.36.3 --wait`, the final status and the
# batch history, through kubectl's plugin discovery. The lab is removed at the end,
# also on Ctrl-C or failure.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${EDGEUPGRADE_CACHE:-$HOME/.cache/edgeupgrade}
KUBECTL=$CACHE/kube/${KUBE_VERSION:-v1.36.3}/bin/kubectl
WORK=$(mktemp -d /tmp/edgeupgrade-demo.XXXXXX)
LABDIR=$WORK/lab
start=$(date +%s)

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
cleanup() {
  if [ -d "$LABDIR" ]; then
    "$WORK/bin/edgeupgrade-lab" down --dir "$LABDIR" >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

step "build the plugin and the lab"
mkdir -p "$WORK/bin"
CGO_ENABLED=0 go build -o "$WORK/bin/" ./cmd/kubectl-edgeupgrade
(cd test && go build -o "$WORK/bin/" ./cmd/edgeupgrade-lab)
PATH="$WORK/bin:$(dirname "$KUBECTL"):$PATH"
export PATH

step "start the lab: 3 masters, 60 edge workers in 3 pools, 6 cloud workers"
edgeupgrade-lab up --dir "$LABDIR" --masters 3 --workers 60 --pools 3 --cloud-workers 6 \
  --from v1.35.4 --job-duration 1s
export KUBECONFIG=$LABDIR/kubeconfig
# No `| head` anywhere: under pipefail a writer killed by SIGPIPE would end the demo.
# Output is captured first and cut with sed, which reads all of its input.
plugins=$(kubectl plugin list 2>/dev/null)
grep edgeupgrade <<<"$plugins"
nodes=$(kubectl get nodes -L apps.openyurt.io/nodepool --no-headers)
awk '{print $1, $2, $5, $6}' <<<"$nodes" | column -t | sed -n 1,8p
echo "... ($(wc -l <<<"$nodes") nodes)"

step "kubectl edgeupgrade check --to v1.36.3"
kubectl edgeupgrade check --to v1.36.3

step "kubectl edgeupgrade plan --to v1.36.3"
plan=$(kubectl edgeupgrade plan --to v1.36.3)
sed -n 1,12p <<<"$plan"
echo "... ($(wc -l <<<"$plan") lines)"

step "kubectl edgeupgrade start --to v1.36.3 --wait"
# The lab simulates the node step, so the images are never pulled. On a terminal this
# is the live view, redrawn in place; in CI logs (no terminal) one line per batch.
kubectl edgeupgrade start --to v1.36.3 --wait \
  --preprocess-image lab.local/node-preprocess:demo --upgrade-image lab.local/upgrade:v1.36.3

step "kubectl edgeupgrade history"
history=$(kubectl edgeupgrade history)
sed -n 1,6p <<<"$history"
echo "... ($(wc -l <<<"$history") lines)"

step "kubectl edgeupgrade report -o md"
kubectl edgeupgrade report -o md --output-dir "$WORK/report"
sed -n '/^## Outcome/,/^## Parameters/p' "$WORK"/report/edgeupgrade-*.md | sed '$d'

step "kubectl edgeupgrade status"
kubectl edgeupgrade status
versions=$(kubectl get nodes --no-headers -o custom-columns=VERSION:.status.nodeInfo.kubeletVersion | sort | uniq -c)
echo "$versions"
# The demo proves the upgrade: every node at the target, or it fails.
if grep -v ' v1.36.3$' <<<"$versions"; then
  echo "demo: FAIL: nodes above are not at v1.36.3" >&2
  exit 1
fi

step "done in $(( $(date +%s) - start ))s: every node at v1.36.3; stopping the lab"
