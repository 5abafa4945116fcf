// lib/uplink/state.ts: what a Kernel read (either backend's KernelLinks and KernelRoutes) in the
// move's terms.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCidr } from '../../../../lib/cidr.ts';
import { uplinkStateOf } from '../../../../lib/uplink/state.ts';

test('uplinkStateOf: link-local IPv6 left out, lifetimes only of dynamic addresses, secondary only for IPv4, "default", only unicast routes by a device', () => {
  const state = uplinkStateOf({
    links: [{
      index: 2, name: 'eth1', mac: '52:54:00:AB:CD:EF', mtu: 9000, flags: ['BROADCAST', 'UP'], master: 'br-lan', alias: 'x', kind: 'veth',
      addresses: [
        { ...parseCidr('192.168.77.10/24')!, scope: 'global', flags: ['permanent'] },
        { ...parseCidr('192.168.77.30/24')!, scope: 'global', flags: ['secondary'], validLft: 3000, preferredLft: 2000, broadcast: '192.168.77.255' },
        { ...parseCidr('127.0.0.2/8')!, scope: 'host', flags: ['permanent'], validLft: 5 },
        { ...parseCidr('fd77::30/64')!, scope: 'global', flags: ['temporary', 'noprefixroute'], validLft: 3000, preferredLft: 2000 },
        { ...parseCidr('fe80::1/64')!, scope: 'link', flags: ['permanent'] },
      ],
    }, { index: 1, name: 'lo', flags: [] }],
    routes: [
      { dst: '0.0.0.0/0', gateway: '192.168.77.1', dev: 'eth1', protocol: 'dhcp', metric: 100, prefsrc: '192.168.77.10', onlink: true },
      { dst: '::/0', gateway: 'fd77::1', dev: 'eth1', metric: 1024, scope: 'global' },
      { dst: '10.99.0.0/24', dev: 'eth1', protocol: '99', scope: 'link' },
      { dst: '10.1.0.0/16', type: 'blackhole' },
      { dst: '10.2.0.0/16', dev: 'eth1', type: 'local' },
    ],
  });
  assert.deepEqual(state.links, [
    {
      name: 'eth1', index: 2, mac: '52:54:00:ab:cd:ef', mtu: 9000, up: true, master: 'br-lan', alias: 'x', kind: 'veth',
      addresses: [
        { family: 4, local: '192.168.77.10', prefixlen: 24 },
        { family: 4, local: '192.168.77.30', prefixlen: 24, broadcast: '192.168.77.255', dynamic: true, validLft: 3000, preferredLft: 2000, secondary: true },
        { family: 4, local: '127.0.0.2', prefixlen: 8, scope: 'host' },
        { family: 6, local: 'fd77::30', prefixlen: 64, dynamic: true, validLft: 3000, preferredLft: 2000, noprefixroute: true },
      ],
    },
    { name: 'lo', index: 1, mac: '', mtu: 0, up: false, addresses: [] },
  ]);
  assert.deepEqual(state.routes, [
    { family: 4, dst: 'default', gateway: '192.168.77.1', dev: 'eth1', protocol: 'dhcp', prefsrc: '192.168.77.10', metric: 100, onlink: true },
    { family: 6, dst: 'default', gateway: 'fd77::1', dev: 'eth1', metric: 1024 },
    { family: 4, dst: '10.99.0.0/24', dev: 'eth1', protocol: '99', scope: 'link' },
  ]);
});
