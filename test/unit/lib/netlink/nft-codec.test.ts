// The nf_tables messages the plugin sends, against what nft 1.0.6 sends for the same ruleset
// (test/fixtures/nft/*.hex, captured with strace), and the batch around them. Pure: the socket is
// replaced by a transport that records and answers as told.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { parseIp } from '../../../../lib/cidr.ts';
import { encodeMessage, NLA_F_NESTED, NLM_F, parseAttrs, parseMessages, readString, type Message } from '../../../../lib/netlink/codec.ts';
import {
  concatType, decodeSetElements, getSetElements, keyRegister, NFPROTO_BRIDGE, NFT_DATATYPE, NFT_MSG, NFT_MSG_GETSETELEM, NFTA_RULE, NFTA_SET, nfgenmsg,
} from '../../../../lib/netlink/nft-codec.ts';
import { NftBatchError, sendBatch } from '../../../../lib/netlink/nftables.ts';
import type { Ack, BatchTransport } from '../../../../lib/netlink/transport.ts';
import { addElements, deleteElements, elementMessages, installMessages, installTable, keyParts, setKey } from '../../../../lib/antispoof/netlink.ts';
import { elementId } from '../../../../lib/antispoof/nft-json.ts';
import { antispoofRuleset, attachmentElements, SET } from '../../../../lib/antispoof/ruleset.ts';

const FIXTURES = path.resolve(import.meta.dirname, '../../../fixtures/nft');
/** A fixture: per message its type, flags and payload (nfgenmsg + attributes) in hex. */
function fixture(name: string): { type: number; flags: number; payload: string }[] {
  return fs.readFileSync(path.join(FIXTURES, name), 'utf8').split('\n').filter((l) => l && !l.startsWith('#')).map((l) => {
    const [, type, flags, payload] = l.split(' ');
    return { type: Number(type), flags: Number(flags), payload: payload! };
  });
}
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** A transport that keeps every batch and answers each message with an ACK, or with `refuse(message, index)`. */
function recorder(refuse: (m: Message, index: number, batch: number) => Omit<Ack, 'seq'> | undefined = () => undefined): BatchTransport & { batches: Message[][] } {
  let seq = 0;
  const batches: Message[][] = [];
  return {
    batches,
    nextSeq: () => ++seq,
    exchange: (_what, buffer, seqs) => {
      const messages = parseMessages(buffer);
      const batch = batches.length;
      batches.push(messages);
      const inner = messages.slice(1, -1);
      return seqs.map((s) => ({ seq: s, errno: 0, ...refuse(inner.find((m) => m.seq === s)!, inner.findIndex((m) => m.seq === s), batch) }));
    },
  };
}

const ruleset = antispoofRuleset();
const elements = attachmentElements({ port: 'bw0123456789ab', mac: '0a:58:0a:63:00:05', addresses: [parseIp('10.99.0.5')!, parseIp('fd00:99::5')!] });

describe('the table, byte for byte what nft sends for renderTable()', () => {
  const nft = fixture('table-batch.hex');
  const t = recorder();
  installTable(t, ruleset);
  const [ours] = t.batches;

  test('one batch: BATCH_BEGIN and BATCH_END around the messages, res_id NFNL_SUBSYS_NFTABLES, in one buffer', () => {
    assert.equal(ours!.length, nft.length);
    for (const i of [0, ours!.length - 1]) {
      assert.equal(ours![i]!.type, nft[i]!.type);
      assert.equal(hex(ours![i]!.payload), nft[i]!.payload);
      assert.equal(ours![i]!.flags, NLM_F.REQUEST, 'no ACK asked for the delimiters (kernels differ in answering them)');
    }
  });

  test('every message carries the same attributes as nft\'s, in the same order', () => {
    for (let i = 1; i < nft.length - 1; i++) {
      assert.equal(ours![i]!.type, nft[i]!.type, `message ${i}`);
      assert.equal(hex(ours![i]!.payload), nft[i]!.payload, `message ${i}`);
    }
  });

  test('flags: nft\'s plus NLM_F_ACK; the table with NLM_F_CREATE|NLM_F_EXCL (rules append, so the table is made once)', () => {
    for (let i = 1; i < nft.length - 1; i++) {
      const want = i === 1 ? NLM_F.REQUEST | NLM_F.CREATE | NLM_F.EXCL | NLM_F.ACK : nft[i]!.flags | NLM_F.ACK;
      assert.equal(ours![i]!.flags, want, `message ${i}`);
    }
  });

  test('seqs increase through the batch', () => {
    ours!.forEach((m, i) => i > 0 && assert.equal(m.seq, ours![i - 1]!.seq + 1));
  });
});

describe('representative messages, readable', () => {
  const messages = installMessages(ruleset);

  test('a set with a concatenated key: ifname . ether_addr . ipv4_addr, 16 + 8 + 4 bytes', () => {
    const set = messages.find((m) => m.type === NFT_MSG.NEWSET && m.what.endsWith(SET.arp))!;
    const attrs = parseAttrs(encodeMessage(0, 0, 0, new Uint8Array(4), set.attrs).subarray(16), 4);
    const be = (b: Uint8Array | undefined) => Buffer.from(b!).readUInt32BE(0);
    assert.equal(readString(attrs.get(NFTA_SET.NAME)), 'port_arp');
    assert.equal(be(attrs.get(NFTA_SET.KEY_TYPE)), concatType([NFT_DATATYPE.IFNAME, NFT_DATATYPE.ETHERADDR, NFT_DATATYPE.IPADDR]));
    assert.equal(be(attrs.get(NFTA_SET.KEY_TYPE)), 0x29247);
    assert.equal(be(attrs.get(NFTA_SET.KEY_LEN)), 28);
    assert.equal(setKey({ name: 'x', key: ['iifname', 'nd target'] }).length, 32);
  });

  test('a set keyed by the port alone: type ifname, 16 bytes, and the type\'s byte order as nft records it (no concatenation)', () => {
    const set = messages.find((m) => m.type === NFT_MSG.NEWSET && m.what.endsWith(SET.guarded))!;
    const attrs = parseAttrs(encodeMessage(0, 0, 0, new Uint8Array(4), set.attrs).subarray(16), 4);
    assert.equal(Buffer.from(attrs.get(NFTA_SET.KEY_TYPE)!).readUInt32BE(0), NFT_DATATYPE.IFNAME);
    assert.equal(Buffer.from(attrs.get(NFTA_SET.KEY_LEN)!).readUInt32BE(0), 16);
    assert.equal(hex(attrs.get(NFTA_SET.USERDATA)!), '000401000000'); // NFTNL_UDATA_SET_KEYBYTEORDER, 4 bytes, BYTEORDER_HOST_ENDIAN
    assert.throws(() => setKey({ name: 'x', key: ['nd target'] }), /not supported/);
  });

  test('the base chain\'s first rule: the port and source MAC, a lookup in port_mac, goto the guarded port\'s chain', () => {
    const rule = messages.find((m) => m.type === NFT_MSG.NEWRULE && m.what.includes('from_pods'))!;
    assert.equal(rule.what, 'add rule bridge bridgeway from_pods iifname . ether saddr @port_mac goto from_guarded_port');
  });

  test('a rule: the NA check is icmpv6 type (with its dependencies), the key loads, an inverted lookup, drop', () => {
    const rule = messages.find((m) => m.type === NFT_MSG.NEWRULE && m.what.includes('nd-neighbor-advert'))!;
    assert.equal(rule.flags, NLM_F.CREATE | NLM_F.APPEND);
    assert.equal(rule.what, 'add rule bridge bridgeway from_pod_ipv6 icmpv6 type nd-neighbor-advert iifname . @th,64,128 != @port_nd_target drop');
    const body = encodeMessage(0, 0, 0, new Uint8Array(4), rule.attrs).subarray(20);
    const list = parseAttrs(body).get(NFTA_RULE.EXPRESSIONS)!;
    const names: string[] = [];
    for (let at = 0; at < list.length;) {
      const length = Buffer.from(list).readUInt16LE(at);
      names.push(readString(parseAttrs(list.subarray(at + 4, at + length)).get(1))!);
      at += (length + 3) & ~3;
    }
    assert.deepEqual(names, ['payload', 'cmp', 'meta', 'cmp', 'payload', 'cmp', 'meta', 'payload', 'lookup', 'immediate']);
  });

  test('registers: a key\'s 4-byte units, named by 16-byte register where aligned (as nft names them)', () => {
    assert.deepEqual([0, 4, 6, 8].map(keyRegister), [1, 2, 14, 3]);
  });

  test('nested attributes carry NLA_F_NESTED', () => {
    const rule = messages.find((m) => m.type === NFT_MSG.NEWRULE)!;
    assert.equal(rule.attrs.at(-1)!.type, NFTA_RULE.EXPRESSIONS | NLA_F_NESTED);
  });
});

describe('elements', () => {
  test('what nft sends, without the set id nft adds from its cache (the kernel finds the set by name)', () => {
    const nft = fixture('elements-batch.hex');
    const t = recorder();
    addElements(t, ruleset, elements);
    const [ours] = t.batches;
    assert.equal(ours!.length, nft.length);
    for (let i = 1; i < nft.length - 1; i++) {
      const theirs = Buffer.from(nft[i]!.payload, 'hex');
      const withoutSetId = [...parseAttrs(theirs, 4)].filter(([type]) => type !== 4 /* NFTA_SET_ELEM_LIST_SET_ID */);
      assert.deepEqual([...parseAttrs(ours![i]!.payload, 4)].map(([k, v]) => [k, hex(v)]), withoutSetId.map(([k, v]) => [k, hex(v)]), `message ${i}`);
      assert.equal(ours![i]!.flags, nft[i]!.flags | NLM_F.ACK);
    }
  });

  test('one message per set that has elements: none for an IPv6-only pod\'s ARP', () => {
    const v6 = attachmentElements({ port: 'bw1', mac: '0a:58:00:00:00:05', addresses: [parseIp('fd00::5')!] });
    assert.deepEqual(elementMessages(ruleset, 'add', v6).map((m) => m.what.split(' ')[4]), [SET.guarded, SET.mac, SET.ipv6, SET.ndTarget]);
    assert.throws(() => elementMessages(ruleset, 'add', attachmentElements({ port: 'bw-much-too-long', mac: '0a:58:00:00:00:05', addresses: [] })), /too long/);
  });
});

describe('answers', () => {
  test('the table exists: the kernel refuses the batch at its first message, and that is done', () => {
    const t = recorder((_m, i) => (i === 0 ? { errno: 17 } : undefined));
    assert.equal(installTable(t, ruleset), false);
  });

  test('any other refusal throws with the message in nft syntax and the kernel\'s own words', () => {
    const t = recorder((_m, i) => (i === 5 ? { errno: 95, text: 'unsupported hook' } : undefined));
    assert.throws(() => installTable(t, ruleset), (error: unknown) => {
      assert.ok(error instanceof NftBatchError);
      assert.equal(error.errno, 95);
      assert.equal(error.message, 'nftables: add chain bridge bridgeway from_pods: Operation not supported (unsupported hook)');
      return true;
    });
  });

  test('an answer missing is an error, not a success', () => {
    const t: BatchTransport = { nextSeq: (() => { let s = 0; return () => ++s; })(), exchange: (_w, _b, seqs) => seqs.slice(1).map((seq) => ({ seq, errno: 0 })) };
    assert.throws(() => sendBatch(t, 'add elements', elementMessages(ruleset, 'add', elements)), /no answer to 1 of 6/);
  });

  test('a refusal of the whole batch (an error for a seq we did not send) throws too', () => {
    const t: BatchTransport = { nextSeq: (() => { let s = 0; return () => ++s; })(), exchange: () => [{ seq: 1, errno: 22 }] };
    assert.throws(() => sendBatch(t, 'add elements', elementMessages(ruleset, 'add', elements)), /add elements: Invalid argument/);
  });

  test('deleting: a missing element makes the kernel refuse the batch; then one by one, missing ones tolerated', () => {
    const gone = new Set([1]); // the second set's (port_arp) elements are already gone
    const t = recorder((_m, i, batch) => {
      if (batch === 0) return i === 1 ? { errno: 2 } : undefined;
      return gone.has(batch) ? { errno: 2 } : undefined;
    });
    deleteElements(t, ruleset, elements);
    assert.equal(t.batches.length, 1 + elements.length);
    assert.ok(t.batches.every((b) => b.slice(1, -1).every((m) => (m.type & 0xff) === NFT_MSG.DELSETELEM)));
  });

  test('deleting: other errors are errors', () => {
    const t = recorder((_m, i) => (i === 0 ? { errno: 1 } : undefined));
    assert.throws(() => deleteElements(t, ruleset, elements), /Operation not permitted/);
  });
});


describe('reading elements back: GETSETELEM dumps decoded into the ruleset\'s elements', () => {
  const byId = (list: readonly { set: string; key: readonly unknown[] }[]) => list.map((e) => elementId(e as Parameters<typeof elementId>[0])).sort();

  test('nft\'s own NEWSETELEM bytes (elements-batch.hex, the layout the kernel answers a dump with) decode to attachmentElements()', () => {
    const decoded = fixture('elements-batch.hex').slice(1, -1).map((m) => decodeSetElements(Buffer.from(m.payload, 'hex')));
    assert.ok(decoded.every((d) => d.family === NFPROTO_BRIDGE && d.table === ruleset.table));
    const read = decoded.flatMap((d) => d.keys.map((key) => ({ set: d.set, key: keyParts(key, ruleset.sets.find((s) => s.name === d.set)!) })));
    assert.deepEqual(byId(read), byId(elements));
  });

  test('our encoder\'s messages decode back to the same elements, port names without their NUL padding', () => {
    const read = elementMessages(ruleset, 'add', elements).flatMap((m) => {
      const d = decodeSetElements(Uint8Array.from([...nfgenmsg(m.family), ...encodeMessage(0, 0, 0, new Uint8Array(), m.attrs).subarray(16)]));
      return d.keys.map((key) => ({ set: d.set, key: keyParts(key, ruleset.sets.find((s) => s.name === d.set)!) }));
    });
    assert.deepEqual(read, ruleset.sets.flatMap((s) => elements.filter((e) => e.set === s.name)));
  });

  test('the dump request: GETSETELEM with NLM_F_DUMP, naming the table and the set', () => {
    const request = getSetElements(NFPROTO_BRIDGE, ruleset.table, SET.mac);
    assert.deepEqual([request.type, request.flags, request.what], [NFT_MSG_GETSETELEM, NLM_F.DUMP, 'list set bridge bridgeway port_mac']);
    const attrs = parseAttrs(encodeMessage(0, 0, 0, new Uint8Array(), request.attrs), 16);
    assert.deepEqual([readString(attrs.get(1)), readString(attrs.get(2))], [ruleset.table, SET.mac]);
  });

  test('a key of the wrong length for its set is an error, not a wrong element', () => {
    assert.throws(() => keyParts(new Uint8Array(20), ruleset.sets.find((s) => s.name === SET.mac)!), /port_mac: a key of 20 bytes, expected 24/);
  });

  test('a malformed attribute is an error', () => {
    assert.throws(() => decodeSetElements(Uint8Array.of(7, 0, 0, 0, 40, 0, 1, 0)), /malformed attribute/);
  });
});
