// lib/ovsdb/client.ts against a real ovsdb-server of the test's own (test/support/ovs.ts): each
// operation the plugin uses, named UUIDs across one transaction, a failed `wait` as a typed error
// that leaves the transaction undone, and the errors of a socket that is absent or silent.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { connectOvsdb, OvsdbUnavailableError } from '../../lib/ovsdb/client.ts';
import { map, mapEntries, namedUuid, OvsdbTransactionError, set, setAtoms, uuidOf, type Operation } from '../../lib/ovsdb/protocol.ts';
import { Lab } from '../support/lab.ts';
import { ovsMissing, TestOvs } from '../support/ovs.ts';
import { uniquePrefix } from './harness.ts';

const skip = process.getuid?.() !== 0 ? 'needs root' : ovsMissing;

async function withDb(fn: (ovs: TestOvs, lab: Lab) => Promise<void>): Promise<void> {
  const lab = new Lab(uniquePrefix()).cleanupOnSignals();
  try {
    const ns = await lab.addNamespace('node');
    const ovs = await TestOvs.start(lab, ns, { vswitchd: false });
    try {
      await fn(ovs, lab);
    } finally {
      await ovs.stop();
    }
  } finally {
    lab.cleanup();
  }
}

describe('OVSDB client', { skip }, () => {
  test('insert with named UUIDs, select, mutate, update, wait, delete', () =>
    withDb(async (ovs) => {
      const db = await connectOvsdb(ovs.socket);
      try {
        const insert: Operation[] = [
          { op: 'insert', table: 'Interface', row: { name: 'p1', type: 'internal' }, 'uuid-name': 'iface' },
          { op: 'insert', table: 'Port', row: { name: 'p1', interfaces: namedUuid('iface'), tag: 10, external_ids: map({ owner: 'test' }) }, 'uuid-name': 'port' },
          { op: 'insert', table: 'Bridge', row: { name: 'brx', ports: namedUuid('port') }, 'uuid-name': 'bridge' },
          { op: 'mutate', table: 'Open_vSwitch', where: [], mutations: [['bridges', 'insert', namedUuid('bridge')]] },
        ];
        const results = await db.transact(insert);
        assert.equal(results.length, 4);
        assert.ok(uuidOf(results[2]!.uuid), 'the bridge\'s UUID');
        assert.equal(results[3]!.count, 1);
        assert.equal(await ovs.vsctl(['get', 'Port', 'p1', 'tag']), '10');
        assert.equal(await ovs.vsctl(['list-ports', 'brx']), 'p1');

        const [selected] = await db.transact([{ op: 'select', table: 'Port', where: [['name', '==', 'p1']], columns: ['_uuid', 'tag', 'external_ids', 'trunks'] }]);
        assert.equal(selected!.rows!.length, 1);
        assert.deepEqual(mapEntries(selected!.rows![0]!.external_ids), { owner: 'test' });
        assert.deepEqual(setAtoms(selected!.rows![0]!.tag), [10]);

        await db.transact([{ op: 'update', table: 'Port', where: [['name', '==', 'p1']], row: { tag: set([]), trunks: set([20, 30]) } }]);
        assert.equal(await ovs.vsctl(['get', 'Port', 'p1', 'trunks']), '[20, 30]');

        // A wait that fails undoes the whole transaction, the insert before it included.
        await assert.rejects(
          db.transact([
            { op: 'insert', table: 'Bridge', row: { name: 'bry' }, 'uuid-name': 'b2' },
            { op: 'mutate', table: 'Open_vSwitch', where: [], mutations: [['bridges', 'insert', namedUuid('b2')]] },
            { op: 'wait', table: 'Bridge', where: [['name', '==', 'brx']], columns: ['name'], until: '==', rows: [], timeout: 0 },
          ]),
          (error: unknown) => error instanceof OvsdbTransactionError && error.error === 'timed out' && error.index === 2,
        );
        assert.equal(await ovs.vsctl(['list-br']), 'brx');

        // A second bridge of the same name breaks the index on Bridge.name: a commit error.
        await assert.rejects(
          db.transact([
            { op: 'insert', table: 'Bridge', row: { name: 'brx' }, 'uuid-name': 'b3' },
            { op: 'mutate', table: 'Open_vSwitch', where: [], mutations: [['bridges', 'insert', namedUuid('b3')]] },
          ]),
          (error: unknown) => error instanceof OvsdbTransactionError && error.error === 'constraint violation',
        );

        // The port goes when no bridge refers to it (Port is not a root table).
        const [bridge] = await db.transact([{ op: 'select', table: 'Bridge', where: [['name', '==', 'brx']], columns: ['ports'] }]);
        await db.transact([{ op: 'mutate', table: 'Bridge', where: [['name', '==', 'brx']], mutations: [['ports', 'delete', bridge!.rows![0]!.ports!]] }]);
        assert.equal(await ovs.vsctl(['list-ports', 'brx']), '');
        assert.deepEqual(await ovs.rows(['find', 'Port', 'name=p1']), []);
        // A row still referred to cannot be deleted: the commit's error, past the operations.
        await assert.rejects(db.transact([{ op: 'delete', table: 'Bridge', where: [['name', '==', 'brx']] }]), (error: unknown) => error instanceof OvsdbTransactionError && error.error === 'referential integrity violation' && error.index === 1);
        const [, deleted] = await db.transact([
          { op: 'mutate', table: 'Open_vSwitch', where: [], mutations: [['bridges', 'delete', results[2]!.uuid!]] },
          { op: 'delete', table: 'Bridge', where: [['name', '==', 'brx']] },
        ]);
        assert.equal(deleted!.count, 1);
        assert.equal(await ovs.vsctl(['list-br']), '');
      } finally {
        db.close();
      }
    }));

  test('a socket that is absent, refuses, or never answers: OvsdbUnavailableError naming it', () =>
    withDb(async (ovs, lab) => {
      const absent = path.join(lab.dir, 'absent.sock');
      await assert.rejects(connectOvsdb(absent), (error: unknown) => error instanceof OvsdbUnavailableError && error.message.includes(absent) && /does not exist/.test(error.message));
      await ovs.stopDb();
      await assert.rejects(connectOvsdb(ovs.socket), (error: unknown) => error instanceof OvsdbUnavailableError && /refuses connections|does not exist/.test(error.message));

      const silentPath = path.join(lab.dir, 'silent.sock');
      const silent = net.createServer(() => {});
      await new Promise<void>((resolve) => silent.listen(silentPath, resolve));
      try {
        const db = await connectOvsdb(silentPath, { timeoutMs: 300 });
        try {
          await assert.rejects(db.transact([{ op: 'select', table: 'Bridge', where: [] }]), (error: unknown) => error instanceof OvsdbUnavailableError && /did not answer within 300 ms/.test(error.message));
        } finally {
          db.close();
        }
      } finally {
        silent.close();
      }
    }));
});
