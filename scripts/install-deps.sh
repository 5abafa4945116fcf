#!/usr/bin/env bash
# Installs everything bridgeway needs to build, test and demo on a fresh Debian machine (root).
set -euo pipefail
cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# iproute2 + util-linux: ip, nsenter, and unshare + setpriv (the capability test); iptables: used by the chained reference portmap;
# containernetworking-plugins: reference plugins we chain with and benchmark against;
# iputils-ping: connectivity checks; containerd + runc + busybox-static: a real runtime
# driving the plugin (ctr run --cni with a busybox rootfs, no image registry needed);
# iperf3 and linux-perf: the data-plane benchmark (npm run bench:net; perf profiles the
# anti-spoofing filter's share of a flow); python3-scapy: the hostile pod of
# test/integration/attacks.test.ts crafts its router advertisements and redirects with it;
# nftables: nft, to check and compare the anti-spoofing table the plugin writes over nfnetlink
# (and the fallback's nft -f); mmdebstrap: scripts/build-image.sh builds the agent's image from
# Debian packages without Docker, and skopeo reads its archive as `docker load` would
# (test/integration/image.test.ts); the linter the tests run on every shell script (shellcheck);
# and strace, by which the tests prove that ADD starts no process (netlink, uplink).
apt-get install -y -qq --no-install-recommends \
  iproute2 util-linux iptables iputils-ping containernetworking-plugins ca-certificates \
  containerd runc busybox-static iperf3 linux-perf python3-scapy nftables mmdebstrap skopeo shellcheck \
  strace >/dev/null

# openvswitch-switch: ovsdb-server and ovs-vswitchd for "bridgeType": "ovs" (issue 21); the tests
# start their own, each with its own database and run directory (test/support/ovs.ts), so the
# package's system service must not start: a policy-rc.d that refuses every start is in place while
# it installs (unless the machine has one of its own already, as container images do). ethtool: the
# OVS tests read the pod veth's TX checksum offload, which the plugin turns off over ioctl.
# A machine that has OVS already keeps it as it is (its service is the admin's).
if ! dpkg -s openvswitch-switch >/dev/null 2>&1; then
  own_policy=''
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    own_policy=1
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get install -y -qq --no-install-recommends openvswitch-switch >/dev/null
  if [ -n "$own_policy" ]; then rm -f /usr/sbin/policy-rc.d; trap - EXIT; fi
  # Where systemd runs, the unit was enabled at install: keep it from starting at boot too.
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    systemctl disable openvswitch-switch >/dev/null 2>&1 || true
  fi
fi
apt-get install -y -qq --no-install-recommends ethtool >/dev/null

npm ci --no-audit --no-fund --loglevel=error
