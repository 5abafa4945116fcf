import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { formatCidr, parseIp } from '../../../../lib/cidr.ts';
import { planHostShim, rangeBlocks, shimBlocks } from '../../../../cni/macvlan/shim.ts';
import { hostShimName } from '../../../../lib/names.ts';

const ip = (text: string) => parseIp(text)!.value;
const blocks = (first: string, last: string) => rangeBlocks(4, ip(first), ip(last)).map(formatCidr);

describe('the host shim', () => {
  test('a range as the fewest CIDR blocks that cover it exactly', () => {
    assert.deepEqual(blocks('192.168.1.0', '192.168.1.255'), ['192.168.1.0/24']);
    assert.deepEqual(blocks('192.168.1.100', '192.168.1.150'), ['192.168.1.100/30', '192.168.1.104/29', '192.168.1.112/28', '192.168.1.128/28', '192.168.1.144/30', '192.168.1.148/31', '192.168.1.150/32']);
    assert.deepEqual(blocks('10.0.0.7', '10.0.0.7'), ['10.0.0.7/32']);
    assert.deepEqual(rangeBlocks(6, ip('fd00::'), ip('fd00::ffff:ffff:ffff:ffff')).map(formatCidr), ['fd00::/64']);
  });

  test('the gateway is left out, so the node reaches the router through the master', () => {
    assert.deepEqual(shimBlocks({ family: 4, start: ip('10.0.0.0'), end: ip('10.0.0.7'), gateway: ip('10.0.0.0') }).map(formatCidr), ['10.0.0.1/32', '10.0.0.2/31', '10.0.0.4/30']);
    assert.deepEqual(shimBlocks({ family: 4, start: ip('10.0.0.0'), end: ip('10.0.0.7'), gateway: ip('10.0.0.9') }).map(formatCidr), ['10.0.0.0/29']);
  });

  test('one stable macvlan per master, bridge mode, arp_filter, up, a route per block from the node\'s address; IPv4 only', () => {
    const master = { name: 'eth1', mtu: 1500, up: true, ipv4: [parseIp('192.168.1.10')!] };
    const { name, changes } = planHostShim(master, [
      { family: 4, start: ip('192.168.1.128'), end: ip('192.168.1.191'), gateway: ip('192.168.1.1') },
      { family: 6, start: ip('fd00::100'), end: ip('fd00::1ff'), gateway: ip('fd00::1') },
    ]);
    assert.equal(name, hostShimName('eth1'));
    assert.match(name, /^bwshim[0-9a-f]{8}$/);
    assert.notEqual(hostShimName('eth2'), name);
    assert.deepEqual(changes, [
      { op: 'add-macvlan', name, master: 'eth1', mode: 'bridge', mtu: 1500, shared: true },
      { op: 'set-sysctl', key: `net/ipv4/conf/${name}/arp_filter`, value: '1' },
      { op: 'set-up', link: name },
      { op: 'add-route', dst: { family: 4, address: ip('192.168.1.128'), prefixLength: 26 }, link: name, replace: true, source: parseIp('192.168.1.10') },
    ]);
  });
});
