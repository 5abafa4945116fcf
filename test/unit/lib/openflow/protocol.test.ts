// The OpenFlow 1.3 encoders against known bytes. Each hex string below was produced by these
// encoders and decoded by `ovs-ofctl ofp-print <hex>` (Open vSwitch 3.1) to the text beside it,
// and the same flows read back with `ovs-ofctl -O OpenFlow13 dump-flows` after the agent's client
// installed them on a real bridge (test/integration/ovs-policy.test.ts does that on every run).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  barrierRequest, flowMod, flowStatsRequest, hello, macBytes, MessageStream, multipartReply, OFPP, OFPT, OpenFlowProtocolError, parseFlowStats,
  parsePortDescs, portDescRequest,
} from '../../../../lib/openflow/protocol.ts';

test('HELLO and BARRIER_REQUEST: version 4, type, length 8, xid', () => {
  assert.equal(hello(1).toString('hex'), '0400000800000001');
  assert.equal(barrierRequest(0x0102).toString('hex'), '0414000800000102');
});

test('FLOW_MOD add in_port=LOCAL actions=NORMAL (ofp-print: ADD priority=40010,in_port=LOCAL cookie:0x627277799773aae3 actions=NORMAL)', () => {
  const bytes = flowMod({ command: 'add', cookie: 0x627277799773aae3n, priority: 40010, match: [{ name: 'inPort', value: Uint8Array.of(0xff, 0xff, 0xff, 0xfe) }], actions: [{ output: OFPP.NORMAL }] }, 7);
  assert.equal(bytes.toString('hex'),
    '040e005800000007627277799773aae300000000000000000000000000009c4affffffffffffffffffffffff000000000001000c80000004fffffffe00000000000400180000000000000010fffffffaffff000000000000');
});

test('FLOW_MOD add with masked IPv4 prefixes and set-field eth_dst (ofp-print: ip,nw_src=10.244.1.0/24,nw_dst=10.244.1.0/24 actions=set_field:52:c5:9b:97:0c:4b->eth_dst,LOCAL)', () => {
  const prefix = { value: Uint8Array.of(10, 244, 1, 0), mask: Uint8Array.of(255, 255, 255, 0) };
  const bytes = flowMod({
    command: 'add', cookie: 0x62727779d37607fbn, priority: 40000,
    match: [{ name: 'ethType', value: Uint8Array.of(8, 0) }, { name: 'ipv4Src', ...prefix }, { name: 'ipv4Dst', ...prefix }],
    actions: [{ setEthDst: macBytes('52:c5:9b:97:0c:4b') }, { output: OFPP.LOCAL }],
  }, 7);
  assert.equal(bytes.toString('hex'),
    '040e00800000000762727779d37607fb00000000000000000000000000009c40ffffffffffffffffffffffff000000000001002280000a020800800017080af40100ffffff00800019080af40100ffffff000000000000000004002800000000001900108000060652c59b970c4b000000000010fffffffeffff000000000000');
});

test('FLOW_MOD delete by cookie and mask, every table (ofp-print: DEL table:255 cookie:0x6272777900000000/0xffffffff00000000)', () => {
  const bytes = flowMod({ command: 'delete', cookie: 0x6272777900000000n, cookieMask: 0xffffffff00000000n }, 9);
  assert.equal(bytes.toString('hex'), '040e0038000000096272777900000000ffffffff00000000ff03000000000000ffffffffffffffffffffffff000000000001000400000000');
});

test('a value of the wrong length is refused, not sent', () => {
  assert.throws(() => flowMod({ command: 'add', cookie: 1n, match: [{ name: 'ipv4Dst', value: Uint8Array.of(10, 0, 0) }] }, 1), OpenFlowProtocolError);
  assert.throws(() => macBytes('52:c5:9b:97:0c'), OpenFlowProtocolError);
});

test('multipart requests: PORT_DESC, and FLOW filtered by cookie over every table', () => {
  assert.equal(portDescRequest(3).toString('hex'), '0412001000000003000d000000000000');
  const flows = flowStatsRequest(4, 0x6272777900000000n, 0xffffffff00000000n);
  assert.equal(flows.toString('hex'), '04120038000000040001000000000000' + 'ff000000ffffffffffffffff00000000' + '6272777900000000ffffffff00000000' + '0001000400000000');
});

test('the stream splits messages across chunks; replies are parsed', () => {
  const stream = new MessageStream();
  const barrier = Buffer.from('0415000800000005', 'hex');
  assert.deepEqual(stream.push(barrier.subarray(0, 5)), []);
  const [m] = stream.push(Buffer.concat([barrier.subarray(5), Buffer.from('04', 'hex')]));
  assert.deepEqual({ type: m!.type, xid: m!.xid, version: m!.version }, { type: OFPT.BARRIER_REPLY, xid: 5, version: 4 });
  assert.throws(() => new MessageStream().push(Buffer.from('0400000400000000', 'hex')), OpenFlowProtocolError);

  // One ofp_port: LOCAL, its MAC and name.
  const port = Buffer.alloc(64);
  port.writeUInt32BE(OFPP.LOCAL, 0);
  Buffer.from('52c59b970c4b', 'hex').copy(port, 8);
  port.write('cni0', 16, 'latin1');
  const reply = multipartReply(Buffer.concat([Buffer.from('000d000100000000', 'hex'), port]));
  assert.deepEqual({ kind: reply.kind, more: reply.more }, { kind: 13, more: true });
  assert.deepEqual(parsePortDescs(reply.entries), [{ portNo: OFPP.LOCAL, mac: '52:c5:9b:97:0c:4b', name: 'cni0' }]);

  // Two ofp_flow_stats of 56 bytes (an empty match): table, priority, cookie.
  const entry = (cookie: bigint, priority: number) => {
    const b = Buffer.alloc(56);
    b.writeUInt16BE(56, 0);
    b.writeUInt16BE(priority, 12);
    b.writeBigUInt64BE(cookie, 24);
    b.writeUInt16BE(1, 48);
    b.writeUInt16BE(4, 50);
    return b;
  };
  assert.deepEqual(parseFlowStats(Buffer.concat([entry(7n, 40000), entry(0x6272777900000001n, 1)])),
    [{ table: 0, priority: 40000, cookie: 7n }, { table: 0, priority: 1, cookie: 0x6272777900000001n }]);
});
