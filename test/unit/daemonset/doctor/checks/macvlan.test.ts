// The doctor's macvlan pains, one fault at a time against a healthy node.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { checkMacvlan } from '../../../../../daemonset/doctor/checks/macvlan.ts';
import type { DoctorFacts, MacvlanNetworkFacts } from '../../../../../daemonset/doctor/facts.ts';
import { hostShimName } from '../../../../../lib/names.ts';

const link = (name: string, extra: { up?: boolean; mtu?: number } = {}) => ({ name, mtu: extra.mtu ?? 1500, up: extra.up ?? true, ipv4: [], ipv6: [] });
const network = (extra: Partial<MacvlanNetworkFacts> = {}): MacvlanNetworkFacts => ({ path: '/etc/cni/net.d/20-lan.conflist', network: 'lan', master: 'eth1', macvlanMode: 'bridge', hostShim: true, ...extra });
const facts = (networks: MacvlanNetworkFacts[], links = [link('lo'), link('eth0'), link('eth1'), link(hostShimName('eth1'))]) =>
  ({ macvlan: networks, links, routes: [{ dst: 'default', gateway: '192.168.1.1', dev: 'eth0' }] }) as unknown as DoctorFacts;
const summary = (findings: ReturnType<typeof checkMacvlan>) => findings.map((f) => `${f.severity} ${f.object}`);

describe('doctor: macvlan networks', () => {
  test('healthy: the master up, the shim up', () => {
    assert.deepEqual(summary(checkMacvlan(facts([network()]))), ['OK macvlan network lan master eth1', `OK macvlan network lan host shim ${hostShimName('eth1')}`]);
  });

  test('no macvlan network: nothing to say', () => {
    assert.deepEqual(checkMacvlan(facts([])), []);
  });

  test('the master down, missing, or taken from a default route that is missing', () => {
    const down = checkMacvlan(facts([network()], [link('eth1', { up: false })]));
    assert.equal(down[0]!.severity, 'FAIL');
    assert.equal(down[0]!.fix, 'ip link set eth1 up');
    const missing = checkMacvlan(facts([network({ master: 'eth9' })]));
    assert.deepEqual(summary(missing), ['FAIL macvlan network lan master eth9']);
    assert.match(missing[0]!.fix!, /one of eth0, eth1/);
    assert.deepEqual(summary(checkMacvlan(facts([network({ master: undefined })]))).slice(0, 1), ['OK macvlan network lan master eth0']);
    const noRoute = { ...facts([network({ master: undefined })]), routes: [] } as DoctorFacts;
    assert.equal(checkMacvlan(noRoute)[0]!.severity, 'FAIL');
  });

  test('an MTU above the master\'s', () => {
    const findings = checkMacvlan(facts([network({ mtu: 9000 })]));
    assert.ok(findings.some((f) => f.severity === 'FAIL' && f.object === 'macvlan network lan mtu' && /above eth1's MTU 1500/.test(f.detail)));
  });

  test('vepa needs a switch that hairpins', () => {
    const vepa = checkMacvlan(facts([network({ macvlanMode: 'vepa' })])).find((f) => f.object.endsWith('vepa'));
    assert.equal(vepa?.severity, 'WARN');
    assert.match(vepa!.fix!, /bridge link set dev <port> hairpin on/);
  });

  test('the node cannot reach its pods without the shim; a shim that is down', () => {
    const noShim = checkMacvlan(facts([network({ hostShim: false })])).find((f) => f.object.endsWith('node-to-pod'));
    assert.equal(noShim?.severity, 'WARN');
    assert.match(noShim!.fix!, /"hostShim": true/);
    const shimDown = checkMacvlan(facts([network()], [link('eth1'), { ...link(hostShimName('eth1')), up: false }]));
    assert.equal(shimDown.at(-1)!.severity, 'FAIL');
    assert.deepEqual(summary(checkMacvlan(facts([network()], [link('eth1')]))).at(-1), `OK macvlan network lan host shim ${hostShimName('eth1')}`);
  });
});
