// lib/iproute2/route.ts and addr.ts: `ip -j` output of both families as data.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCidr } from '../../../../lib/cidr.ts';
import { parseInterfaceAddresses } from '../../../../lib/iproute2/addr.ts';
import { mainTableOf, parseRoutes } from '../../../../lib/iproute2/route.ts';

test('mainTableOf: `route show table all` cut to the main table, both families, defaults and host routes as CIDRs', () => {
  // As iproute2 6.1 prints it: main-table routes carry no "table" key.
  const all = [
    { dst: 'default', gateway: '10.0.0.1', dev: 'eth0', protocol: 'dhcp' },
    { dst: '10.244.2.0/24', gateway: '192.168.50.11', dev: 'eth1', protocol: '77', flags: [] },
    { dst: '10.8.0.0/24', gateway: '10.1.0.2', dev: 'eth1', table: '100', flags: [] },
    { type: 'local', dst: '192.168.50.10', table: 'local', dev: 'eth1', protocol: 'kernel', scope: 'host' },
    { dst: 'fd00:10:244:2::/64', gateway: 'fd00:50::11', dev: 'eth1', protocol: '77', metric: 1024, flags: [], pref: 'medium' },
    { dst: 'default', dev: 'eth0', protocol: 'ra', metric: 1024, flags: [], pref: 'medium' },
    { dst: 'fd00:99::5', gateway: 'fd00:50::1', dev: 'eth1', metric: 1024, flags: [], pref: 'medium' },
    { type: 'local', dst: 'fd00:50::10', table: 'local', dev: 'eth1', protocol: 'kernel', metric: 0, flags: [], pref: 'medium' },
  ];
  assert.deepEqual(mainTableOf(all).map((r) => `${r.dst} ${r.gateway ?? '-'} ${r.protocol ?? '-'}`), [
    '0.0.0.0/0 10.0.0.1 dhcp',
    '10.244.2.0/24 192.168.50.11 77',
    'fd00:10:244:2::/64 fd00:50::11 77',
    '::/0 - ra',
    'fd00:99::5/128 fd00:50::1 -',
  ]);
  assert.deepEqual(parseRoutes([{ dst: '10.9.9.9', dev: 'eth1' }]).map((r) => r.dst), ['10.9.9.9/32']);
});

test('parseInterfaceAddresses: global IPv6 addresses beside the IPv4 ones; link-local and host scope left out', () => {
  const [eth1] = parseInterfaceAddresses([{
    ifname: 'eth1', mtu: 1500, flags: ['UP'], addr_info: [
      { family: 'inet', local: '192.168.50.10', prefixlen: 24, scope: 'global' },
      { family: 'inet6', local: 'fd00:50::10', prefixlen: 64, scope: 'global' },
      { family: 'inet6', local: 'fe80::1', prefixlen: 64, scope: 'link' },
      { family: 'inet6', local: '::1', prefixlen: 128, scope: 'host' },
    ],
  }]);
  assert.deepEqual(eth1!.ipv4, [parseCidr('192.168.50.10/24')]);
  assert.deepEqual(eth1!.ipv6, [parseCidr('fd00:50::10/64')]);
});
