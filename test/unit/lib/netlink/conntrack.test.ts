// lib/netlink/conntrack.ts: ctnetlink's dump and delete, as bytes. The entry below is laid out as
// the kernel dumps one (ctnetlink_fill_info: nfgenmsg, CTA_TUPLE_ORIG and CTA_TUPLE_REPLY nested
// with CTA_TUPLE_IP and CTA_TUPLE_PROTO, addresses and ports in network order, CTA_ZONE);
// test/integration/policy-agent.test.ts holds the real kernel's answers to it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bytes, encodeMessage, nest, NLA_F_NESTED, NLM_F, parseAttrs, parseMessages } from '../../../../lib/netlink/codec.ts';
import { deleteConntrack, dumpConntrack, encodeDelete, encodeDump, parseEntry } from '../../../../lib/netlink/conntrack.ts';
import { formatIp } from '../../../../lib/cidr.ts';
import { NetlinkError } from '../../../../lib/netlink/errors.ts';
import type { Message } from '../../../../lib/netlink/codec.ts';

const be16 = (n: number) => Uint8Array.of(n >> 8, n & 255);
const v4 = (text: string) => Uint8Array.from(text.split('.').map(Number));
const tuple = (src: string, dst: string, proto: number, sport: number, dport: number) => [
  nest(1 | NLA_F_NESTED, [bytes(1, v4(src)), bytes(2, v4(dst))]),
  nest(2 | NLA_F_NESTED, [bytes(1, Uint8Array.of(proto)), bytes(2, be16(sport)), bytes(3, be16(dport))]),
];
/** 10.244.1.5:40000 -> Service 10.96.0.10:80, DNATed to 10.244.2.7:8080. */
const dumped = encodeMessage((1 << 8) | 0, NLM_F.MULTI, 7, Uint8Array.of(2, 0, 0, 0), [
  nest(1 | NLA_F_NESTED, tuple('10.244.1.5', '10.96.0.10', 6, 40000, 80)),
  nest(2 | NLA_F_NESTED, tuple('10.244.2.7', '10.244.1.5', 6, 8080, 40000)),
  bytes(3, Uint8Array.of(0, 0, 0, 0x0e)),
]);

test('a dumped entry: both tuples, the reply telling where the connection really went', () => {
  const entry = parseEntry(parseMessages(dumped)[0]!)!;
  assert.deepEqual([formatIp(entry.orig.src), formatIp(entry.orig.dst), entry.orig.proto, entry.orig.sport, entry.orig.dport], ['10.244.1.5', '10.96.0.10', 6, 40000, 80]);
  assert.deepEqual([formatIp(entry.reply.src), entry.reply.sport], ['10.244.2.7', 8080]);
  assert.equal(entry.key.family, 2);
});

test('the dump asks for every family; a delete sends the original tuple back as dumped', () => {
  const dump = parseMessages(encodeDump(3))[0]!;
  assert.equal(dump.type, (1 << 8) | 1);
  assert.equal(dump.flags, NLM_F.REQUEST | NLM_F.DUMP);
  assert.deepEqual([...dump.payload.subarray(0, 4)], [0, 0, 0, 0]);
  const entry = parseEntry(parseMessages(dumped)[0]!)!;
  const del = parseMessages(encodeDelete(4, entry))[0]!;
  assert.equal(del.type, (1 << 8) | 2);
  assert.equal(del.flags, NLM_F.REQUEST | NLM_F.ACK);
  assert.equal(del.payload[0], 2);
  const attrs = parseAttrs(del.payload, 4);
  assert.deepEqual([...attrs.keys()], [1], 'only CTA_TUPLE_ORIG (no zone in this entry)');
  assert.deepEqual(attrs.get(1), entry.key.orig, 'the original tuple, byte for byte');
});

test('over a transport: dump parsed, delete acknowledged, an entry already gone is not an error', () => {
  const sent: Uint8Array[] = [];
  let gone = false;
  const transport = {
    seq: 0,
    nextSeq() { return ++this.seq; },
    request(what: string, message: Uint8Array, _seq: number, dump: boolean): Message[] {
      sent.push(message);
      if (dump) return parseMessages(dumped);
      if (gone) throw new NetlinkError(what, 2, 'No such file or directory');
      return [];
    },
  };
  const entries = dumpConntrack(transport);
  assert.equal(entries.length, 1);
  assert.equal(deleteConntrack(transport, entries[0]!), true);
  gone = true;
  assert.equal(deleteConntrack(transport, entries[0]!), false);
  assert.equal(sent.length, 3);
});
