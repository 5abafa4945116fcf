#!/usr/bin/env bash
# The demo: installs what is needed, builds, then runs a simulated 3-node cluster in network
# namespaces (e2e/netns/demo.ts) with the real agent and plugin, and pods pinging across nodes.
# Everything it creates lives in namespaces named bwc*, removed on exit. Run as root.
# DEMO_STACK=ipv4: the IPv4-only cluster; DEMO_BRIDGE=ovs: pods on Open vSwitch bridges (each node
# with its own ovsdb-server and ovs-vswitchd, userspace datapath; the agent with --bridge-type ovs).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" != "--no-install" ]; then
  bash scripts/install-deps.sh
fi
npm run --silent build
exec node_modules/.bin/node e2e/netns/demo.ts
