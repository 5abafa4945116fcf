// OpenFlow 1.3 (ONF TS-006), the part bridgeway speaks to an Open vSwitch bridge's management
// socket: HELLO, ECHO, BARRIER, FLOW_MOD with OXM matches, apply-actions (set-field, output) and
// goto-table (the anti-spoofing guard's allow flows continue in the switching table), and the multipart PORT_DESC (the LOCAL port's MAC) and FLOW (our flows' cookies) requests.
// Pure: messages to bytes and bytes to messages; the socket is client.ts's. Field numbers and
// layouts are the spec's (openflow.h of 1.3.x); every multi-byte field is big-endian.

export const OFP_VERSION = 0x04;

export const OFPT = {
  HELLO: 0, ERROR: 1, ECHO_REQUEST: 2, ECHO_REPLY: 3, FLOW_MOD: 14, MULTIPART_REQUEST: 18, MULTIPART_REPLY: 19,
  BARRIER_REQUEST: 20, BARRIER_REPLY: 21,
} as const;

/** Reserved port numbers: the bridge's own (internal) interface, and the normal L2 switching. */
export const OFPP = { LOCAL: 0xfffffffe, NORMAL: 0xfffffffa, ANY: 0xffffffff } as const;

export const FLOW_MOD_COMMAND = { add: 0, delete: 3, deleteStrict: 4 } as const;
const OFPMP_FLOW = 1;
const OFPMP_PORT_DESC = 13;
const OFPG_ANY = 0xffffffff;
const OFP_NO_BUFFER = 0xffffffff;
const OFPTT_ALL = 0xff;
const OXM_CLASS_OPENFLOW_BASIC = 0x8000;

/** OXM fields we match or set (field number, value length). */
const OXM = {
  inPort: { field: 0, length: 4 },
  ethDst: { field: 3, length: 6 },
  ethSrc: { field: 4, length: 6 },
  ethType: { field: 5, length: 2 },
  /** OFPVID_NONE (0x0000, no mask): the frame has no 802.1Q tag. */
  vlanVid: { field: 6, length: 2 },
  ipProto: { field: 10, length: 1 },
  ipv4Src: { field: 11, length: 4 },
  ipv4Dst: { field: 12, length: 4 },
  udpSrc: { field: 15, length: 2 },
  icmpv4Type: { field: 19, length: 1 },
  arpSpa: { field: 22, length: 4 },
  arpSha: { field: 24, length: 6 },
  ipv6Src: { field: 26, length: 16 },
  ipv6Dst: { field: 27, length: 16 },
  icmpv6Type: { field: 29, length: 1 },
  ipv6NdTarget: { field: 31, length: 16 },
} as const;
export type OxmName = keyof typeof OXM;

/** One match field: its value and, for a prefix, its mask (same length). */
export interface OxmField {
  name: OxmName;
  value: Uint8Array;
  mask?: Uint8Array;
}

export type Action = { output: number } | { setEthDst: Uint8Array };

export interface FlowMod {
  command: keyof typeof FLOW_MOD_COMMAND;
  cookie: bigint;
  /** Delete: which cookies (cookie & mask) it selects; add ignores it. */
  cookieMask?: bigint;
  /** Add: table 0; delete: every table unless given. */
  table?: number;
  priority?: number;
  match?: readonly OxmField[];
  /** Apply-actions; add only. None (and no gotoTable): the flow drops what it matches. */
  actions?: readonly Action[];
  /** Goto-table after the actions; add only. */
  gotoTable?: number;
}

export class OpenFlowProtocolError extends Error {
  override readonly name = 'OpenFlowProtocolError';
}

/** The switch answered a request with OFPT_ERROR: its type and code (openflow.h), and the xid. */
export class OpenFlowErrorReply extends Error {
  override readonly name = 'OpenFlowErrorReply';
  readonly type: number;
  readonly code: number;
  constructor(type: number, code: number, what: string) {
    super(`the switch refused ${what}: OpenFlow error type ${type} code ${code}`);
    this.type = type;
    this.code = code;
  }
}

const pad8 = (n: number) => (n + 7) & ~7;

function header(type: number, length: number, xid: number): Buffer {
  const b = Buffer.alloc(length);
  b.writeUInt8(OFP_VERSION, 0);
  b.writeUInt8(type, 1);
  b.writeUInt16BE(length, 2);
  b.writeUInt32BE(xid >>> 0, 4);
  return b;
}

export function hello(xid: number): Buffer {
  return header(OFPT.HELLO, 8, xid);
}

export function barrierRequest(xid: number): Buffer {
  return header(OFPT.BARRIER_REQUEST, 8, xid);
}

export function echoReply(request: Buffer): Buffer {
  const reply = Buffer.from(request);
  reply.writeUInt8(OFPT.ECHO_REPLY, 1);
  return reply;
}

/** The OXM TLVs of a match, without the ofp_match header. */
function oxmBytes(fields: readonly OxmField[]): Buffer {
  return Buffer.concat(fields.map(({ name, value, mask }) => {
    const { field, length } = OXM[name];
    if (value.length !== length || (mask && mask.length !== length)) throw new OpenFlowProtocolError(`OXM ${name}: value/mask must be ${length} bytes`);
    const tlv = Buffer.alloc(4 + length * (mask ? 2 : 1));
    tlv.writeUInt16BE(OXM_CLASS_OPENFLOW_BASIC, 0);
    tlv.writeUInt8((field << 1) | (mask ? 1 : 0), 2);
    tlv.writeUInt8(length * (mask ? 2 : 1), 3);
    Buffer.from(value).copy(tlv, 4);
    if (mask) Buffer.from(mask).copy(tlv, 4 + length);
    return tlv;
  }));
}

/** ofp_match of type OXM: its length counts the header and the TLVs, the padding to 8 follows. */
function matchBytes(fields: readonly OxmField[]): Buffer {
  const oxm = oxmBytes(fields);
  const b = Buffer.alloc(pad8(4 + oxm.length));
  b.writeUInt16BE(1, 0);
  b.writeUInt16BE(4 + oxm.length, 2);
  oxm.copy(b, 4);
  return b;
}

function actionBytes(action: Action): Buffer {
  if ('output' in action) {
    const b = Buffer.alloc(16);
    b.writeUInt16BE(0, 0); // OFPAT_OUTPUT
    b.writeUInt16BE(16, 2);
    b.writeUInt32BE(action.output >>> 0, 4);
    b.writeUInt16BE(0xffff, 8); // max_len: OFPCML_NO_BUFFER (only matters for output to the controller)
    return b;
  }
  const oxm = oxmBytes([{ name: 'ethDst', value: action.setEthDst }]);
  const b = Buffer.alloc(pad8(4 + oxm.length));
  b.writeUInt16BE(25, 0); // OFPAT_SET_FIELD
  b.writeUInt16BE(b.length, 2);
  oxm.copy(b, 4);
  return b;
}

function applyActions(actions: readonly Action[]): Buffer {
  if (actions.length === 0) return Buffer.alloc(0);
  const body = Buffer.concat(actions.map(actionBytes));
  const b = Buffer.alloc(8 + body.length);
  b.writeUInt16BE(4, 0); // OFPIT_APPLY_ACTIONS
  b.writeUInt16BE(b.length, 2);
  body.copy(b, 8);
  return b;
}

/** OFPIT_GOTO_TABLE: type 1, length 8, the table, 3 bytes of padding. */
function gotoTable(table: number | undefined): Buffer {
  if (table === undefined) return Buffer.alloc(0);
  const b = Buffer.alloc(8);
  b.writeUInt16BE(1, 0);
  b.writeUInt16BE(8, 2);
  b.writeUInt8(table, 4);
  return b;
}

export function flowMod(mod: FlowMod, xid: number): Buffer {
  const match = matchBytes(mod.match ?? []);
  // The spec's order of instructions: apply-actions before goto-table.
  const instructions = mod.command === 'add' ? Buffer.concat([applyActions(mod.actions ?? []), gotoTable(mod.gotoTable)]) : Buffer.alloc(0);
  const b = header(OFPT.FLOW_MOD, 48 + match.length + instructions.length, xid);
  b.writeBigUInt64BE(mod.cookie, 8);
  b.writeBigUInt64BE(mod.command === 'add' ? 0n : (mod.cookieMask ?? 0n), 16);
  b.writeUInt8(mod.table ?? (mod.command === 'add' ? 0 : OFPTT_ALL), 24);
  b.writeUInt8(FLOW_MOD_COMMAND[mod.command], 25);
  // idle and hard timeout 0: permanent
  b.writeUInt16BE(mod.priority ?? 0, 30);
  b.writeUInt32BE(OFP_NO_BUFFER, 32);
  b.writeUInt32BE(OFPP.ANY, 36);
  b.writeUInt32BE(OFPG_ANY, 40);
  // flags 0, pad
  match.copy(b, 48);
  instructions.copy(b, 48 + match.length);
  return b;
}

/** OFPMP_PORT_DESC request: every port of the bridge, LOCAL included. */
export function portDescRequest(xid: number): Buffer {
  const b = header(OFPT.MULTIPART_REQUEST, 16, xid);
  b.writeUInt16BE(OFPMP_PORT_DESC, 8);
  return b;
}

/** OFPMP_FLOW request: the flows of every table whose cookie & mask equals cookie & mask. */
export function flowStatsRequest(xid: number, cookie: bigint, cookieMask: bigint): Buffer {
  const match = matchBytes([]);
  const b = header(OFPT.MULTIPART_REQUEST, 16 + 32 + match.length, xid);
  b.writeUInt16BE(OFPMP_FLOW, 8);
  b.writeUInt8(OFPTT_ALL, 16);
  b.writeUInt32BE(OFPP.ANY, 20);
  b.writeUInt32BE(OFPG_ANY, 24);
  b.writeBigUInt64BE(cookie, 32);
  b.writeBigUInt64BE(cookieMask, 40);
  match.copy(b, 48);
  return b;
}

export interface Message {
  version: number;
  type: number;
  xid: number;
  body: Buffer;
}

/** Splits a byte stream into messages; keeps a partial one for the next chunk. */
export class MessageStream {
  private buffer: Buffer = Buffer.alloc(0);
  push(chunk: Buffer): Message[] {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    const out: Message[] = [];
    while (this.buffer.length >= 8) {
      const length = this.buffer.readUInt16BE(2);
      if (length < 8) throw new OpenFlowProtocolError(`message length ${length} is shorter than its header`);
      if (this.buffer.length < length) break;
      out.push({ version: this.buffer.readUInt8(0), type: this.buffer.readUInt8(1), xid: this.buffer.readUInt32BE(4), body: this.buffer.subarray(8, length) });
      this.buffer = this.buffer.subarray(length);
    }
    return out;
  }
}

/** A multipart reply's flags (more to come) and its body after the multipart header. */
export function multipartReply(body: Buffer): { kind: number; more: boolean; entries: Buffer } {
  return { kind: body.readUInt16BE(0), more: (body.readUInt16BE(2) & 1) === 1, entries: body.subarray(8) };
}

export interface PortDesc {
  portNo: number;
  mac: string;
  name: string;
}

/** The ofp_port entries (64 bytes each) of a PORT_DESC reply body. */
export function parsePortDescs(entries: Buffer): PortDesc[] {
  const ports: PortDesc[] = [];
  for (let at = 0; at + 64 <= entries.length; at += 64) {
    const mac = [...entries.subarray(at + 8, at + 14)].map((x) => x.toString(16).padStart(2, '0')).join(':');
    const name = entries.subarray(at + 16, at + 32).toString('latin1').replace(/\0.*$/s, '');
    ports.push({ portNo: entries.readUInt32BE(at), mac, name });
  }
  return ports;
}

/** The cookies and priorities of a FLOW stats reply body's ofp_flow_stats entries. */
export function parseFlowStats(entries: Buffer): { cookie: bigint; priority: number; table: number }[] {
  const flows: { cookie: bigint; priority: number; table: number }[] = [];
  for (let at = 0; at + 56 <= entries.length;) {
    const length = entries.readUInt16BE(at);
    if (length < 56) throw new OpenFlowProtocolError(`flow stats entry of ${length} bytes`);
    flows.push({ table: entries.readUInt8(at + 2), priority: entries.readUInt16BE(at + 12), cookie: entries.readBigUInt64BE(at + 24) });
    at += length;
  }
  return flows;
}

/** OFPT_ERROR's type and code. */
export function parseError(body: Buffer): { type: number; code: number } {
  return { type: body.readUInt16BE(0), code: body.readUInt16BE(2) };
}

/** Parses "aa:bb:cc:dd:ee:ff". */
export function macBytes(mac: string): Uint8Array {
  const parts = mac.split(':');
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-f]{2}$/i.test(p))) throw new OpenFlowProtocolError(`not a MAC address: ${JSON.stringify(mac)}`);
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}
