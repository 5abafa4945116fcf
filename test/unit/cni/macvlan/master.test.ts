import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCidr } from '../../../../lib/cidr.ts';
import { CniError } from '../../../../cni/errors.ts';
import { defaultRouteInterface, podMtu, resolveMaster } from '../../../../cni/macvlan/master.ts';

const link = (name: string, extra: Record<string, unknown> = {}) => ({ index: 2, name, flags: ['UP'], mtu: 1500, addresses: [parseCidr('192.168.1.10/24')!], ...extra });
const node = { links: [{ index: 1, name: 'lo', flags: ['LOOPBACK', 'UP'] }, link('eth0'), link('eth1', { mtu: 9000, flags: [] })], routes: [{ dst: '0.0.0.0/0', gateway: '192.168.1.1', dev: 'eth0' }] };

describe('the master', () => {
  test('defaults to the default route\'s interface, IPv4\'s before IPv6\'s', () => {
    assert.equal(defaultRouteInterface([{ dst: '::/0', dev: 'eth2' }, { dst: 'default', dev: 'eth0' }]), 'eth0');
    assert.equal(defaultRouteInterface([{ dst: '::/0', dev: 'eth2' }]), 'eth2');
    assert.equal(defaultRouteInterface([{ dst: '10.0.0.0/8', dev: 'eth2' }]), undefined);
    assert.deepEqual(resolveMaster({ mode: 'bridge', hostShim: false }, node), { name: 'eth0', mtu: 1500, up: true, ipv4: [{ family: 4, value: 0xc0a8010an }] });
  });

  test('the configured one, with its MTU and state', () => {
    const master = resolveMaster({ master: 'eth1', mode: 'bridge', hostShim: false }, node);
    assert.deepEqual([master.name, master.mtu, master.up], ['eth1', 9000, false]);
  });

  test('refused when missing from the node, absent without a default route, or a macvlan itself', () => {
    const is7 = (message: RegExp) => (error: unknown) => error instanceof CniError && error.code === 7 && message.test(error.message);
    assert.throws(() => resolveMaster({ master: 'eth9', mode: 'bridge', hostShim: false }, node), is7(/master "eth9" is not an interface of the node's network namespace .*another namespace.*the node has eth0, eth1/));
    assert.throws(() => resolveMaster({ mode: 'bridge', hostShim: false }, { ...node, routes: [] }), is7(/no default route/));
    assert.throws(() => resolveMaster({ master: 'mv0', mode: 'bridge', hostShim: false }, { ...node, links: [link('mv0', { kind: 'macvlan' })] }), is7(/itself a macvlan/));
  });

  test('the pod\'s MTU: the master\'s by default, the config\'s up to the master\'s', () => {
    const master = { name: 'eth0', mtu: 1500, up: true, ipv4: [] };
    assert.equal(podMtu({ mode: 'bridge', hostShim: false }, master), 1500);
    assert.equal(podMtu({ mode: 'bridge', hostShim: false, mtu: 1400 }, master), 1400);
    assert.throws(() => podMtu({ mode: 'bridge', hostShim: false, mtu: 1501 }, master), /"mtu" 1501 is above the MTU of the master eth0 \(1500\)/);
  });
});
