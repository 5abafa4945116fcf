// rtnetlink messages as bytes, both ways (include/uapi/linux/netlink.h, rtnetlink.h, if_link.h,
// if_addr.h). Pure: no socket here, so every encoding is unit-tested on Node. Host byte order is
// little-endian on every architecture we ship (x86-64, arm64).
import type { KernelLink } from '../kernel/link.ts';

export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;

export const RTM = {
  NEWLINK: 16,
  DELLINK: 17,
  GETLINK: 18,
  SETLINK: 19,
  NEWADDR: 20,
  GETADDR: 22,
  NEWROUTE: 24,
  GETROUTE: 26,
} as const;

export const NLM_F = {
  REQUEST: 0x1,
  MULTI: 0x2,
  ACK: 0x4,
  DUMP: 0x300,
  REPLACE: 0x100,
  EXCL: 0x200,
  CREATE: 0x400,
  /** On an NLMSG_ERROR: extended-ack attributes follow the echoed header. */
  ACK_TLVS: 0x200,
} as const;

export const AF_INET = 2;
export const AF_INET6 = 10;

export const IFLA = {
  ADDRESS: 1,
  IFNAME: 3,
  MTU: 4,
  MASTER: 10,
  OPERSTATE: 16,
  LINKINFO: 18,
  IFALIAS: 20,
  NET_NS_FD: 28,
  EXT_MASK: 29,
} as const;
export const IFLA_INFO = { KIND: 1, DATA: 2, SLAVE_KIND: 4, SLAVE_DATA: 5 } as const;
export const VETH_INFO_PEER = 1;
export const IFLA_BRPORT_MODE = 4; // hairpin
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

export const IFA = { ADDRESS: 1, LOCAL: 2 } as const;
export const IFA_F_NODAD = 0x02;
export const RTA = { DST: 1, OIF: 4, GATEWAY: 5, TABLE: 15 } as const;
export const RT_TABLE_MAIN = 254;
export const RTPROT_BOOT = 3; // what `ip route add` marks its routes with
export const RT_SCOPE = { UNIVERSE: 0, LINK: 253, HOST: 254 } as const;
export const RTN_UNICAST = 1;

/** One attribute: raw bytes, or nested attributes. */
export interface Attr {
  type: number;
  value: Uint8Array | readonly Attr[];
}

const HEADER = 16;
const align = (n: number) => (n + 3) & ~3;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export const u8 = (type: number, n: number): Attr => ({ type, value: Uint8Array.of(n) });
export const u32 = (type: number, n: number): Attr => {
  const value = new Uint8Array(4);
  new DataView(value.buffer).setUint32(0, n, true);
  return { type, value };
};
/** A NUL-terminated string, as the kernel wants names and kinds. */
export const str = (type: number, s: string): Attr => {
  const bytes = encoder.encode(s);
  const value = new Uint8Array(bytes.length + 1);
  value.set(bytes);
  return { type, value };
};
export const bytes = (type: number, value: Uint8Array): Attr => ({ type, value });
export const nest = (type: number, attrs: readonly Attr[]): Attr => ({ type, value: attrs });

function attrsLength(attrs: readonly Attr[]): number {
  return attrs.reduce((n, a) => n + align(4 + valueLength(a.value)), 0);
}
function valueLength(value: Attr['value']): number {
  return value instanceof Uint8Array ? value.length : attrsLength(value);
}

function writeAttrs(view: DataView, out: Uint8Array, at: number, attrs: readonly Attr[]): number {
  for (const { type, value } of attrs) {
    const length = 4 + valueLength(value);
    view.setUint16(at, length, true);
    view.setUint16(at + 2, type, true);
    if (value instanceof Uint8Array) out.set(value, at + 4);
    else writeAttrs(view, out, at + 4, value);
    at += align(length);
  }
  return at;
}

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
export function rtmsg(fields: { family: number; dstLength?: number; table?: number; protocol?: number; scope?: number; type?: number }): Uint8Array {
  return Uint8Array.of(fields.family, fields.dstLength ?? 0, 0, 0, fields.table ?? 0, fields.protocol ?? 0, fields.scope ?? 0, fields.type ?? 0, 0, 0, 0, 0);
}

/** One whole message: nlmsghdr, the family header, the attributes. */
export function encodeMessage(type: number, flags: number, seq: number, header: Uint8Array, attrs: readonly Attr[] = []): Uint8Array {
  const length = HEADER + align(header.length) + attrsLength(attrs);
  const out = new Uint8Array(length);
  const view = new DataView(out.buffer);
  view.setUint32(0, length, true);
  view.setUint16(4, type, true);
  view.setUint16(6, flags, true);
  view.setUint32(8, seq, true);
  out.set(header, HEADER);
  writeAttrs(view, out, HEADER + align(header.length), attrs);
  return out;
}

export interface Message {
  type: number;
  flags: number;
  seq: number;
  /** Everything after nlmsghdr. */
  payload: Uint8Array;
}

/** Splits one datagram into its messages. */
export function parseMessages(data: Uint8Array): Message[] {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const messages: Message[] = [];
  for (let at = 0; at + HEADER <= data.length; ) {
    const length = view.getUint32(at, true);
    if (length < HEADER || at + length > data.length) throw new Error(`netlink: malformed message length ${length} at byte ${at}`);
    messages.push({ type: view.getUint16(at + 4, true), flags: view.getUint16(at + 6, true), seq: view.getUint32(at + 8, true), payload: data.subarray(at + HEADER, at + length) });
    at += align(length);
  }
  return messages;
}

/** Attributes from `offset` to the end, by type (the last of a repeated type wins). */
export function parseAttrs(data: Uint8Array, offset = 0): Map<number, Uint8Array> {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const attrs = new Map<number, Uint8Array>();
  for (let at = offset; at + 4 <= data.length; ) {
    const length = view.getUint16(at, true);
    if (length < 4) break;
    attrs.set(view.getUint16(at + 2, true) & 0x3fff, data.subarray(at + 4, Math.min(at + length, data.length))); // without NLA_F_NESTED / NET_BYTEORDER
    at += align(length);
  }
  return attrs;
}

const readU32 = (b: Uint8Array | undefined) => (b && b.length >= 4 ? new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true) : undefined);
const readString = (b: Uint8Array | undefined) => (b ? decoder.decode(b.subarray(0, b.indexOf(0) === -1 ? b.length : b.indexOf(0))) : undefined);

/** The errno of an NLMSG_ERROR (0 is the ACK) and the kernel's extended-ack text, if any. */
export function decodeError(message: Message): { errno: number; text?: string } {
  const view = new DataView(message.payload.buffer, message.payload.byteOffset, message.payload.byteLength);
  const errno = -view.getInt32(0, true);
  if (!(message.flags & NLM_F.ACK_TLVS) || message.payload.length < 4 + HEADER) return { errno };
  // With NETLINK_CAP_ACK the echoed request is its header only; the TLVs follow it.
  const echoedLength = message.flags & 0x100 /* NLM_F_CAPPED */ ? HEADER : view.getUint32(4, true);
  const text = readString(parseAttrs(message.payload, 4 + align(echoedLength)).get(1 /* NLMSGERR_ATTR_MSG */));
  return text ? { errno, text } : { errno };
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
    if (slaveKind) link.portKind = slaveKind;
    if (hairpin !== undefined) link.hairpin = hairpin === 1;
  }
  return link;
}

export interface DecodedAddress {
  index: number;
  family: number;
  prefixLength: number;
  /** IFA_LOCAL (the interface's own address), else IFA_ADDRESS. */
  address: Uint8Array;
}

export function decodeAddress(payload: Uint8Array): DecodedAddress {
  const attrs = parseAttrs(payload, 8);
  return {
    family: payload[0]!,
    prefixLength: payload[1]!,
    index: new DataView(payload.buffer, payload.byteOffset + 4, 4).getUint32(0, true),
    address: attrs.get(IFA.LOCAL) ?? attrs.get(IFA.ADDRESS) ?? new Uint8Array(),
  };
}

export interface DecodedRoute {
  family: number;
  dstLength: number;
  table: number;
  type: number;
  dst?: Uint8Array;
  gateway?: Uint8Array;
  oif?: number;
}

export function decodeRoute(payload: Uint8Array): DecodedRoute {
  const attrs = parseAttrs(payload, 12);
  const route: DecodedRoute = {
    family: payload[0]!,
    dstLength: payload[1]!,
    table: readU32(attrs.get(RTA.TABLE)) ?? payload[4]!,
    type: payload[7]!,
  };
  const dst = attrs.get(RTA.DST);
  if (dst) route.dst = dst;
  const gateway = attrs.get(RTA.GATEWAY);
  if (gateway) route.gateway = gateway;
  const oif = readU32(attrs.get(RTA.OIF));
  if (oif !== undefined) route.oif = oif;
  return route;
}

export function formatMac(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

export function parseMac(mac: string): Uint8Array {
  const parts = mac.split(':');
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) throw new Error(`not a MAC address: ${mac}`);
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}
