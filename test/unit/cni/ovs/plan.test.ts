// cni/ovs/plan.ts: bridge mode's plan minus the Linux bridge's own changes; the rest unchanged.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCidr, parseIp } from '../../../../lib/cidr.ts';
import { parseNetConf } from '../../../../cni/config/netconf.ts';
import { planAdd } from '../../../../cni/plan.ts';
import { planOvsAdd } from '../../../../cni/ovs/plan.ts';

describe('planOvsAdd', () => {
  test('no Linux bridge, port, hairpin or nftables guard; the veth comes up itself; the pod side and result are bridge mode\'s', () => {
    const conf = parseNetConf(JSON.stringify({ cniVersion: '1.1.0', name: 'n', type: 'bridgeway', bridgeType: 'ovs', bridge: 'br0', ipam: { subnet: '10.1.0.0/24' } }));
    const pod = { ips: [{ address: parseCidr('10.1.0.5/24')!, gateway: parseIp('10.1.0.1')! }], routes: [] };
    const target = { containerId: 'c', ifname: 'eth0', netns: '/run/netns/p' };
    const plan = planOvsAdd(conf, target, pod);
    const linux = planAdd({ ...conf, bridgeType: 'linux' }, target, pod);
    assert.deepEqual(plan.hostChanges.map((c) => c.op), ['set-up', 'add-address', 'add-veth', 'set-up']);
    assert.deepEqual(plan.hostChanges[3], { op: 'set-up', link: plan.hostVeth });
    assert.equal(plan.guard, undefined);
    // The pod side is bridge mode's, addr_gen_mode included: the guard flows allow the link-local
    // address derived from the MAC (antiSpoofing is on by default on OVS too).
    assert.deepEqual(plan.podChanges, linux.podChanges);
    assert.ok(plan.podChanges.some((c) => c.op === 'set-sysctl' && c.key.endsWith('addr_gen_mode')));
    assert.deepEqual(plan.result, linux.result);
  });
});
