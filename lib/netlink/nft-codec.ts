// nf_tables' part of the codec, beside rtnetlink's (rtnl-codec.ts): the nfnetlink header, the
// NFT_MSG_* messages and NFTA_* attributes we send, and the expressions our rules are made of.
// Constants are from include/uapi/linux/netfilter/nfnetlink.h (N), nf_tables.h (T) and
// netfilter.h (F); a message is data (NftMessage) until nftables.ts frames a batch of them.
// Unlike rtnetlink, nf_tables carries its integers in network byte order (nla_put_be32), and
// nests with NLA_F_NESTED set, as libnftnl does: the bytes are what `nft` sends for the same
// ruleset (test/unit/lib/netlink/nft-codec.test.ts), so the kernel, `nft list` and the
// fallback's `nft -f` see one and the same table.
import { NLA_F_NESTED, NLM_F, type Attr } from './codec.ts';

/** (N) The subsystem of nf_tables messages (nlmsg_type = subsystem << 8 | message). */
export const NFNL_SUBSYS_NFTABLES = 10;
/** (N) Batch delimiters: NLMSG_MIN_TYPE and the one after it; their res_id names the subsystem. */
export const NFNL_MSG_BATCH_BEGIN = 16;
export const NFNL_MSG_BATCH_END = 17;
/** (N) struct nfgenmsg's version. */
const NFNETLINK_V0 = 0;
/** (F) NFPROTO_BRIDGE: the family of the table. */
export const NFPROTO_BRIDGE = 7;

/** (T) enum nf_tables_msg_types. */
export const NFT_MSG = {
  NEWTABLE: 0,
  GETTABLE: 1,
  DELTABLE: 2,
  NEWCHAIN: 3,
  NEWRULE: 6,
  NEWSET: 9,
  NEWSETELEM: 12,
  DELSETELEM: 14,
} as const;

/** (T) Attributes, by object. */
export const NFTA_TABLE = { NAME: 1, FLAGS: 2 } as const;
export const NFTA_CHAIN = { TABLE: 1, NAME: 3, HOOK: 4, POLICY: 5, TYPE: 7 } as const;
export const NFTA_HOOK = { HOOKNUM: 1, PRIORITY: 2 } as const;
export const NFTA_RULE = { TABLE: 1, CHAIN: 2, EXPRESSIONS: 4 } as const;
export const NFTA_LIST_ELEM = 1;
export const NFTA_EXPR = { NAME: 1, DATA: 2 } as const;
export const NFTA_SET = { TABLE: 1, NAME: 2, FLAGS: 3, KEY_TYPE: 4, KEY_LEN: 5, ID: 10, USERDATA: 13 } as const;
export const NFTA_SET_ELEM_LIST = { TABLE: 1, SET: 2, ELEMENTS: 3 } as const;
export const NFTA_SET_ELEM_KEY = 1;
export const NFTA_DATA = { VALUE: 1, VERDICT: 2 } as const;
export const NFTA_VERDICT = { CODE: 1, CHAIN: 2 } as const;
const NFTA_META = { DREG: 1, KEY: 2 } as const;
const NFTA_PAYLOAD = { DREG: 1, BASE: 2, OFFSET: 3, LEN: 4 } as const;
const NFTA_CMP = { SREG: 1, OP: 2, DATA: 3 } as const;
const NFTA_LOOKUP = { SET: 1, SREG: 2, SET_ID: 4, FLAGS: 5 } as const;
const NFTA_IMMEDIATE = { DREG: 1, DATA: 2 } as const;

/** (T) enum nft_meta_keys: the keys we load. */
export const NFT_META = { PROTOCOL: 1, IIFNAME: 6, L4PROTO: 16 } as const;
/** (T) enum nft_payload_bases. */
export const NFT_PAYLOAD = { LL_HEADER: 0, NETWORK_HEADER: 1, TRANSPORT_HEADER: 2 } as const;
/** (T) enum nft_cmp_ops. */
export const NFT_CMP = { EQ: 0, NEQ: 1 } as const;
/** (T) enum nft_lookup_flags: match when the key is NOT in the set. */
export const NFT_LOOKUP_F_INV = 1;
/**
 * (T) enum nft_registers: the verdict register, the four 16-byte registers, and the 4-byte view
 * of the same space (NFT_REG32_00 = 8 is NFT_REG_1's first 4 bytes). A concatenated key is
 * loaded into consecutive 4-byte units from NFT_REG_1 on.
 */
export const NFT_REG_VERDICT = 0;
export const NFT_REG_1 = 1;
const NFT_REG32_00 = 8;
/** (F) NF_DROP, NF_ACCEPT; (T) NFT_GOTO. Carried as a signed 32-bit code. */
export const VERDICT = { drop: 0, accept: 1, goto: -4 } as const;
/** (F) NF_BR_PRE_ROUTING in the bridge family (include/uapi/linux/netfilter_bridge.h). */
export const NF_BR_PRE_ROUTING = 0;

/** One message of a batch, as data: what it does (its nft spelling, for errors), and its parts. */
export interface NftMessage {
  what: string;
  type: number;
  /** Besides NLM_F_REQUEST and NLM_F_ACK, which every message of our batches carries. */
  flags: number;
  family: number;
  attrs: readonly Attr[];
}

/** struct nfgenmsg: family, version, res_id (big-endian: the subsystem in batch delimiters). */
export function nfgenmsg(family: number, resId = 0): Uint8Array {
  return Uint8Array.of(family, NFNETLINK_V0, resId >> 8, resId & 0xff);
}

const be32 = (type: number, n: number): Attr => {
  const value = new Uint8Array(4);
  new DataView(value.buffer).setInt32(0, n | 0, false);
  return { type, value };
};
const be16Bytes = (n: number) => Uint8Array.of(n >> 8, n & 0xff);
/** A nested attribute, flagged as libnftnl flags it. */
const nested = (type: number, attrs: readonly Attr[]): Attr => ({ type: type | NLA_F_NESTED, value: attrs });
const encoder = new TextEncoder();
/** A NUL-terminated string. */
const nstr = (type: number, s: string): Attr => {
  const bytes = encoder.encode(s);
  const value = new Uint8Array(bytes.length + 1);
  value.set(bytes);
  return { type, value };
};

// Expressions: each is {name, data} in an NFTA_LIST_ELEM of NFTA_RULE_EXPRESSIONS.
export type Expression = Attr;
const expression = (name: string, data: readonly Attr[]): Expression => nested(NFTA_LIST_ELEM, [nstr(NFTA_EXPR.NAME, name), nested(NFTA_EXPR.DATA, data)]);

/** The register of the 4-byte unit `unit` of a key: a 16-byte register when aligned to one, as nft does. */
export function keyRegister(unit: number): number {
  return unit % 4 === 0 ? NFT_REG_1 + unit / 4 : NFT_REG32_00 + unit;
}

export function meta(key: number, dreg = NFT_REG_1): Expression {
  return expression('meta', [be32(NFTA_META.KEY, key), be32(NFTA_META.DREG, dreg)]);
}

export function payload(base: number, offset: number, length: number, dreg = NFT_REG_1): Expression {
  return expression('payload', [be32(NFTA_PAYLOAD.DREG, dreg), be32(NFTA_PAYLOAD.BASE, base), be32(NFTA_PAYLOAD.OFFSET, offset), be32(NFTA_PAYLOAD.LEN, length)]);
}

export function cmp(op: number, data: Uint8Array, sreg = NFT_REG_1): Expression {
  return expression('cmp', [be32(NFTA_CMP.SREG, sreg), be32(NFTA_CMP.OP, op), nested(NFTA_CMP.DATA, [{ type: NFTA_DATA.VALUE, value: data }])]);
}
export const cmpBe16 = (op: number, n: number) => cmp(op, be16Bytes(n));

/** Is the key in registers from NFT_REG_1 on in the set (or, `inverted`, not in it)? */
export function lookup(set: string, options: { setId?: number; inverted?: boolean } = {}): Expression {
  return expression('lookup', [
    be32(NFTA_LOOKUP.SREG, NFT_REG_1),
    nstr(NFTA_LOOKUP.SET, set),
    ...(options.setId !== undefined ? [be32(NFTA_LOOKUP.SET_ID, options.setId)] : []),
    ...(options.inverted ? [be32(NFTA_LOOKUP.FLAGS, NFT_LOOKUP_F_INV)] : []),
  ]);
}

/** A verdict: drop, accept, or goto a chain of the same table. */
export function verdict(code: number, chain?: string): Expression {
  const body: Attr[] = [be32(NFTA_VERDICT.CODE, code), ...(chain !== undefined ? [nstr(NFTA_VERDICT.CHAIN, chain)] : [])];
  return expression('immediate', [be32(NFTA_IMMEDIATE.DREG, NFT_REG_VERDICT), nested(NFTA_IMMEDIATE.DATA, [nested(NFTA_DATA.VERDICT, body)])]);
}

// Messages.

export function newTable(family: number, table: string, options: { exclusive: boolean }): NftMessage {
  return {
    what: `${options.exclusive ? 'create' : 'add'} table ${familyName(family)} ${table}`,
    type: NFT_MSG.NEWTABLE,
    flags: NLM_F.CREATE | (options.exclusive ? NLM_F.EXCL : 0),
    family,
    attrs: [nstr(NFTA_TABLE.NAME, table), be32(NFTA_TABLE.FLAGS, 0)],
  };
}

export interface ChainHook {
  hooknum: number;
  priority: number;
  /** The chain's type, "filter". */
  type: string;
  policy: number;
}

export function newChain(family: number, table: string, chain: string, hook?: ChainHook): NftMessage {
  const attrs: Attr[] = [nstr(NFTA_CHAIN.TABLE, table), nstr(NFTA_CHAIN.NAME, chain)];
  if (hook) {
    attrs.push(nstr(NFTA_CHAIN.TYPE, hook.type), be32(NFTA_CHAIN.POLICY, hook.policy));
    attrs.push(nested(NFTA_CHAIN.HOOK, [be32(NFTA_HOOK.HOOKNUM, hook.hooknum), be32(NFTA_HOOK.PRIORITY, hook.priority)]));
  }
  return { what: `add chain ${familyName(family)} ${table} ${chain}`, type: NFT_MSG.NEWCHAIN, flags: NLM_F.CREATE, family, attrs };
}

export interface SetKey {
  /** nft's datatype number of the key (a concatenation's types folded, see concatType). */
  type: number;
  /** Bytes: each part rounded up to 4. */
  length: number;
  /** nft's own description of the set (NFTA_SET_USERDATA), which `nft list` reads back. */
  userdata: Uint8Array;
}

export function newSet(family: number, table: string, set: string, key: SetKey, id: number): NftMessage {
  return {
    what: `add set ${familyName(family)} ${table} ${set}`,
    type: NFT_MSG.NEWSET,
    flags: NLM_F.CREATE,
    family,
    attrs: [
      nstr(NFTA_SET.TABLE, table),
      nstr(NFTA_SET.NAME, set),
      be32(NFTA_SET.FLAGS, 0),
      be32(NFTA_SET.KEY_TYPE, key.type),
      be32(NFTA_SET.KEY_LEN, key.length),
      be32(NFTA_SET.ID, id),
      { type: NFTA_SET.USERDATA, value: key.userdata },
    ],
  };
}

export function newRule(family: number, table: string, chain: string, expressions: readonly Expression[], what: string): NftMessage {
  return {
    what: `add rule ${familyName(family)} ${table} ${chain} ${what}`,
    type: NFT_MSG.NEWRULE,
    flags: NLM_F.CREATE | NLM_F.APPEND,
    family,
    attrs: [nstr(NFTA_RULE.TABLE, table), nstr(NFTA_RULE.CHAIN, chain), nested(NFTA_RULE.EXPRESSIONS, expressions)],
  };
}

/**
 * Adds (NLM_F_CREATE without EXCL: an element already there is no error) or deletes (a missing
 * one is ENOENT, failing the batch) elements, each key already in its bytes. `what` spells the
 * elements in nft syntax; a function is called only when `what` is read (an error names the
 * message), so the hot path never renders it.
 */
export function setElements(op: 'add' | 'delete', family: number, table: string, set: string, keys: readonly Uint8Array[], what: string | (() => string)): NftMessage {
  return {
    get what() {
      return `${op} element ${familyName(family)} ${table} ${set} { ${typeof what === 'string' ? what : what()} }`;
    },
    type: op === 'add' ? NFT_MSG.NEWSETELEM : NFT_MSG.DELSETELEM,
    flags: op === 'add' ? NLM_F.CREATE : 0,
    family,
    attrs: [nstr(NFTA_SET_ELEM_LIST.TABLE, table), nstr(NFTA_SET_ELEM_LIST.SET, set), { type: NFTA_SET_ELEM_LIST.ELEMENTS | NLA_F_NESTED, value: elementList(keys) }],
  };
}

/**
 * The body of NFTA_SET_ELEM_LIST_ELEMENTS, written directly rather than as nested Attr values:
 * per key, NFTA_LIST_ELEM+i { NFTA_SET_ELEM_KEY { NFTA_DATA_VALUE key } }, each nest flagged
 * NLA_F_NESTED and padded to 4 (the same bytes codec.ts would write for the nested form; ADD
 * encodes this once per fresh process, where every helper's first run costs). libnftnl numbers
 * the elements' nests 1, 2, 3… where rules use NFTA_LIST_ELEM (1) for each; the kernel reads
 * neither (nla_for_each_nested), we number them as nft does.
 */
function elementList(keys: readonly Uint8Array[]): Uint8Array {
  let size = 0;
  for (const key of keys) size += 12 + ((key.length + 3) & ~3);
  const out = new Uint8Array(size);
  let at = 0;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    const padded = (key.length + 3) & ~3;
    at = attrHeader(out, at, 12 + padded, (NFTA_LIST_ELEM + i) | NLA_F_NESTED);
    at = attrHeader(out, at, 8 + padded, NFTA_SET_ELEM_KEY | NLA_F_NESTED);
    at = attrHeader(out, at, 4 + key.length, NFTA_DATA.VALUE);
    out.set(key, at);
    at += padded;
  }
  return out;
}

/** A netlink attribute header (length and type, host order, little-endian) at `at`; where its value starts. */
function attrHeader(out: Uint8Array, at: number, length: number, type: number): number {
  out[at] = length & 0xff;
  out[at + 1] = length >> 8;
  out[at + 2] = type & 0xff;
  out[at + 3] = type >> 8;
  return at + 4;
}

function familyName(family: number): string {
  return family === NFPROTO_BRIDGE ? 'bridge' : String(family);
}

// nft's own vocabulary, which the kernel stores without reading: set key datatypes and the
// set's userdata. `nft list` prints a set from them, so they must be what nft would write.

/** nftables include/datatype.h, enum datatypes: the types of our key parts. */
export const NFT_DATATYPE = { INTEGER: 4, IPADDR: 7, IP6ADDR: 8, ETHERADDR: 9, IFNAME: 41 } as const;
/** nftables include/datatype.h TYPE_BITS: a concatenation's type is its parts' types, 6 bits each. */
const TYPE_BITS = 6;
export function concatType(types: readonly number[]): number {
  return types.reduce((n, t) => n * (1 << TYPE_BITS) + t, 0);
}

/**
 * libnftnl's userdata: TLVs of a 1-byte type and a 1-byte length, values in host order
 * (libnftnl include/udata.h). Nested TLVs are just a TLV whose value is TLVs.
 */
export interface Udata {
  type: number;
  value: number | readonly Udata[];
}
export function encodeUdata(items: readonly Udata[]): Uint8Array {
  const parts: number[] = [];
  for (const item of items) {
    let value: Uint8Array;
    if (typeof item.value === 'number') {
      value = new Uint8Array(4);
      new DataView(value.buffer).setUint32(0, item.value, true);
    } else {
      value = encodeUdata(item.value);
    }
    parts.push(item.type, value.length, ...value);
  }
  return Uint8Array.from(parts);
}

// Reading set elements back (GC and CHECK compare what the kernel holds with what they expect).
// Decoders live here, beside the encoders, and share their constants; they are kept apart at the
// end of the file so the encoders above stay as they are.

/** (T) NFT_MSG_GETSETELEM: with NLM_F_DUMP, the kernel answers NEWSETELEM messages, then NLMSG_DONE. */
export const NFT_MSG_GETSETELEM = 13;

/** The dump request for one set's elements: its table and name, nothing else (nf_tables_getsetelem). */
export function getSetElements(family: number, table: string, set: string): NftMessage {
  return {
    what: `list set ${familyName(family)} ${table} ${set}`,
    type: NFT_MSG_GETSETELEM,
    flags: NLM_F.DUMP,
    family,
    attrs: [nstr(NFTA_SET_ELEM_LIST.TABLE, table), nstr(NFTA_SET_ELEM_LIST.SET, set)],
  };
}

/** One NEWSETELEM message of a dump: the set it is about and each element's key bytes. */
export interface DecodedSetElements {
  family: number;
  table: string;
  set: string;
  keys: Uint8Array[];
}

/**
 * The payload of a NEWSETELEM answer (nfgenmsg, then attributes). Elements are a list whose
 * entries may share a type (the kernel numbers them all NFTA_LIST_ELEM), so they are read in
 * order rather than by type; an element without a key value (a map's or an interval's end
 * marker, which our sets never hold) is skipped.
 */
export function decodeSetElements(payload: Uint8Array): DecodedSetElements {
  const family = payload[0] ?? 0;
  const attrs = attrList(payload, 4);
  const text = (type: number) => {
    const value = attrs.find((a) => a.type === type)?.value;
    return value ? new TextDecoder().decode(value.subarray(0, value.indexOf(0) === -1 ? value.length : value.indexOf(0))) : '';
  };
  const keys: Uint8Array[] = [];
  const list = attrs.find((a) => a.type === NFTA_SET_ELEM_LIST.ELEMENTS);
  for (const element of list ? attrList(list.value) : []) {
    const key = attrList(element.value).find((a) => a.type === NFTA_SET_ELEM_KEY);
    const value = key && attrList(key.value).find((a) => a.type === NFTA_DATA.VALUE);
    if (value) keys.push(value.value.slice());
  }
  return { family, table: text(NFTA_SET_ELEM_LIST.TABLE), set: text(NFTA_SET_ELEM_LIST.SET), keys };
}

/** Attributes in order, repeated types kept, NLA_F_NESTED and NLA_F_NET_BYTEORDER stripped from the type. */
function attrList(data: Uint8Array, offset = 0): { type: number; value: Uint8Array }[] {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const out: { type: number; value: Uint8Array }[] = [];
  for (let at = offset; at + 4 <= data.length; ) {
    const length = view.getUint16(at, true);
    if (length < 4 || at + length > data.length) throw new Error(`nf_tables: malformed attribute length ${length} at byte ${at}`);
    out.push({ type: view.getUint16(at + 2, true) & 0x3fff, value: data.subarray(at + 4, at + length) });
    at += (length + 3) & ~3;
  }
  return out;
}
