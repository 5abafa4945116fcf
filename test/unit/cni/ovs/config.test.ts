// cni/ovs/config.ts through parseNetConf: the keys of "bridgeType": "ovs", their defaults, and
// each refusal with the key it names.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseNetConf } from '../../../../cni/config/netconf.ts';
import { CniError } from '../../../../cni/errors.ts';

const parse = (extra: Record<string, unknown>) => parseNetConf(JSON.stringify({ cniVersion: '1.1.0', name: 'n', type: 'bridgeway', ipam: { subnet: '10.1.0.0/24' }, ...extra }));
const refused = (extra: Record<string, unknown>, code: number, message: RegExp) =>
  assert.throws(() => parse(extra), (error: unknown) => error instanceof CniError && error.code === code && message.test(error.message));

describe('"bridgeType": "ovs" config', () => {
  test('defaults: a Linux bridge; on OVS the system socket and datapath, anti-spoofing on (off on a trunk), no VLAN', () => {
    const linux = parse({});
    assert.equal(linux.bridgeType, 'linux');
    assert.equal(linux.ovs, undefined);
    assert.equal(linux.antiSpoofing, true);
    const ovs = parse({ bridgeType: 'ovs' });
    assert.deepEqual(ovs.ovs, { socket: '/run/openvswitch/db.sock', datapath: 'system' });
    assert.equal(ovs.antiSpoofing, true, 'OpenFlow guard flows (cni/ovs/guard.ts), on by default as on the Linux bridge');
    assert.equal(parse({ bridgeType: 'ovs', vlan: 10 }).antiSpoofing, true);
    assert.equal(parse({ bridgeType: 'ovs', trunk: [10] }).antiSpoofing, false, 'a trunk\'s tagged frames carry addresses bridgeway does not know');
    assert.equal(parse({ bridgeType: 'ovs', antiSpoofing: false }).antiSpoofing, false);
  });

  test('VLAN keys are read', () => {
    assert.equal(parse({ bridgeType: 'ovs', vlan: 10 }).ovs!.vlan, 10);
    assert.deepEqual(parse({ bridgeType: 'ovs', trunk: [300, 100, 100] }).ovs!.trunks, [100, 300]);
    assert.deepEqual(parse({ bridgeType: 'ovs', ovsdbSocket: '/x/db.sock', ovsDatapath: 'netdev', vlanByNamespace: { a: 1, b: 2 }, defaultVlan: 3 }).ovs, {
      socket: '/x/db.sock', datapath: 'netdev', vlanByNamespace: { a: 1, b: 2 }, defaultVlan: 3,
    });
  });

  test('refusals name the key', () => {
    refused({ bridgeType: 'vpp' }, 7, /"bridgeType" must be "linux" or "ovs"/);
    refused({ vlan: 10 }, 2, /vlan.*Open vSwitch bridges only/);
    refused({ bridgeType: 'ovs', vlan: 4096 }, 7, /"vlan" must be an integer from 0 to 4095/);
    refused({ bridgeType: 'ovs', trunk: [] }, 7, /"trunk" must list at least one/);
    refused({ bridgeType: 'ovs', trunk: [1, 'x'] }, 7, /"trunk" must list VLAN IDs/);
    refused({ bridgeType: 'ovs', vlan: 1, trunk: [2] }, 7, /"vlan" and "trunk" exclude each other/);
    refused({ bridgeType: 'ovs', vlan: 1, vlanByNamespace: { a: 2 } }, 7, /exclude each other/);
    refused({ bridgeType: 'ovs', defaultVlan: 5 }, 7, /"defaultVlan" is the VLAN of a namespace/);
    refused({ bridgeType: 'ovs', vlanByNamespace: { a: 5000 } }, 7, /"vlanByNamespace.a" must be an integer/);
    refused({ bridgeType: 'ovs', ovsdbSocket: 'db.sock' }, 7, /absolute path/);
    refused({ bridgeType: 'ovs', trunk: [10], antiSpoofing: true }, 2, /antiSpoofing.*"trunk" port's pod sends 802.1Q-tagged frames/);
    refused({ bridgeType: 'ovs', uplink: 'eth1' }, 2, /uplink/);
    refused({ bridgeType: 'ovs', mode: 'macvlan', master: 'eth1' }, 7, /macvlan.*has no bridge/);
  });
});
