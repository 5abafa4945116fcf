#!/usr/bin/env bash
# One simulated node with two pods, wired by the real dist/bridgeway exactly as a container
# runtime calls it (CNI_* environment, config on stdin). Everything lives in network namespaces
# named bwdemo-*, removed on exit. Run as root: bash scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" != "--no-install" ]; then
  bash scripts/install-deps.sh
fi
npm run --silent build

prefix="bwdemo-$$"
node_ns="$prefix-node"
work=$(mktemp -d)
cleanup() {
  for ns in "$prefix-pod-a" "$prefix-pod-b" "$node_ns"; do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

conf=$(cat <<JSON
{"cniVersion": "1.1.0", "name": "demo", "type": "bridgeway", "bridge": "cni0", "mtu": 1450,
 "ipam": {"subnet": "10.244.1.0/24"}, "dataDir": "$work/data", "logFile": "$work/cni.log"}
JSON
)

# Runs the plugin inside the node namespace with nothing but the CNI variables.
cni() {
  local command=$1 pod=$2 stdin=$3
  ip netns exec "$node_ns" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    CNI_COMMAND="$command" CNI_CONTAINERID="$pod" CNI_NETNS="/run/netns/$prefix-$pod" \
    CNI_IFNAME=eth0 CNI_PATH=/usr/lib/cni "$PWD/dist/bridgeway" <<<"$stdin"
}

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

ip netns add "$node_ns"
ip netns add "$prefix-pod-a"
ip netns add "$prefix-pod-b"

step "CNI ADD pod-a (the result the runtime receives)"
result_a=$(cni ADD pod-a "$conf")
echo "$result_a"
step "CNI ADD pod-b"
cni ADD pod-b "$conf"
echo

step "inside pod-a"
ip -n "$prefix-pod-a" -br addr show dev eth0
ip -n "$prefix-pod-a" route
step "on the node: the bridge and its ports"
ip -n "$node_ns" -br addr show dev cni0
ip -n "$node_ns" -br link show master cni0

step "pod-a -> gateway, pod-a -> pod-b"
ip netns exec "$prefix-pod-a" ping -c 2 -W 2 10.244.1.1 | tail -2
ip netns exec "$prefix-pod-a" ping -c 2 -W 2 10.244.1.3 | tail -2

step "CNI CHECK pod-a, then break its address and CHECK again"
conf_with_prev=${conf%\}}", \"prevResult\": $result_a}"
cni CHECK pod-a "$conf_with_prev" && echo "CHECK ok (exit 0, no output)"
ip -n "$prefix-pod-a" addr flush dev eth0
cni CHECK pod-a "$conf_with_prev" || echo "(exit $?: CHECK names what is broken)"

step "CNI DEL both pods; reservations left: $(find "$work/data/demo/ips" -type f | wc -l) before"
cni DEL pod-a "$conf"
cni DEL pod-b "$conf"
echo "reservations left after DEL: $(find "$work/data/demo/ips" -type f | wc -l)"

step "the plugin's log (JSON, never on stdout)"
cat "$work/cni.log"
echo
echo "Next: the node agent and a multi-node demo (see the open issues)."
