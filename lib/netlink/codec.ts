// Netlink messages as bytes, both ways, whatever the protocol (include/uapi/linux/netlink.h):
// the message header, attributes, acknowledgements and errors. rtnl-codec.ts adds rtnetlink's
// family headers and attributes on top; an nfnetlink codec goes beside it. Pure: no socket here,
// so every encoding is unit-tested on Node. Host byte order is little-endian on every
// architecture we ship (x86-64, arm64).

export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;

export const NLM_F = {
  REQUEST: 0x1,
  MULTI: 0x2,
  ACK: 0x4,
  DUMP: 0x300,
  REPLACE: 0x100,
  EXCL: 0x200,
  CREATE: 0x400,
  /** NEW requests: add at the end of a list (nf_tables: a rule at the end of its chain). */
  APPEND: 0x800,
  /** On an NLMSG_ERROR: extended-ack attributes follow the echoed header. */
  ACK_TLVS: 0x200,
} as const;

/** An attribute that nests attributes (libnftnl sets it; the kernel accepts both). */
export const NLA_F_NESTED = 0x8000;

export const AF_INET = 2;
export const AF_INET6 = 10;

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

/** A native-endian u32 attribute, or undefined when absent or short. */
export const readU32 = (b: Uint8Array | undefined) => (b && b.length >= 4 ? new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true) : undefined);
/** A NUL-terminated string attribute. */
export const readString = (b: Uint8Array | undefined) => (b ? decoder.decode(b.subarray(0, b.indexOf(0) === -1 ? b.length : b.indexOf(0))) : undefined);

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
