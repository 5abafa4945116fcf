// conflist/render.ts (pure): the CNI network configuration the agent writes for its node.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCidr } from '../../../../lib/cidr.ts';
import { renderConflist } from '../../../../daemonset/conflist/render.ts';

const cidr = (t: string) => parseCidr(t)!;

describe('conflist', () => {
  test('1.1.0, our subnet and MTU, portmap chained when present', () => {
    const conf = JSON.parse(renderConflist({ cniVersion: '1.1.0', podCIDR: cidr('10.244.1.0/24'), mtu: 9000, bridge: 'cni0', portmap: true, logLevel: 'info', dataDir: '/d', logFile: '/l' }));
    assert.equal(conf.cniVersion, '1.1.0');
    assert.deepEqual(conf.plugins[0].ipam, { subnet: '10.244.1.0/24' });
    assert.equal(conf.plugins[0].mtu, 9000);
    assert.equal(conf.plugins[0].hairpinMode, true, 'a pod reaches itself through its own Service');
    assert.equal(conf.plugins[1].type, 'portmap');
    assert.equal(JSON.parse(renderConflist({ cniVersion: '1.1.0', podCIDR: cidr('10.244.1.0/24'), mtu: 1500, bridge: 'cni0', portmap: false, logLevel: 'info', dataDir: '/d', logFile: '/l' })).plugins.length, 1);
  });
  test('an OVS bridge: bridgeType, the socket and the datapath for the plugin, the bandwidth capability, and no hairpinMode (an OVS port has none)', () => {
    const conf = JSON.parse(renderConflist({ cniVersion: '1.1.0', podCIDR: cidr('10.244.1.0/24'), mtu: 1500, bridge: 'br-pods', ovs: { socket: '/run/ovs/db.sock', datapath: 'netdev' }, portmap: false, logLevel: 'info', dataDir: '/d', logFile: '/l' }));
    const plugin = conf.plugins[0];
    assert.equal(plugin.bridge, 'br-pods');
    assert.equal(plugin.bridgeType, 'ovs');
    assert.equal(plugin.ovsdbSocket, '/run/ovs/db.sock');
    assert.equal(plugin.ovsDatapath, 'netdev');
    assert.deepEqual(plugin.capabilities, { bandwidth: true }, 'kubelet\'s bandwidth annotations reach the plugin\'s own QoS');
    assert.equal('hairpinMode' in plugin, false);
  });
  test('one family is a plain subnet (unchanged for IPv4-only nodes); dual-stack is one range per family', () => {
    const render = (podCIDR: Parameters<typeof renderConflist>[0]['podCIDR']) =>
      JSON.parse(renderConflist({ cniVersion: '1.0.0', podCIDR, mtu: 1500, bridge: 'cni0', portmap: false, logLevel: 'info', dataDir: '/d', logFile: '/l' })).plugins[0].ipam;
    assert.deepEqual(render([parseCidr('10.244.1.0/24')!]), { subnet: '10.244.1.0/24' });
    assert.deepEqual(render([parseCidr('fd00:10:244:1::/64')!]), { subnet: 'fd00:10:244:1::/64' });
    assert.deepEqual(render([parseCidr('10.244.1.0/24')!, parseCidr('fd00:10:244:1::/64')!]), { ranges: [[{ subnet: '10.244.1.0/24' }], [{ subnet: 'fd00:10:244:1::/64' }]] });
  });
});
