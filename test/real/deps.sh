#!/usr/bin/env bash
# Install the Debian packages the real-cluster lab needs, only when something is missing.
set -euo pipefail
need=()
command -v containerd >/dev/null || need+=(containerd)
[ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
command -v conntrack >/dev/null || need+=(conntrack)
command -v iptables >/dev/null || need+=(iptables)
command -v socat >/dev/null || need+=(socat)
command -v flock >/dev/null || need+=(util-linux)
command -v jq >/dev/null || need+=(jq)
[ ${#need[@]} -eq 0 ] && exit 0
[ "$(id -u)" = 0 ] || { echo "real-cluster lab: missing ${need[*]} and not root" >&2; exit 1; }
echo ">> apt-get install ${need[*]}" >&2
# One apt at a time: CI installs packages from several steps at once (apt itself refuses,
# rather than waits, when another apt holds its lock).
flock /tmp/edgeupgrade-apt.lock sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null' _ "${need[@]}"
