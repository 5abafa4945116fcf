// lib/iproute2/link.ts: `ip -j` link objects parsed into the kernel layer's KernelLink, the same
// fields the rtnetlink decoder fills (test/unit/lib/netlink/codec.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCidr } from '../../../../lib/cidr.ts';
import { parseLinks } from '../../../../lib/iproute2/link.ts';

test('parseLinks: `ip -d -j link show` of a bridge port, with neutral names', () => {
  // As iproute2 6.1 prints it (keys we do not read left in).
  const [port] = parseLinks([{
    ifindex: 5, ifname: 'bw1', flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'], mtu: 1400, qdisc: 'noqueue', master: 'cni0',
    operstate: 'UP', linkmode: 'DEFAULT', group: 'default', link_type: 'ether', address: '02:00:00:00:00:05', ifalias: 'bridgeway:n:c:eth0',
    linkinfo: { info_kind: 'veth', info_slave_kind: 'bridge', info_slave_data: { state: 'forwarding', hairpin: true } },
  }]);
  assert.deepEqual(port, {
    index: 5, name: 'bw1', flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'], mac: '02:00:00:00:00:05', mtu: 1400, master: 'cni0',
    operState: 'UP', alias: 'bridgeway:n:c:eth0', kind: 'veth', portKind: 'bridge', hairpin: true,
  });
});

test('parseLinks: `ip -j addr show` gives the addresses of both families as CIDRs with scope and flags (no "dynamic": permanent); without addr_info there are none', () => {
  const [eth0, lo] = parseLinks([
    { ifindex: 2, ifname: 'eth0', flags: ['UP'], address: '0a:58:0a:00:00:07', addr_info: [
      { family: 'inet', local: '10.0.0.7', prefixlen: 24, scope: 'global' },
      { family: 'inet6', local: 'fe80::858:aff:fe00:7', prefixlen: 64, scope: 'link' },
    ] },
    { ifindex: 1, ifname: 'lo' },
  ]);
  assert.deepEqual(eth0!.addresses, [
    { ...parseCidr('10.0.0.7/24')!, scope: 'global', flags: ['permanent'] },
    { ...parseCidr('fe80::858:aff:fe00:7/64')!, scope: 'link', flags: ['permanent'] },
  ]);
  assert.deepEqual(lo, { index: 1, name: 'lo', flags: [] });
});
