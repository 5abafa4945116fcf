// cni/ovs/ops.ts: the OVSDB transactions as data, and cni/ovs/gc.ts's pure choice of dead ports.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { attachPort, createBridge, detachPort, isOwnPort, ownerIds, selectNetworkPorts } from '../../../../cni/ovs/ops.ts';
import { deadPorts } from '../../../../cni/ovs/gc.ts';
import { OVS_IDS } from '../../../../lib/names.ts';
import { mapEntries, type Row } from '../../../../lib/ovsdb/protocol.ts';

const owner = { network: 'net', containerId: 'c1', ifname: 'eth0', podNamespace: 'ns', podName: 'p' };

describe('OVSDB transactions of an attachment', () => {
  test('the bridge is made only if its name is free, with its internal port, datapath and MAC, and hung on the root row', () => {
    const ops = createBridge({ name: 'br0', datapath: 'netdev', mac: '0a:58:0a:00:00:01', mtu: 1400 });
    assert.deepEqual(ops[0], { op: 'wait', table: 'Bridge', where: [['name', '==', 'br0']], columns: ['name'], until: '==', rows: [], timeout: 0 });
    assert.deepEqual(ops.map((o) => `${o.op} ${'table' in o ? o.table : ''}`), ['wait Bridge', 'insert Interface', 'insert Port', 'insert Bridge', 'mutate Open_vSwitch']);
    assert.deepEqual(ops[1], { op: 'insert', table: 'Interface', row: { name: 'br0', type: 'internal', mtu_request: 1400 }, 'uuid-name': 'iface' });
    assert.deepEqual((ops[3] as { row: object }).row, { name: 'br0', ports: ['named-uuid', 'port'], datapath_type: 'netdev', other_config: ['map', [['hwaddr', '0a:58:0a:00:00:01']]] });
  });

  test('the port: ids on Port and Interface, the VLAN, the bridge, then next_cfg to wait for', () => {
    const { operations, bridgeMutation, nextCfg } = attachPort({ bridge: 'br0', port: 'bw1', owner, vlan: { tag: 10 } });
    const ids = ['map', [[OVS_IDS.network, 'net'], [OVS_IDS.containerId, 'c1'], [OVS_IDS.ifname, 'eth0'], [OVS_IDS.podNamespace, 'ns'], [OVS_IDS.podName, 'p']]];
    assert.deepEqual(operations[0], { op: 'insert', table: 'Interface', row: { name: 'bw1', external_ids: ids }, 'uuid-name': 'iface' });
    assert.deepEqual(operations[1], { op: 'insert', table: 'Port', row: { name: 'bw1', interfaces: ['named-uuid', 'iface'], external_ids: ids, tag: 10 }, 'uuid-name': 'port' });
    assert.deepEqual(operations[bridgeMutation], { op: 'mutate', table: 'Bridge', where: [['name', '==', 'br0']], mutations: [['ports', 'insert', ['named-uuid', 'port']]] });
    assert.deepEqual(operations[nextCfg], { op: 'select', table: 'Open_vSwitch', where: [], columns: ['next_cfg'] });
    const trunk = attachPort({ bridge: 'br0', port: 'bw1', owner, vlan: { trunks: [1, 2] } });
    assert.deepEqual((trunk.operations[1] as { row: Record<string, unknown> }).row.trunks, ['set', [1, 2]]);
  });

  test('a guarded port\'s Interface keeps its MAC and addresses (the agent re-installs its flows from them); the Port does not', () => {
    const { operations } = attachPort({ bridge: 'br0', port: 'bw1', owner, vlan: {}, guard: { mac: '0a:58:0a:00:00:05', addresses: ['10.0.0.5', 'fd00::5'] } });
    const iface = mapEntries((operations[0] as { row: Row }).row.external_ids);
    assert.deepEqual(iface, { ...ownerIds(owner), [OVS_IDS.attachedMac]: '0a:58:0a:00:00:05', [OVS_IDS.antispoofIps]: '10.0.0.5,fd00::5' });
    assert.deepEqual(mapEntries((operations[1] as { row: Row }).row.external_ids), ownerIds(owner));
  });

  test('a stale port of this attachment is dropped in the same transaction, first', () => {
    const { operations, bridgeMutation } = attachPort({ bridge: 'br0', port: 'bw1', owner, vlan: {}, stalePort: 'u-1' });
    assert.deepEqual(operations[0], detachPort('u-1'));
    assert.deepEqual(detachPort('u-1'), { op: 'mutate', table: 'Bridge', where: [['ports', 'includes', ['uuid', 'u-1']]], mutations: [['ports', 'delete', ['uuid', 'u-1']]] });
    assert.equal(operations[bridgeMutation]!.op, 'mutate');
  });

  test('ownership is network, container and ifname together', () => {
    const ids = ownerIds(owner);
    assert.ok(isOwnPort(ids, 'net', 'c1', 'eth0'));
    assert.ok(!isOwnPort(ids, 'other', 'c1', 'eth0'));
    assert.ok(!isOwnPort(ids, 'net', 'c2', 'eth0'));
    assert.ok(!isOwnPort({}, 'net', 'c1', 'eth0'));
    assert.deepEqual((selectNetworkPorts('net') as { where: unknown }).where, [['external_ids', 'includes', ['map', [[OVS_IDS.network, 'net']]]]]);
  });

  test('GC judges only this network\'s ports with full ids, against the valid list', () => {
    const port = (name: string, ids: Record<string, string>) => ({ uuid: name, name, ids, trunks: [] });
    const ours = (c: string) => ownerIds({ network: 'net', containerId: c, ifname: 'eth0' });
    const dead = deadPorts(
      [port('a', ours('c1')), port('b', ours('c2')), port('vm', { 'vm-id': 'x' }), port('other', { ...ours('c3'), [OVS_IDS.network]: 'other' }), port('half', { [OVS_IDS.network]: 'net' })],
      'net',
      [{ containerId: 'c1', ifname: 'eth0' }],
    );
    assert.deepEqual(dead.map((p) => p.name), ['b']);
  });
});
