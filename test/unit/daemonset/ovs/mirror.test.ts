import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMirror, mirrorPortName, removeMirrors } from '../../../../daemonset/ovs/mirror-ops.ts';
import { parseMirrorArgs } from '../../../../daemonset/ovs/mirror.ts';

test('mirror arguments: one <namespace>/<pod>, one output, a VLAN ID, the socket from the flag or the environment', () => {
  assert.deepEqual(parseMirrorArgs(['shop/web-1'], {}), { namespace: 'shop', pod: 'web-1', stop: false, socket: '/run/openvswitch/db.sock' });
  assert.deepEqual(parseMirrorArgs(['shop/web-1', '--to-vlan', '99', '--stop'], { BRIDGEWAY_OVSDB_SOCKET: '/s' }), { namespace: 'shop', pod: 'web-1', toVlan: 99, stop: true, socket: '/s' });
  assert.throws(() => parseMirrorArgs(['web-1'], {}), /<namespace>\/<pod>/);
  assert.throws(() => parseMirrorArgs(['a/b', '--to', 'p', '--to-vlan', '3'], {}), /exclude each other/);
  assert.throws(() => parseMirrorArgs(['a/b', '--to-vlan', '4096'], {}), /VLAN ID from 1 to 4095/);
});

test('the mirror port name is an interface name, the same for the same pod', () => {
  assert.match(mirrorPortName('shop/web-1'), /^bwm-[0-9a-f]{10}$/);
  assert.equal(mirrorPortName('shop/web-1'), mirrorPortName('shop/web-1'));
  assert.notEqual(mirrorPortName('shop/web-1'), mirrorPortName('shop/web-2'));
});

test('a mirror to a new port: internal Interface, Port, Mirror of both directions, the bridge\'s mirrors and ports', () => {
  const ops = createMirror({ bridgeUuid: 'b', key: 'shop/web-1', podPorts: ['p1'], output: { kind: 'new-port', name: 'bwm-x' } });
  assert.deepEqual(ops.map((o) => `${o.op} ${'table' in o ? o.table : ''}`), ['insert Interface', 'insert Port', 'insert Mirror', 'mutate Bridge', 'mutate Bridge', 'mutate Open_vSwitch', 'select Open_vSwitch']);
  const mirror = (ops[2] as { row: Record<string, unknown> }).row;
  assert.deepEqual(mirror.select_src_port, ['set', [['uuid', 'p1']]]);
  assert.deepEqual(mirror.select_dst_port, ['set', [['uuid', 'p1']]]);
  assert.deepEqual(mirror.output_port, ['named-uuid', 'port']);
  const rspan = createMirror({ bridgeUuid: 'b', key: 'shop/web-1', podPorts: ['p1'], output: { kind: 'vlan', vlan: 99 } });
  assert.equal((rspan[0] as { row: Record<string, unknown> }).row.output_vlan, 99);
  assert.ok(!rspan.some((o) => 'table' in o && o.table === 'Port'));
});

test('removal deletes the Mirror and the port explicitly, each out of its bridge', () => {
  assert.deepEqual(removeMirrors(['m'], ['p']).map((o) => `${o.op} ${'table' in o ? o.table : ''}`), ['mutate Bridge', 'delete Mirror', 'mutate Bridge', 'delete Port']);
});
