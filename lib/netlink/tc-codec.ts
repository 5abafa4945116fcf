// Traffic control's part of rtnetlink (include/uapi/linux/rtnetlink.h, pkt_sched.h), pure: the
// messages that put a token bucket filter (TBF) as an interface's root qdisc, remove it, and list
// qdiscs, and the decoding of the kernel's answer. What `tc qdisc replace dev <if> root tbf rate
// <r> burst <b> limit <l>` sends, minus its rate table: the rate's link layer is given
// (TC_LINKLAYER_ETHERNET), so the kernel computes transmit times itself (sch_tbf.c needs
// TCA_TBF_RTAB only for TC_LINKLAYER_UNAWARE), and the burst goes in bytes (TCA_TBF_BURST)
// instead of as psched ticks.
import { bytes, nest, parseAttrs, readString, readU32, str, u32, type Attr } from './codec.ts';

export const RTM_TC = { NEWQDISC: 36, DELQDISC: 37, GETQDISC: 38 } as const;
export const TCA = { KIND: 1, OPTIONS: 2 } as const;
export const TCA_TBF = { PARMS: 1, RATE64: 4, BURST: 6 } as const;
/** The root of an interface's egress: TC_H_ROOT. */
export const TC_H_ROOT = 0xffffffff;
const TC_LINKLAYER_ETHERNET = 1;
const AF_UNSPEC = 0;

/** How long a packet may wait in the bucket's queue: what sizes `limit` (the bandwidth plugin's 25 ms). */
export const TBF_LATENCY_MS = 25;

export interface Tbf {
  /** Bytes per second. */
  rate: number;
  /** Bytes the bucket holds (sent at line rate before the rate applies). */
  burst: number;
  /** Bytes that may queue behind the bucket. */
  limit: number;
}

/** A rate and burst in bits (the CNI bandwidth capability's units) as the TBF of those limits. */
export function tbfFromBits(rateBits: number, burstBits: number): Tbf {
  const rate = Math.floor(rateBits / 8);
  const burst = Math.floor(burstBits / 8);
  return { rate, burst, limit: Math.floor((rate * TBF_LATENCY_MS) / 1000) + burst };
}

/** struct tcmsg: family, pads, ifindex, handle, parent, info (20 bytes). */
export function tcmsg(fields: { index: number; handle?: number; parent?: number }): Uint8Array {
  const out = new Uint8Array(20);
  const view = new DataView(out.buffer);
  out[0] = AF_UNSPEC;
  view.setInt32(4, fields.index, true);
  view.setUint32(8, fields.handle ?? 0, true);
  view.setUint32(12, fields.parent ?? 0, true);
  return out;
}

/** struct tc_tbf_qopt: rate and peakrate (struct tc_ratespec, 12 bytes each), limit, buffer, mtu. */
export function tbfQopt(tbf: Tbf): Uint8Array {
  const out = new Uint8Array(36);
  const view = new DataView(out.buffer);
  out[1] = TC_LINKLAYER_ETHERNET; // rate.linklayer
  view.setUint32(8, Math.min(tbf.rate, 0xffffffff), true); // rate.rate (bytes/s; past 32 bits TCA_TBF_RATE64 says it)
  view.setUint32(24, tbf.limit, true);
  return out;
}

/** The attributes of a root TBF: its kind and options. */
export function tbfAttrs(tbf: Tbf): Attr[] {
  const options: Attr[] = [bytes(TCA_TBF.PARMS, tbfQopt(tbf)), u32(TCA_TBF.BURST, tbf.burst)];
  if (tbf.rate > 0xffffffff) options.push(u64(TCA_TBF.RATE64, tbf.rate));
  return [str(TCA.KIND, 'tbf'), nest(TCA.OPTIONS, options)];
}

function u64(type: number, n: number): Attr {
  const value = new Uint8Array(8);
  new DataView(value.buffer).setBigUint64(0, BigInt(n), true);
  return { type, value };
}

export interface DecodedQdisc {
  index: number;
  handle: number;
  parent: number;
  kind: string;
  /** For a TBF: its rate in bytes per second. */
  rate?: number;
}

export function decodeQdisc(payload: Uint8Array): DecodedQdisc {
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const attrs = parseAttrs(payload, 20);
  const qdisc: DecodedQdisc = {
    index: view.getInt32(4, true),
    handle: view.getUint32(8, true),
    parent: view.getUint32(12, true),
    kind: readString(attrs.get(TCA.KIND)) ?? '',
  };
  const options = attrs.get(TCA.OPTIONS);
  if (qdisc.kind === 'tbf' && options) {
    const tbf = parseAttrs(options);
    const parms = tbf.get(TCA_TBF.PARMS);
    const rate64 = tbf.get(TCA_TBF.RATE64);
    if (rate64 && rate64.length >= 8) qdisc.rate = Number(new DataView(rate64.buffer, rate64.byteOffset, 8).getBigUint64(0, true));
    else if (parms && parms.length >= 12) qdisc.rate = readU32(parms.subarray(8, 12));
  }
  return qdisc;
}
