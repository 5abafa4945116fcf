// lib/ovsdb/protocol.ts: RFC 7047's values, the transact request, each operation's error read
// back from the results, and the framing of a stream without delimiters.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  JsonStream, map, mapEntries, namedUuid, optionalInteger, OvsdbProtocolError, OvsdbTransactionError, set, setAtoms, transactRequest, transactResults, uuid, uuidOf,
  type Operation,
} from '../../../../lib/ovsdb/protocol.ts';

describe('OVSDB values', () => {
  test('encoders spell RFC 7047 section 5.1', () => {
    assert.deepEqual(uuid('0d7a-1'), ['uuid', '0d7a-1']);
    assert.deepEqual(namedUuid('port'), ['named-uuid', 'port']);
    assert.deepEqual(set([10, 20]), ['set', [10, 20]]);
    assert.deepEqual(set([]), ['set', []]);
    assert.deepEqual(map({ 'bridgeway-network': 'n', pod: 'p' }), ['map', [['bridgeway-network', 'n'], ['pod', 'p']]]);
  });

  test('decoders take a bare atom or a set, a map, a uuid', () => {
    assert.deepEqual(setAtoms(10), [10]);
    assert.deepEqual(setAtoms(['set', [1, 2]]), [1, 2]);
    assert.deepEqual(setAtoms(undefined), []);
    assert.equal(optionalInteger(['set', []]), undefined);
    assert.equal(optionalInteger(10), 10);
    assert.deepEqual(mapEntries(['map', [['a', 'b']]]), { a: 'b' });
    assert.deepEqual(mapEntries(['set', []]), {});
    assert.equal(uuidOf(['uuid', 'x']), 'x');
    assert.equal(uuidOf('x'), undefined);
  });
});

describe('transact', () => {
  const ops: Operation[] = [
    { op: 'wait', table: 'Bridge', where: [['name', '==', 'br0']], columns: ['name'], until: '==', rows: [], timeout: 0 },
    { op: 'insert', table: 'Bridge', row: { name: 'br0' }, 'uuid-name': 'br' },
  ];

  test('the request is JSON-RPC 1.0 with the database first', () => {
    assert.deepEqual(transactRequest('Open_vSwitch', ops, 7), { method: 'transact', params: ['Open_vSwitch', ...ops], id: 7 });
  });

  test('results: one per operation; the first failed operation becomes a typed error naming it', () => {
    assert.deepEqual(transactResults(ops, [{}, { uuid: ['uuid', 'u'] }]), [{}, { uuid: ['uuid', 'u'] }]);
    assert.throws(() => transactResults(ops, [{ error: 'timed out', details: '"wait" timed out' }, null]), (error: unknown) => {
      assert.ok(error instanceof OvsdbTransactionError);
      assert.equal(error.error, 'timed out');
      assert.equal(error.index, 0);
      assert.match(error.message, /timed out.*operation 0 \(wait Bridge\)/);
      return true;
    });
  });

  test('a commit failure is the extra result past the operations', () => {
    assert.throws(() => transactResults(ops, [{}, { uuid: ['uuid', 'u'] }, { error: 'constraint violation', details: 'duplicate name' }]), (error: unknown) => {
      assert.ok(error instanceof OvsdbTransactionError);
      assert.equal(error.index, 2);
      assert.match(error.message, /constraint violation \(duplicate name\) at commit/);
      return true;
    });
  });

  test('a result that is no array, or too short, is a protocol error', () => {
    assert.throws(() => transactResults(ops, { oops: 1 }), OvsdbProtocolError);
    assert.throws(() => transactResults(ops, [{}]), OvsdbProtocolError);
  });
});

describe('JsonStream', () => {
  test('messages split across reads and joined in one read; braces in strings do not count', () => {
    const stream = new JsonStream();
    assert.deepEqual(stream.push('{"id":1,"result":["a}'), []);
    assert.deepEqual(stream.push('\\"{",2]}{"id":2'), [{ id: 1, result: ['a}"{', 2] }]);
    assert.deepEqual(stream.push(',"result":{}}\n{"id":3,"result":null}'), [{ id: 2, result: {} }, { id: 3, result: null }]);
    assert.deepEqual(stream.push(' {"method":"echo","params":[],"id":"echo"}'), [{ method: 'echo', params: [], id: 'echo' }]);
  });
});
