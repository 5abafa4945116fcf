// host/interface.ts (pure): which interface is the node's eth1, and its address of each family.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCidr, parseIp } from '../../../../lib/cidr.ts';
import { selectInterface } from '../../../../daemonset/host/interface.ts';

const cidr = (t: string) => parseCidr(t)!;

describe('interface selection', () => {
  const all = [
    { name: 'eth0', mtu: 1500, up: true, ipv4: [cidr('10.0.0.5/24')] },
    { name: 'eth1', mtu: 9000, up: true, ipv4: [cidr('192.168.50.10/24')] },
  ];
  test('by name or by CIDR; clear errors otherwise', () => {
    assert.equal(selectInterface(all, { iface: 'eth1' }).mtu, 9000);
    assert.equal(selectInterface(all, { iface: 'eth1', ifaceCidr: parseCidr('10.0.0.0/8')! }).name, 'eth0');
    assert.throws(() => selectInterface(all, { iface: 'ens5' }), /interface ens5 not found \(have: eth0, eth1\)/);
    assert.throws(() => selectInterface([{ ...all[1]!, up: false }], { iface: 'eth1' }), /is down/);
  });
  test('dual-stack: the address of each family; a missing family is an error naming it', () => {
    const dual = [all[0]!, { ...all[1]!, ipv6: [{ ...parseCidr('fd00:50::10/64')! }] }];
    const chosen = selectInterface(dual, { iface: 'eth1', families: [4, 6] });
    assert.deepEqual(chosen.addresses, { 4: parseIp('192.168.50.10'), 6: parseIp('fd00:50::10') });
    assert.equal(selectInterface(dual, { iface: 'x', ifaceCidr: parseCidr('fd00:50::/64')!, families: [6] }).name, 'eth1');
    assert.throws(() => selectInterface(all, { iface: 'eth1', families: [4, 6] }), /interface eth1 has no global IPv6 address \(the cluster CIDR has an IPv6 range\)/);
  });
});
