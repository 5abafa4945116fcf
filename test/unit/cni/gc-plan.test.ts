import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { planGc } from '../../../cni/gc-plan.ts';
import { hostVethAlias, hostVethName, parseHostVethAlias } from '../../../lib/names.ts';

const veth = (containerId: string, network?: string, ifname = 'eth0') => ({
  index: 1,
  name: hostVethName(containerId, ifname),
  flags: [],
  ...(network ? { alias: hostVethAlias(network, containerId, ifname) } : {}),
});

describe('host veth alias', () => {
  test('round-trips, and only our own format parses', () => {
    assert.equal(hostVethAlias('neta', 'c1', 'eth0'), 'bridgeway:neta:c1:eth0');
    assert.deepEqual(parseHostVethAlias('bridgeway:neta:c1:eth0'), { network: 'neta', containerId: 'c1', ifname: 'eth0' });
    for (const other of [undefined, '', 'uplink to rack 4', 'bridgeway:neta:c1', 'bridgeway:neta::eth0', 'flannel:neta:c1:eth0']) {
      assert.equal(parseHostVethAlias(other), undefined, String(other));
    }
  });
});

describe('planGc', () => {
  test('deletes only this network\'s dead veths; another network\'s veths are not even considered', () => {
    const plan = planGc({
      network: 'neta',
      valid: [{ containerId: 'alive', ifname: 'eth0' }],
      veths: [veth('dead', 'neta'), veth('alive', 'neta'), veth('podB', 'netb'), { index: 9, name: 'foreign0', flags: [] }],
      storeAttachments: [],
    });
    assert.deepEqual(plan.deleteVeths, [{ name: hostVethName('dead', 'eth0'), attachment: { containerId: 'dead', ifname: 'eth0' }, proof: 'alias' }]);
    assert.deepEqual(plan.aliasProvenDead, [{ containerId: 'dead', ifname: 'eth0' }]);
    assert.deepEqual(plan.unproven, []);
  });

  test('a veth without alias is ours only when our store holds its attachment', () => {
    const plan = planGc({
      network: 'neta',
      valid: [],
      veths: [veth('old'), veth('stranger')],
      storeAttachments: [{ containerId: 'old', ifname: 'eth0' }],
    });
    assert.deepEqual(plan.deleteVeths.map((v) => [v.name, v.proof]), [[hostVethName('old', 'eth0'), 'store']]);
    assert.deepEqual(plan.aliasProvenDead, [], 'the store releases its own');
    assert.deepEqual(plan.unproven, [{ name: hostVethName('stranger', 'eth0'), why: 'no alias and no reservation of this network' }]);
  });

  test('an alias naming another network wins over our store; a copied alias proves nothing', () => {
    const copied = { index: 3, name: hostVethName('x', 'eth0'), flags: [], alias: hostVethAlias('neta', 'y', 'eth0') };
    const plan = planGc({
      network: 'neta',
      valid: [],
      veths: [veth('shared', 'netb'), copied],
      storeAttachments: [{ containerId: 'shared', ifname: 'eth0' }],
    });
    assert.deepEqual(plan.deleteVeths, []);
    assert.deepEqual(plan.unproven.map((u) => u.name), [copied.name]);
  });
});

describe('planGc: anti-spoofing elements', () => {
  const el = (port: string) => [{ set: 'guarded_ports', key: [{ ifname: port }] }];
  const guards = (...ports: string[]) => new Map(ports.map((p) => [p, el(p)]));

  test('ports GC deletes and ports already gone lose their elements; live, listed and foreign-named ports keep theirs', () => {
    const [dead, gone, live, listed] = ['dead', 'gone', 'live', 'listed'].map((c) => hostVethName(c, 'eth0'));
    const plan = planGc({
      network: 'neta',
      valid: [{ containerId: 'live', ifname: 'eth0' }, { containerId: 'listed', ifname: 'eth0' }],
      veths: [veth('dead', 'neta'), veth('live', 'neta')],
      storeAttachments: [],
      guards: guards(dead!, gone!, live!, listed!, 'eth9', 'bwnothex00000'),
    });
    assert.deepEqual(plan.unguardPorts.map((u) => [u.port, u.why]), [[dead, 'deleted'], [gone, 'gone']]);
  });

  test('another network\'s live veth is live: its elements stay even though this GC does not judge the veth', () => {
    const plan = planGc({ network: 'neta', valid: [], veths: [veth('podB', 'netb')], storeAttachments: [], guards: guards(hostVethName('podB', 'eth0')) });
    assert.deepEqual(plan.unguardPorts, []);
  });
});
