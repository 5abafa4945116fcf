import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dropQos, insertIngressQos, parseBandwidth, qosOwnerIds } from '../../../../cni/ovs/qos.ts';
import { attachPort, removePort } from '../../../../cni/ovs/ops.ts';

test('runtimeConfig.bandwidth: each direction needs its rate and burst; none set is no QoS', () => {
  assert.equal(parseBandwidth(undefined), undefined);
  assert.equal(parseBandwidth({}), undefined);
  assert.deepEqual(parseBandwidth({ ingressRate: 1000, ingressBurst: 80 }), { ingress: { rate: 1000, burst: 80 } });
  assert.deepEqual(parseBandwidth({ egressRate: 1000, egressBurst: 80 }), { egress: { rate: 1000, burst: 80 } });
  assert.throws(() => parseBandwidth({ ingressRate: 1000 }), /ingressRate and ingressBurst go together/);
  assert.throws(() => parseBandwidth({ egressRate: -1, egressBurst: 1 }), /egressRate" must be a whole number of bits per second/);
  assert.throws(() => parseBandwidth({ egressRate: 1, egressBurst: 8 * 2 ** 32 }), /egressBurst" must be at most/);
  assert.throws(() => parseBandwidth([]), /must be an object/);
});

test('the ingress limit is a Queue and a linux-htb QoS on the Port, owned by the attachment\'s ids', () => {
  const ids = qosOwnerIds('net', 'c1', 'eth0');
  const spec = { bridge: 'br', port: 'bw1', owner: { network: 'net', containerId: 'c1', ifname: 'eth0' }, vlan: {}, ingress: { rate: 8000, burst: 800 } };
  const { operations, bridgeMutation } = attachPort(spec);
  assert.deepEqual(operations.slice(0, 2), insertIngressQos(spec.ingress, ids));
  const port = operations.find((o) => o.op === 'insert' && o.table === 'Port') as { row: Record<string, unknown> };
  assert.deepEqual(port.row.qos, ['named-uuid', 'qos']);
  assert.equal(operations[bridgeMutation]!.op, 'mutate');
  const qos = operations[1] as { row: Record<string, unknown> };
  assert.deepEqual(qos.row.queues, ['map', [[0, ['named-uuid', 'queue']]]]);
  assert.deepEqual(qos.row.type, 'linux-htb');
  // Without a limit: no rows, no qos column.
  const plain = attachPort({ ...spec, ingress: undefined } as never);
  assert.ok(!plain.operations.some((o) => 'table' in o && (o.table === 'QoS' || o.table === 'Queue')));
});

test('removing a port deletes it explicitly, then its QoS and Queue by the owner ids (never another\'s)', () => {
  const ops = removePort('u-1', { ...qosOwnerIds('net', 'c1', 'eth0'), 'k8s-pod-name': 'x' });
  assert.deepEqual(ops.map((o) => `${o.op} ${'table' in o ? o.table : ''}`), ['mutate Bridge', 'delete Port', 'delete QoS', 'delete Queue']);
  assert.deepEqual(ops.slice(2), dropQos(qosOwnerIds('net', 'c1', 'eth0')));
  // Ids without an owner match nothing (an empty network name is no network's).
  assert.deepEqual((dropQos({})[0] as { where: unknown[] }).where, [['external_ids', 'includes', ['map', [['bridgeway-network', ''], ['bridgeway-container-id', ''], ['bridgeway-ifname', '']]]]]);
});
