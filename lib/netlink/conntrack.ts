// ctnetlink (include/uapi/linux/netfilter/nfnetlink_conntrack.h): the conntrack table's entries,
// dumped and deleted over nfnetlink from the caller's own process (no `conntrack` tool). What
// the agent needs to cut the connections a NetworkPolicy change newly denies: each entry's
// original tuple (who opened it, to where) and reply tuple (where it really went, after DNAT),
// and a delete by the original tuple. Pure encoding and decoding, plus the two requests over a
// Transport (socket.ts; a recorder in unit tests).
import type { IpAddress } from '../cidr.ts';
import { bytes, encodeMessage, NLA_F_NESTED, NLM_F, parseAttrs, type Message } from './codec.ts';
import type { Transport } from './transport.ts';

const NFNL_SUBSYS_CTNETLINK = 1;
const IPCTNL_MSG_CT_GET = 1;
const IPCTNL_MSG_CT_DELETE = 2;
const CTA = { TUPLE_ORIG: 1, TUPLE_REPLY: 2, ZONE: 18 } as const;
const CTA_TUPLE = { IP: 1, PROTO: 2 } as const;
const CTA_IP = { V4_SRC: 1, V4_DST: 2, V6_SRC: 3, V6_DST: 4 } as const;
const CTA_PROTO = { NUM: 1, SRC_PORT: 2, DST_PORT: 3 } as const;

export interface ConntrackTuple {
  src: IpAddress;
  dst: IpAddress;
  /** IP protocol number. */
  proto: number;
  /** Ports, for protocols that have them (TCP, UDP, SCTP, ...); absent for ICMP. */
  sport?: number;
  dport?: number;
}

export interface ConntrackEntry {
  orig: ConntrackTuple;
  reply: ConntrackTuple;
  /** What a delete sends back: the original tuple's attribute as dumped, and the zone's. */
  key: { family: number; orig: Uint8Array; zone?: Uint8Array };
}

const type = (msg: number) => (NFNL_SUBSYS_CTNETLINK << 8) | msg;

/** nfgenmsg: the L3 family (0: every family), version 0, resource id 0. */
const nfgen = (family: number) => Uint8Array.of(family, 0, 0, 0);

export function encodeDump(seq: number): Uint8Array {
  return encodeMessage(type(IPCTNL_MSG_CT_GET), NLM_F.REQUEST | NLM_F.DUMP, seq, nfgen(0));
}

export function encodeDelete(seq: number, entry: ConntrackEntry): Uint8Array {
  const attrs = [bytes(CTA.TUPLE_ORIG | NLA_F_NESTED, entry.key.orig), ...(entry.key.zone ? [bytes(CTA.ZONE, entry.key.zone)] : [])];
  return encodeMessage(type(IPCTNL_MSG_CT_DELETE), NLM_F.REQUEST | NLM_F.ACK, seq, nfgen(entry.key.family), attrs);
}

function address(b: Uint8Array | undefined, family: 4 | 6): IpAddress | undefined {
  if (!b || b.length !== (family === 4 ? 4 : 16)) return undefined;
  let value = 0n;
  for (const byte of b) value = (value << 8n) | BigInt(byte);
  return { family, value };
}

const be16 = (b: Uint8Array | undefined) => (b && b.length >= 2 ? (b[0]! << 8) | b[1]! : undefined);

function parseTuple(raw: Uint8Array): ConntrackTuple | undefined {
  const tuple = parseAttrs(raw);
  const ip = parseAttrs(tuple.get(CTA_TUPLE.IP) ?? new Uint8Array());
  const proto = parseAttrs(tuple.get(CTA_TUPLE.PROTO) ?? new Uint8Array());
  const v4 = ip.has(CTA_IP.V4_SRC);
  const src = address(ip.get(v4 ? CTA_IP.V4_SRC : CTA_IP.V6_SRC), v4 ? 4 : 6);
  const dst = address(ip.get(v4 ? CTA_IP.V4_DST : CTA_IP.V6_DST), v4 ? 4 : 6);
  const num = proto.get(CTA_PROTO.NUM)?.[0];
  if (!src || !dst || num === undefined) return undefined;
  const sport = be16(proto.get(CTA_PROTO.SRC_PORT));
  const dport = be16(proto.get(CTA_PROTO.DST_PORT));
  return { src, dst, proto: num, ...(sport !== undefined && { sport }), ...(dport !== undefined && { dport }) };
}

/** One dumped entry, or undefined for what is not a whole conntrack entry. */
export function parseEntry(message: Message): ConntrackEntry | undefined {
  if (message.type !== type(IPCTNL_MSG_CT_GET) && message.type !== type(0) /* IPCTNL_MSG_CT_NEW, as dumps are typed */) return undefined;
  const family = message.payload[0]!;
  const attrs = parseAttrs(message.payload, 4);
  const origRaw = attrs.get(CTA.TUPLE_ORIG);
  const replyRaw = attrs.get(CTA.TUPLE_REPLY);
  if (!origRaw || !replyRaw) return undefined;
  const orig = parseTuple(origRaw);
  const reply = parseTuple(replyRaw);
  if (!orig || !reply) return undefined;
  const zone = attrs.get(CTA.ZONE);
  return { orig, reply, key: { family, orig: origRaw.slice(), ...(zone && { zone: zone.slice() }) } };
}

/** Every entry of the table, both families. */
export function dumpConntrack(transport: Transport): ConntrackEntry[] {
  const seq = transport.nextSeq();
  return transport.request('conntrack dump', encodeDump(seq), seq, true).map(parseEntry).filter((e): e is ConntrackEntry => e !== undefined);
}

/** Deletes one entry by its original tuple; false when it was already gone (ENOENT). */
export function deleteConntrack(transport: Transport, entry: ConntrackEntry): boolean {
  const seq = transport.nextSeq();
  try {
    transport.request('conntrack delete', encodeDelete(seq, entry), seq, false);
    return true;
  } catch (error) {
    if ((error as { errno?: number }).errno === 2) return false;
    throw error;
  }
}
