// rtnetlink's part of the codec (include/uapi/linux/rtnetlink.h, if_link.h, if_addr.h): the
// family headers of link, address and route messages, the attributes we send, and the decoding
// of the kernel's answers into the kernel layer's types. The generic framing is codec.ts.
import type { KernelLink, MacvlanMode } from '../kernel/link.ts';
import { formatMac } from '../mac.ts';
import { AF_INET, parseAttrs, readString, readU32 } from './codec.ts';

export const RTM = {
  NEWLINK: 16,
  DELLINK: 17,
  GETLINK: 18,
  SETLINK: 19,
  NEWADDR: 20,
  DELADDR: 21,
  GETADDR: 22,
  NEWROUTE: 24,
  DELROUTE: 25,
  GETROUTE: 26,
} as const;

export const IFLA = {
  ADDRESS: 1,
  IFNAME: 3,
  MTU: 4,
  LINK: 5,
  MASTER: 10,
  OPERSTATE: 16,
  LINKINFO: 18,
  IFALIAS: 20,
  NET_NS_FD: 28,
  EXT_MASK: 29,
} as const;
export const IFLA_INFO = { KIND: 1, DATA: 2, SLAVE_KIND: 4, SLAVE_DATA: 5 } as const;
export const VETH_INFO_PEER = 1;
export const IFLA_MACVLAN_MODE = 1;
/** enum macvlan_mode (if_link.h): one bit each. */
export const MACVLAN_MODES: Record<MacvlanMode, number> = { private: 1, vepa: 2, bridge: 4, passthru: 8 };
export const IFLA_BRPORT_MODE = 4; // hairpin
/** IFLA_BR_* (a bridge's own options, in IFLA_INFO_DATA). */
export const IFLA_BR = { FORWARD_DELAY: 1, STP_STATE: 5 } as const;
/** IFLA_EXT_MASK: leave the per-link statistics out of dumps (most of their bytes). */
export const RTEXT_FILTER_SKIP_STATS = 1 << 3;

export const IFF_UP = 0x1;
const IFF_NAMES: [number, string][] = [
  [0x1, 'UP'],
  [0x2, 'BROADCAST'],
  [0x8, 'LOOPBACK'],
  [0x80, 'NOARP'],
  [0x1000, 'MULTICAST'],
  [0x10000, 'LOWER_UP'],
];
/** IFLA_OPERSTATE values (RFC 2863), by name. */
const OPERSTATES = ['UNKNOWN', 'NOTPRESENT', 'DOWN', 'LOWERLAYERDOWN', 'TESTING', 'DORMANT', 'UP'];

export const IFA = { ADDRESS: 1, LOCAL: 2, BROADCAST: 4, CACHEINFO: 6, FLAGS: 8 } as const;
export const IFA_F_NODAD = 0x02;
export const IFA_F_NOPREFIXROUTE = 0x200;
/** IFA_F_* by iproute2's names (0x01 is "secondary" for IPv4 and "temporary" for IPv6). */
const IFA_FLAG_NAMES: [number, string][] = [
  [0x02, 'nodad'], [0x04, 'optimistic'], [0x08, 'dadfailed'], [0x10, 'home'], [0x20, 'deprecated'], [0x40, 'tentative'],
  [0x80, 'permanent'], [0x100, 'mngtmpaddr'], [0x200, 'noprefixroute'], [0x400, 'autojoin'], [0x800, 'stable-privacy'],
];
/** ifa_cacheinfo's "forever". */
export const INFINITY_LIFE_TIME = 0xffffffff;
export const RTA = { DST: 1, OIF: 4, GATEWAY: 5, PRIORITY: 6, PREFSRC: 7, TABLE: 15 } as const;
/** rtm_flags: the gateway is on the link (`onlink`). */
export const RTNH_F_ONLINK = 0x4;
export const RT_TABLE_MAIN = 254;
export const RTPROT_BOOT = 3; // what `ip route add` marks its routes with
export const RT_SCOPE = { UNIVERSE: 0, LINK: 253, HOST: 254, NOWHERE: 255 } as const;
export const RTN_UNICAST = 1;

/** The family header of a link message (struct ifinfomsg, 16 bytes). */
export function ifinfomsg(fields: { index?: number; flags?: number; change?: number } = {}): Uint8Array {
  const out = new Uint8Array(16);
  const view = new DataView(out.buffer);
  view.setInt32(4, fields.index ?? 0, true);
  view.setUint32(8, fields.flags ?? 0, true);
  view.setUint32(12, fields.change ?? 0, true);
  return out;
}

/** struct ifaddrmsg, 8 bytes. */
export function ifaddrmsg(fields: { family: number; prefixLength?: number; flags?: number; scope?: number; index?: number }): Uint8Array {
  const out = Uint8Array.of(fields.family, fields.prefixLength ?? 0, fields.flags ?? 0, fields.scope ?? 0, 0, 0, 0, 0);
  new DataView(out.buffer).setUint32(4, fields.index ?? 0, true);
  return out;
}

/** struct rtmsg, 12 bytes. */
export function rtmsg(fields: { family: number; dstLength?: number; table?: number; protocol?: number; scope?: number; type?: number; flags?: number }): Uint8Array {
  const out = Uint8Array.of(fields.family, fields.dstLength ?? 0, 0, 0, fields.table ?? 0, fields.protocol ?? 0, fields.scope ?? 0, fields.type ?? 0, 0, 0, 0, 0);
  new DataView(out.buffer).setUint32(8, fields.flags ?? 0, true);
  return out;
}

/** struct ifa_cacheinfo (IFA_CACHEINFO): preferred and valid seconds left; the stamps are the kernel's. */
export function ifaCacheinfo(lifetime: { valid: number; preferred: number }): Uint8Array {
  const out = new Uint8Array(16);
  const view = new DataView(out.buffer);
  view.setUint32(0, lifetime.preferred, true);
  view.setUint32(4, lifetime.valid, true);
  return out;
}

/** A link as RTM_NEWLINK carries it: a KernelLink whose master is still an index. */
export type DecodedLink = Omit<KernelLink, 'master' | 'addresses'> & {
  /** IFLA_MASTER's index: the caller resolves it to a name. */
  masterIndex?: number;
};

export function decodeLink(payload: Uint8Array): DecodedLink {
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const flagBits = view.getUint32(8, true);
  const attrs = parseAttrs(payload, 16);
  const operstate = attrs.get(IFLA.OPERSTATE)?.[0];
  const link: DecodedLink = {
    index: view.getInt32(4, true),
    name: readString(attrs.get(IFLA.IFNAME)) ?? '',
    flags: IFF_NAMES.filter(([bit]) => flagBits & bit).map(([, name]) => name),
  };
  const address = attrs.get(IFLA.ADDRESS);
  if (address) link.mac = formatMac(address);
  const mtu = readU32(attrs.get(IFLA.MTU));
  if (mtu !== undefined) link.mtu = mtu;
  const master = readU32(attrs.get(IFLA.MASTER));
  if (master) link.masterIndex = master;
  if (operstate !== undefined) link.operState = OPERSTATES[operstate] ?? 'UNKNOWN';
  const alias = readString(attrs.get(IFLA.IFALIAS));
  if (alias) link.alias = alias;
  const linkinfo = attrs.get(IFLA.LINKINFO);
  if (linkinfo) {
    const info = parseAttrs(linkinfo);
    const kind = readString(info.get(IFLA_INFO.KIND));
    const slaveKind = readString(info.get(IFLA_INFO.SLAVE_KIND));
    const slaveData = info.get(IFLA_INFO.SLAVE_DATA);
    const hairpin = slaveKind === 'bridge' && slaveData ? parseAttrs(slaveData).get(IFLA_BRPORT_MODE)?.[0] : undefined;
    if (kind) link.kind = kind;
    const data = kind === 'macvlan' ? info.get(IFLA_INFO.DATA) : undefined;
    const mode = data ? readU32(parseAttrs(data).get(IFLA_MACVLAN_MODE)) : undefined;
    const modeName = (Object.keys(MACVLAN_MODES) as MacvlanMode[]).find((name) => MACVLAN_MODES[name] === mode);
    if (modeName) link.macvlanMode = modeName;
    if (slaveKind) link.portKind = slaveKind;
    if (hairpin !== undefined) link.hairpin = hairpin === 1;
  }
  return link;
}

export interface DecodedAddress {
  index: number;
  family: number;
  prefixLength: number;
  /** RT_SCOPE_*: 0 global, 253 link, 254 host. */
  scope: number;
  /** IFA_LOCAL (the interface's own address), else IFA_ADDRESS. */
  address: Uint8Array;
  /** IFA_FLAGS (all 32 bits) when sent, else the header's 8. */
  flags: number;
  broadcast?: Uint8Array;
  /** IFA_CACHEINFO's seconds left (INFINITY_LIFE_TIME: forever). */
  preferredLft?: number;
  validLft?: number;
}

export function decodeAddress(payload: Uint8Array): DecodedAddress {
  const attrs = parseAttrs(payload, 8);
  const address: DecodedAddress = {
    family: payload[0]!,
    prefixLength: payload[1]!,
    scope: payload[3]!,
    index: new DataView(payload.buffer, payload.byteOffset + 4, 4).getUint32(0, true),
    address: attrs.get(IFA.LOCAL) ?? attrs.get(IFA.ADDRESS) ?? new Uint8Array(),
    flags: readU32(attrs.get(IFA.FLAGS)) ?? payload[2]!,
  };
  const broadcast = attrs.get(IFA.BROADCAST);
  if (broadcast) address.broadcast = broadcast;
  const cacheinfo = attrs.get(IFA.CACHEINFO);
  if (cacheinfo && cacheinfo.length >= 8) {
    const view = new DataView(cacheinfo.buffer, cacheinfo.byteOffset, 8);
    address.preferredLft = view.getUint32(0, true);
    address.validLft = view.getUint32(4, true);
  }
  return address;
}

/** An address's IFA_F_* flags by iproute2's names. */
export function addressFlagNames(family: number, flags: number): string[] {
  const names = IFA_FLAG_NAMES.filter(([bit]) => flags & bit).map(([, name]) => name);
  return flags & 0x01 ? [family === AF_INET ? 'secondary' : 'temporary', ...names] : names;
}

export interface DecodedRoute {
  family: number;
  dstLength: number;
  table: number;
  /** RTPROT_*: who made it (our routes carry 77). */
  protocol: number;
  /** RT_SCOPE_*. */
  scope: number;
  type: number;
  /** rtm_flags (RTNH_F_ONLINK), when any is set. */
  flags?: number;
  dst?: Uint8Array;
  gateway?: Uint8Array;
  prefsrc?: Uint8Array;
  oif?: number;
  /** RTA_PRIORITY: the metric. */
  priority?: number;
}

/**
 * One walk over the attributes, no Map: the agent decodes the whole main table at every sync
 * (5,000 routes at 5,000 nodes), and a Map and a view per attribute of every route were most of
 * a sync's garbage (bench/AGENT.md). dst and gateway are views into the payload.
 */
export function decodeRoute(payload: Uint8Array): DecodedRoute {
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const route: DecodedRoute = {
    family: payload[0]!,
    dstLength: payload[1]!,
    table: payload[4]!,
    protocol: payload[5]!,
    scope: payload[6]!,
    type: payload[7]!,
  };
  const flags = payload.length >= 12 ? view.getUint32(8, true) : 0;
  if (flags) route.flags = flags;
  for (let at = 12; at + 4 <= payload.length; ) {
    const length = view.getUint16(at, true);
    if (length < 4) break;
    const type = view.getUint16(at + 2, true) & 0x3fff; // without NLA_F_NESTED / NET_BYTEORDER
    const end = Math.min(at + length, payload.length);
    if (type === RTA.TABLE && end - at >= 8) route.table = view.getUint32(at + 4, true);
    else if (type === RTA.DST) route.dst = payload.subarray(at + 4, end);
    else if (type === RTA.GATEWAY) route.gateway = payload.subarray(at + 4, end);
    else if (type === RTA.OIF && end - at >= 8) route.oif = view.getUint32(at + 4, true);
    else if (type === RTA.PRIORITY && end - at >= 8) route.priority = view.getUint32(at + 4, true);
    else if (type === RTA.PREFSRC) route.prefsrc = payload.subarray(at + 4, end);
    at += (length + 3) & ~3;
  }
  return route;
}
