#!/usr/bin/env bash
# A containerd "node" that is private to one test run, for test/integration/containerd.test.ts
# (driven by test/integration/containerd-node.ts).
#
#   node.sh NETNS WORKDIR
#
# Enters the network namespace NETNS (a name from `ip netns add`, created by the caller), a new
# private mount namespace and a new PID namespace, hides the machine's CNI and containerd
# directories behind WORKDIR's (/etc/cni/net.d, /opt/cni/bin, /var/lib/cni, /run/containerd,
# /var/log/bridgeway, and any in BRIDGEWAY_NODE_SHADOWS),
# then becomes containerd, with root, state, sockets and temp all under WORKDIR, as PID 1 of the
# new PID namespace. So:
#   - the process the caller started is `unshare`; its only child is containerd: reach the node
#     with `nsenter -t <that child> -m -n -p ctr ...` (ctr must share containerd's PID namespace:
#     it hands CNI plugins /proc/<task pid>/ns/net with the PID containerd reports);
#   - SIGTERM to containerd stops the node; the kernel then kills every shim and container left in
#     the PID namespace, so nothing outlives it. `unshare` ignores SIGTERM, but SIGKILL to it
#     kills containerd too (--kill-child), and so does the death of node.sh's caller
#     (--pdeathsig), e.g. a test runner killed on a timeout;
#   - everything mounted here disappears with the mount namespace.
#
# WORKDIR must already hold net.d/ (the conflist) and bin/ (the plugins). Nothing is changed in
# the machine's root network or mount namespace. containerd logs to stderr at the level in
# BRIDGEWAY_NODE_LOG_LEVEL (default warn).
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 NETNS WORKDIR" >&2
  exit 2
fi
netns=$1
work=$2

if [[ ${BRIDGEWAY_NODE_INSIDE:-} != 1 ]]; then
  [[ -e /run/netns/$netns ]] || { echo "node.sh: no network namespace $netns" >&2; exit 1; }
  # Not `ip netns exec`: it remounts /sys, which hides the cgroup mounts runc needs.
  export BRIDGEWAY_NODE_INSIDE=1
  exec setpriv --pdeathsig KILL -- nsenter --net="/run/netns/$netns" -- \
    unshare --mount --propagation private --pid --fork --kill-child --mount-proc -- "$0" "$@"
fi

# shadow TARGET SOURCE: make SOURCE appear at TARGET in this mount namespace only. When TARGET
# does not exist on the machine, its nearest existing ancestor gets an overlay whose upper layer
# is ours, so the directory is created there and not on the machine's disk (mounts below that
# ancestor, e.g. the /run/netns/* bind mounts under /run, are hidden here; we need none).
# A second overlay on the same ancestor would hide the first one's bind mounts (an overlay's lower
# layer shows no submounts), so a directory under an ancestor overlaid already is just made there.
overlays=0
overlaid=()
shadow() {
  local target=$1 source=$2 ancestor layer inside
  if [[ ! -d $target ]]; then
    ancestor=$(dirname "$target")
    while [[ ! -d $ancestor ]]; do ancestor=$(dirname "$ancestor"); done
    inside=
    for layer in "${overlaid[@]}"; do
      [[ $ancestor == "$layer" || $ancestor == "$layer"/* ]] && inside=1
    done
    if [[ -z $inside ]]; then
      overlays=$((overlays + 1))
      layer="$work/overlay/$overlays"
      mkdir -p "$layer/upper" "$layer/work"
      mount -t overlay overlay -o "lowerdir=$ancestor,upperdir=$layer/upper,workdir=$layer/work" "$ancestor"
      overlaid+=("$ancestor")
    fi
    mkdir -p "$target"
  fi
  mount --bind "$source" "$target"
}

mkdir -p "$work/cni-cache" "$work/run" "$work/log" "$work/root" "$work/state" "$work/tmp" "$work/opt"
shadow /etc/cni/net.d "$work/net.d"
shadow /opt/cni/bin "$work/bin"
shadow /var/lib/cni "$work/cni-cache"       # libcni's result cache
shadow /run/containerd "$work/run"          # shim sockets, runc state and fifos (fixed paths in 1.6)
shadow /var/log/bridgeway "$work/log"       # the plugin's default log file, when the agent wrote the conflist
# More, from the caller: BRIDGEWAY_NODE_SHADOWS="TARGET=SOURCE ..." (image-ovs.test.ts: the node's
# own Open vSwitch run directory at /run/openvswitch, where the plugin finds the database).
for pair in ${BRIDGEWAY_NODE_SHADOWS:-}; do
  shadow "${pair%%=*}" "${pair#*=}"
done

cat > "$work/containerd.toml" <<TOML
version = 2
root = "$work/root"
state = "$work/state"
temp = "$work/tmp"
# Not CRI: ctr drives CNI itself, and CRI would want a pause image we cannot pull.
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$work/containerd.sock"
[ttrpc]
  address = "$work/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$work/opt"
TOML
exec containerd --config "$work/containerd.toml" --log-level "${BRIDGEWAY_NODE_LOG_LEVEL:-warn}"
