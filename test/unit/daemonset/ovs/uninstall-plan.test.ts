// daemonset/ovs/uninstall-plan.ts (pure): which ports uninstall removes from an OVS bridge, and
// whether the bridge goes, as one guarded OVSDB transaction.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { bridgeState, planOvsUninstall, readOperations } from '../../../../daemonset/ovs/uninstall-plan.ts';

const ids = (network: string) => ['map', [['bridgeway-network', network], ['bridgeway-container-id', 'c'], ['bridgeway-ifname', 'eth0']]];
const port = (id: string, name: string, map: unknown = ['map', []]) => ({ _uuid: ['uuid', id], name, external_ids: map });
const read = (portIds: string[], ports: object[]) => bridgeState([
  { rows: [{ _uuid: ['uuid', 'B'], ports: ['set', portIds.map((id) => ['uuid', id])] }] },
  { rows: ports },
] as never);

describe('OVS uninstall plan', () => {
  test('reads the bridge and every port in one transaction', () => {
    assert.deepEqual(readOperations('br-pods').map((o) => 'table' in o && o.table), ['Bridge', 'Port']);
  });
  test('no bridge: nothing to plan', () => {
    assert.equal(bridgeState([{ rows: [] }, { rows: [] }]), undefined);
  });
  test('only our ports and the internal one: the bridge goes, guarded by its ports being the ones read', () => {
    const state = read(['I', 'P1', 'P2'], [port('I', 'br-pods'), port('P1', 'bw1', ids('bridgeway')), port('P2', 'bw2', ids('bridgeway')), port('X', 'elsewhere')])!;
    assert.deepEqual(state.ports.map((p) => p.name), ['br-pods', 'bw1', 'bw2'], 'ports of other bridges are not this bridge\'s');
    const plan = planOvsUninstall(state, 'br-pods', 'bridgeway');
    assert.deepEqual(plan.remove.map((p) => p.name), ['bw1', 'bw2']);
    assert.equal(plan.deleteBridge, true);
    assert.deepEqual(plan.operations[0], {
      op: 'wait', table: 'Bridge', where: [['name', '==', 'br-pods']], columns: ['ports'], until: '==',
      rows: [{ ports: ['set', [['uuid', 'I'], ['uuid', 'P1'], ['uuid', 'P2']]] }], timeout: 0,
    });
    assert.deepEqual(plan.operations[1], { op: 'mutate', table: 'Open_vSwitch', where: [], mutations: [['bridges', 'delete', ['uuid', 'B']]] });
  });
  test('a VM\'s port and another network\'s pod keep the bridge; only our ports go', () => {
    const state = read(['I', 'P1', 'V', 'O'], [port('I', 'br-pods'), port('P1', 'bw1', ids('bridgeway')), port('V', 'vnet0', ['map', [['iface-id', 'vm1']]]), port('O', 'bw9', ids('other'))])!;
    const plan = planOvsUninstall(state, 'br-pods', 'bridgeway');
    assert.deepEqual(plan.foreign.map((p) => p.name), ['bw9', 'vnet0']);
    assert.equal(plan.deleteBridge, false);
    assert.deepEqual(plan.operations[1], { op: 'mutate', table: 'Bridge', where: [['_uuid', '==', ['uuid', 'B']]], mutations: [['ports', 'delete', ['set', [['uuid', 'P1']]]]] });
  });
  test('foreign ports and none of ours: nothing is sent', () => {
    const state = read(['I', 'V'], [port('I', 'br-pods'), port('V', 'vnet0')])!;
    assert.deepEqual(planOvsUninstall(state, 'br-pods', 'bridgeway').operations, []);
  });
});
