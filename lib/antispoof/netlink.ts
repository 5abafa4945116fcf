// The anti-spoofing ruleset (ruleset.ts) spelled as nf_tables messages, and the three
// transactions the plugin needs: make the table, add an attachment's elements, delete them.
// Each match becomes the expressions nft generates for it (`nft --debug=netlink`), implicit
// dependencies included (e.g. `ip saddr` first checks `meta protocol ip`), so the kernel holds
// the same rules whether this module or `nft -f` (nft-text.ts) made them and `nft list` prints
// them the same way (test/integration/antispoof-nftables.test.ts compares the two).
import { addressBytes } from '../netlink/rtnl.ts';
import {
  cmp, cmpBe16, concatType, encodeUdata, keyRegister, lookup, meta, newChain, newRule, newSet, newTable, NF_BR_PRE_ROUTING, NFPROTO_BRIDGE,
  NFT_CMP, NFT_DATATYPE, NFT_META, NFT_PAYLOAD, payload, setElements, verdict, VERDICT, type Expression, type NftMessage, type SetKey, type Udata,
} from '../netlink/nft-codec.ts';
import { dumpRequest, NftBatchError, sendBatch } from '../netlink/nftables.ts';
import { ERRNO, NetlinkError } from '../netlink/errors.ts';
import type { BatchTransport, Transport } from '../netlink/transport.ts';
import { decodeSetElements, getSetElements } from '../netlink/nft-codec.ts';
import { parseMac } from '../mac.ts';
import { renderElements, renderRule } from './nft-text.ts';
import type { Element, ElementSets, Field, KeyPart, Match, Rule, Ruleset, SetSpec, Verdict } from './ruleset.ts';

/** Ethertypes (include/uapi/linux/if_ether.h) and IP protocols (include/uapi/linux/in.h). */
const ETH_P = { ip: 0x0800, arp: 0x0806, ip6: 0x86dd } as const;
const IPPROTO = { icmp: 1, udp: 17, icmpv6: 58 } as const;

// nftables' own enums for the set userdata (src/expression.c, src/meta.c, src/payload.c,
// include/expression.h enum expr_types, include/proto.h enum proto_bases).
const UDATA_SET = { KEYBYTEORDER: 0, KEY_TYPEOF: 3 } as const;
const BYTEORDER = { INVALID: 0, HOST_ENDIAN: 1 } as const;
const UDATA_TYPEOF = { EXPR: 0, DATA: 1 } as const;
const UDATA_CONCAT_SUB = { TYPE: 0, DATA: 1 } as const;
const EXPR = { PAYLOAD: 7, META: 9, CONCAT: 13 } as const;
const PROTO_BASE_TRANSPORT_HDR = 3;

interface FieldCode {
  /** Bytes of the value; the key reserves them rounded up to 4. */
  length: number;
  datatype: number;
  load(dreg: number): Expression;
  /** How a typeof declaration describes the field, for fields with no type name (raw payload). */
  typeof?: Udata[];
  /** The protocol the field needs the frame to be, and how nft checks it. */
  needs?: 'meta protocol ip' | 'meta protocol ip6' | 'ether type arp';
  /**
   * nft's byte order of the field's type (include/expression.h enum byteorder), which it records
   * for a set keyed by this field alone. Given only for the fields we key a set by alone.
   */
  byteorder?: number;
}

const FIELDS: Record<Field, FieldCode> = {
  'iifname': { length: 16, datatype: NFT_DATATYPE.IFNAME, load: (r) => meta(NFT_META.IIFNAME, r), byteorder: BYTEORDER.HOST_ENDIAN },
  'ether saddr': { length: 6, datatype: NFT_DATATYPE.ETHERADDR, load: (r) => payload(NFT_PAYLOAD.LL_HEADER, 6, 6, r) },
  // struct arphdr (8 bytes), then sender hardware address and sender IPv4 address.
  'arp saddr ether': { length: 6, datatype: NFT_DATATYPE.ETHERADDR, load: (r) => payload(NFT_PAYLOAD.NETWORK_HEADER, 8, 6, r), needs: 'ether type arp' },
  'arp saddr ip': { length: 4, datatype: NFT_DATATYPE.IPADDR, load: (r) => payload(NFT_PAYLOAD.NETWORK_HEADER, 14, 4, r), needs: 'ether type arp' },
  'ip saddr': { length: 4, datatype: NFT_DATATYPE.IPADDR, load: (r) => payload(NFT_PAYLOAD.NETWORK_HEADER, 12, 4, r), needs: 'meta protocol ip' },
  'ip6 saddr': { length: 16, datatype: NFT_DATATYPE.IP6ADDR, load: (r) => payload(NFT_PAYLOAD.NETWORK_HEADER, 8, 16, r), needs: 'meta protocol ip6' },
  // @th,64,128: after type, code, checksum and 4 reserved bytes. A raw field: nft adds no
  // dependency, the rule's `icmpv6 type` match is what makes it an ND target.
  'nd target': {
    length: 16,
    datatype: NFT_DATATYPE.INTEGER,
    load: (r) => payload(NFT_PAYLOAD.TRANSPORT_HEADER, 8, 16, r),
    typeof: [{ type: 0, value: 0 }, { type: 1, value: 0 }, { type: 2, value: PROTO_BASE_TRANSPORT_HDR }, { type: 3, value: 64 }, { type: 4, value: 128 }],
  },
};
/** How a `typeof` declaration describes `iifname` (NFTNL_UDATA_META_KEY). */
const META_IIFNAME_TYPEOF: Udata[] = [{ type: 0, value: NFT_META.IIFNAME }];

const round4 = (n: number) => (n + 3) & ~3;

/** A set's key: its (concatenated) type, its length, and the userdata nft writes for it. */
export function setKey(set: SetSpec): SetKey {
  const fields = set.key.map((f) => FIELDS[f]);
  if (fields.length === 1) {
    // `type ifname`: no concatenation, so nft records the type's byte order and nothing else
    // (test/fixtures/nft/table-batch.hex, guarded_ports).
    const [field] = fields;
    if (field!.byteorder === undefined || field!.typeof) throw new Error(`set ${set.name}: a key of ${set.key[0]} alone is not supported`);
    return { type: field!.datatype, length: round4(field!.length), userdata: encodeUdata([{ type: UDATA_SET.KEYBYTEORDER, value: field!.byteorder }]) };
  }
  // `type a . b` sets: nft records a concatenation and no parts (it prints the key type);
  // `typeof` sets: each part's expression, which is how nft prints `@th,64,128` back.
  const typeofParts = fields.some((f) => f.typeof)
    ? set.key.map((f, i): Udata => ({
      type: i,
      value: [
        { type: UDATA_CONCAT_SUB.TYPE, value: f === 'iifname' ? EXPR.META : EXPR.PAYLOAD },
        { type: UDATA_CONCAT_SUB.DATA, value: f === 'iifname' ? META_IIFNAME_TYPEOF : FIELDS[f].typeof! },
      ],
    }))
    : [];
  return {
    type: concatType(fields.map((f) => f.datatype)),
    length: fields.reduce((n, f) => n + round4(f.length), 0),
    userdata: encodeUdata([
      { type: UDATA_SET.KEYBYTEORDER, value: BYTEORDER.INVALID }, // a concatenation's, as nft writes it
      { type: UDATA_SET.KEY_TYPEOF, value: [{ type: UDATA_TYPEOF.EXPR, value: EXPR.CONCAT }, { type: UDATA_TYPEOF.DATA, value: typeofParts }] },
    ]),
  };
}

/** The expressions of one rule, with nft's dependencies: a protocol is checked once per rule. */
function ruleExpressions(rule: Rule, setIds: ReadonlyMap<string, number> = new Map()): Expression[] {
  const out: Expression[] = [];
  let network = false; // a network protocol is established for the rest of the rule
  const etherType = (type: number) => out.push(payload(NFT_PAYLOAD.LL_HEADER, 12, 2), cmpBe16(NFT_CMP.EQ, type));
  const metaProtocol = (type: number) => out.push(meta(NFT_META.PROTOCOL), cmpBe16(NFT_CMP.EQ, type));
  const l4proto = (proto: number) => out.push(meta(NFT_META.L4PROTO), cmp(NFT_CMP.EQ, Uint8Array.of(proto)));
  const transportByte = (value: number) => out.push(payload(NFT_PAYLOAD.TRANSPORT_HEADER, 0, 1), cmp(NFT_CMP.EQ, Uint8Array.of(value)));
  for (const m of rule.matches) {
    switch (m.match) {
      case 'ether-type':
        etherType(ETH_P[m.etherType]);
        network = true;
        break;
      case 'icmp-type':
      case 'icmpv6-type': {
        const v6 = m.match === 'icmpv6-type';
        if (!network) etherType(v6 ? ETH_P.ip6 : ETH_P.ip);
        network = true;
        l4proto(v6 ? IPPROTO.icmpv6 : IPPROTO.icmp);
        transportByte(m.type);
        break;
      }
      case 'udp-sport':
        l4proto(IPPROTO.udp);
        out.push(payload(NFT_PAYLOAD.TRANSPORT_HEADER, 0, 2), cmpBe16(NFT_CMP.EQ, m.port));
        break;
      case 'ip6-saddr-unspecified':
        if (!network) metaProtocol(ETH_P.ip6);
        network = true;
        out.push(payload(NFT_PAYLOAD.NETWORK_HEADER, 8, 16), cmp(NFT_CMP.EQ, new Uint8Array(16)));
        break;
      case 'set':
        network = lookupExpressions(out, m, network, setIds, { etherType, metaProtocol });
        break;
    }
  }
  out.push(verdictExpression(rule.verdict));
  return out;
}

function lookupExpressions(
  out: Expression[], m: Extract<Match, { match: 'set' }>, network: boolean, setIds: ReadonlyMap<string, number>,
  deps: { etherType(type: number): void; metaProtocol(type: number): void },
): boolean {
  const needs = m.key.map((f) => FIELDS[f].needs).find(Boolean);
  if (needs && !network) {
    if (needs === 'ether type arp') deps.etherType(ETH_P.arp);
    else deps.metaProtocol(needs === 'meta protocol ip' ? ETH_P.ip : ETH_P.ip6);
    network = true;
  }
  let unit = 0;
  for (const field of m.key) {
    out.push(FIELDS[field].load(keyRegister(unit)));
    unit += round4(FIELDS[field].length) / 4;
  }
  const setId = setIds.get(m.set);
  out.push(lookup(m.set, { ...(setId !== undefined ? { setId } : {}), inverted: !m.present }));
  return network;
}

function verdictExpression(v: Verdict): Expression {
  return v.verdict === 'goto' ? verdict(VERDICT.goto, v.chain) : verdict(VERDICT[v.verdict]);
}

/**
 * The transaction that makes the whole table: the table first, with NLM_F_EXCL, then every
 * chain, every set, every rule (nft's order: a rule's goto and lookup name objects made before
 * it). If the table exists the kernel refuses the first message and the whole batch with it, so
 * running this twice, or twice at once, leaves exactly one table with its rules once: the chains
 * and sets alone would be idempotent without EXCL, but rules are appended, never merged.
 */
export function installMessages(ruleset: Ruleset): NftMessage[] {
  const family = NFPROTO_BRIDGE;
  const setIds = new Map(ruleset.sets.map((set, i) => [set.name, i + 1]));
  return [
    newTable(family, ruleset.table, { exclusive: true }),
    ...ruleset.chains.map((chain) => newChain(family, ruleset.table, chain.name, chain.hook
      ? { hooknum: NF_BR_PRE_ROUTING, priority: chain.hook.priority, type: 'filter', policy: VERDICT[chain.hook.policy] }
      : undefined)),
    ...ruleset.sets.map((set) => newSet(family, ruleset.table, set.name, setKey(set), setIds.get(set.name)!)),
    ...ruleset.chains.flatMap((chain) => chain.rules.map((rule) => newRule(family, ruleset.table, chain.name, ruleExpressions(rule, setIds), renderRule(rule)))),
  ];
}

const utf8 = new TextEncoder();

/**
 * A key's bytes: each part in network order, padded to 4 bytes (an ifname to IFNAMSIZ, 16).
 * Written straight into the key: ADD runs this once per element, in a fresh process.
 */
function keyBytes(parts: readonly KeyPart[]): Uint8Array {
  let size = 0;
  for (const part of parts) size += 'ifname' in part ? 16 : 'mac' in part ? 8 : part.ip.family === 4 ? 4 : 16;
  const out = new Uint8Array(size);
  let at = 0;
  for (const part of parts) {
    if ('ifname' in part) {
      // At most 15 bytes and the NUL: encodeInto stops at the first character that does not fit.
      if (utf8.encodeInto(part.ifname, out.subarray(at, at + 15)).read < part.ifname.length) throw new Error(`interface name too long for nftables: ${part.ifname}`);
      at += 16;
    } else if ('mac' in part) {
      out.set(parseMac(part.mac), at);
      at += 8;
    } else {
      const bytes = addressBytes(part.ip);
      out.set(bytes, at);
      at += bytes.length;
    }
  }
  return out;
}

/**
 * One message per set that has elements, in the sets' order. Only the table's name and sets are
 * read, never its rules; the nft spelling of the elements (a message's `what`) is rendered only
 * when the kernel refuses the message and an error names it.
 */
export function elementMessages(sets: ElementSets, op: 'add' | 'delete', elements: readonly Element[]): NftMessage[] {
  const messages: NftMessage[] = [];
  for (const set of sets.sets) {
    const mine: Element[] = [];
    const keys: Uint8Array[] = [];
    for (const element of elements) {
      if (element.set !== set.name) continue;
      mine.push(element);
      keys.push(keyBytes(element.key));
    }
    if (keys.length === 0) continue;
    const describe = () => renderElements(sets, op, mine).replace(/^.*\{ (.*) \}\n$/s, '$1');
    messages.push(setElements(op, NFPROTO_BRIDGE, sets.table, set.name, keys, describe));
  }
  return messages;
}

/** Makes the table unless it exists; true when this call made it. */
export function installTable(transport: BatchTransport, ruleset: Ruleset): boolean {
  try {
    sendBatch(transport, `create table bridge ${ruleset.table}`, installMessages(ruleset));
    return true;
  } catch (error) {
    if (error instanceof NftBatchError && error.errno === ERRNO.EEXIST && error.failures[0]!.what.startsWith('create table')) return false;
    throw error;
  }
}

/** Adds an attachment's elements in one transaction (elements already there are no error). */
export function addElements(transport: BatchTransport, ruleset: ElementSets, elements: readonly Element[]): void {
  sendBatch(transport, 'add elements', elementMessages(ruleset, 'add', elements));
}

/**
 * Deletes an attachment's elements; those already gone are no error (DEL is idempotent). One
 * transaction; when the kernel refuses it because some element is missing (ENOENT fails the
 * whole batch), again element by element, each missing one tolerated. NFT_MSG_DESTROYSETELEM
 * would do this in one go, but only from Linux 6.3.
 */
export function deleteElements(transport: BatchTransport, ruleset: ElementSets, elements: readonly Element[]): void {
  try {
    sendBatch(transport, 'delete elements', elementMessages(ruleset, 'delete', elements));
    return;
  } catch (error) {
    if (!(error instanceof NftBatchError && error.failures.every((f) => f.errno === ERRNO.ENOENT))) throw error;
  }
  for (const element of elements) {
    try {
      sendBatch(transport, 'delete element', elementMessages(ruleset, 'delete', [element]));
    } catch (error) {
      if (!(error instanceof NftBatchError && error.errno === ERRNO.ENOENT)) throw error;
    }
  }
}

/**
 * Every element of the table's sets, read back from the kernel (GETSETELEM dumps, one per set),
 * in the ruleset's terms: GC and CHECK compare them with attachmentElements(). A missing table
 * or set holds no elements (ENOENT); a kernel without nf_tables has none either.
 */
export function listElements(transport: Transport, ruleset: Ruleset): Element[] {
  const elements: Element[] = [];
  for (const set of ruleset.sets) {
    let answers: Uint8Array[];
    try {
      answers = dumpRequest(transport, getSetElements(NFPROTO_BRIDGE, ruleset.table, set.name));
    } catch (error) {
      if (error instanceof NetlinkError && error.errno === ERRNO.ENOENT) continue;
      throw error;
    }
    for (const answer of answers) {
      const decoded = decodeSetElements(answer);
      if (decoded.table !== ruleset.table || decoded.set !== set.name) continue;
      for (const key of decoded.keys) elements.push({ set: set.name, key: keyParts(key, set) });
    }
  }
  return elements;
}

/** keyBytes() read back: each field from its 4-byte-aligned place (an ifname from its 16, up to the NUL). */
export function keyParts(bytes: Uint8Array, set: SetSpec): KeyPart[] {
  const expected = set.key.reduce((n, f) => n + round4(FIELDS[f].length), 0);
  if (bytes.length !== expected) throw new Error(`set ${set.name}: a key of ${bytes.length} bytes, expected ${expected}`);
  let at = 0;
  return set.key.map((field): KeyPart => {
    const { length } = FIELDS[field];
    const value = bytes.subarray(at, at + length);
    at += round4(length);
    if (field === 'iifname') {
      const end = value.indexOf(0);
      return { ifname: new TextDecoder().decode(end === -1 ? value : value.subarray(0, end)) };
    }
    if (length === 6) return { mac: [...value].map((b) => b.toString(16).padStart(2, '0')).join(':') };
    const number = value.reduce((n, b) => (n << 8n) | BigInt(b), 0n);
    return { ip: { family: length === 4 ? 4 : 6, value: number } };
  });
}
