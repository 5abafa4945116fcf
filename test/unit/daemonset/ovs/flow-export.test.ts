import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planFlowExport } from '../../../../daemonset/ovs/flow-export.ts';
import { parseAgentConfig } from '../../../../daemonset/config.ts';

const bridgeUuid = 'b-1';
const ours = (targets: string[]) => ({ uuid: 'r-1', targets, ours: true });

test('a flag with nothing there: one row of ours and the bridge pointing at it, in one transaction', () => {
  const plan = planFlowExport({ bridgeUuid }, { sflow: '192.0.2.1:6343', netflow: '192.0.2.1:2055' });
  assert.deepEqual(plan.changes, ['sflow -> 192.0.2.1:6343', 'netflow -> 192.0.2.1:2055']);
  assert.deepEqual(plan.operations.map((o) => `${o.op} ${'table' in o ? o.table : ''}`), ['insert sFlow', 'insert NetFlow', 'update Bridge']);
  assert.deepEqual((plan.operations[0] as { row: unknown }).row, { targets: ['set', ['192.0.2.1:6343']], external_ids: ['map', [['bridgeway-agent', 'flow-export']]] });
  assert.deepEqual((plan.operations[2] as { row: unknown }).row, { sflow: ['named-uuid', 'new_sflow'], netflow: ['named-uuid', 'new_netflow'] });
});

test('the same collector again: nothing; another: replaced; flag unset: our row cleared', () => {
  assert.deepEqual(planFlowExport({ bridgeUuid, sflow: ours(['192.0.2.1:6343']) }, { sflow: '192.0.2.1:6343' }).operations, []);
  const moved = planFlowExport({ bridgeUuid, sflow: ours(['192.0.2.1:6343']) }, { sflow: '192.0.2.2:6343' });
  assert.deepEqual(moved.changes, ['sflow -> 192.0.2.2:6343']);
  const cleared = planFlowExport({ bridgeUuid, sflow: ours(['192.0.2.1:6343']), netflow: ours(['192.0.2.1:2055']) }, {});
  assert.deepEqual(cleared.operations, [{ op: 'update', table: 'Bridge', where: [['_uuid', '==', ['uuid', bridgeUuid]]], row: { sflow: ['set', []], netflow: ['set', []] } }]);
});

test('an admin\'s row is never changed: left when the flag is unset, refused when it is set', () => {
  const admin = { uuid: 'a-1', targets: ['198.51.100.1:6343'], ours: false };
  assert.deepEqual(planFlowExport({ bridgeUuid, sflow: admin }, {}), { operations: [], changes: [], refused: [] });
  const refused = planFlowExport({ bridgeUuid, sflow: admin }, { sflow: '192.0.2.1:6343' });
  assert.deepEqual(refused.operations, []);
  assert.match(refused.refused[0]!, /sFlow configuration bridgeway did not make \(targets 198\.51\.100\.1:6343\): left alone/);
});

test('--ovs-sflow and --ovs-netflow take ip:port; --ovsdb-socket defaults to the system OVS\'s', () => {
  const env = { NODE_NAME: 'n1', BRIDGEWAY_CLUSTER_CIDR: '10.244.0.0/16' };
  const c = parseAgentConfig(['--ovs-sflow', '192.0.2.1:6343', '--ovs-netflow', '[2001:db8::1]:2055'], env, '/x')!;
  assert.deepEqual(c.flowExport, { sflow: '192.0.2.1:6343', netflow: '[2001:db8::1]:2055' });
  assert.equal(c.ovsdbSocket, '/run/openvswitch/db.sock');
  assert.deepEqual(parseAgentConfig([], env, '/x')!.flowExport, {});
  assert.throws(() => parseAgentConfig(['--ovs-sflow', 'collector:6343'], env, '/x'), /--ovs-sflow must be a collector's ip:port/);
  assert.throws(() => parseAgentConfig(['--ovs-netflow', '192.0.2.1:99999'], env, '/x'), /--ovs-netflow must be/);
});
