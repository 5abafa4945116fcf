// Same-node steering on the Open vSwitch bridge (issue 21): OVS switches a frame between two pods
// of this node itself, past every netfilter hook, so NetworkPolicy (the forward hook's table),
// conntrack and kube-proxy's DNAT would never see it. These OpenFlow flows (table 1, the switching
// table behind the anti-spoofing guard's table 0: lib/openflow/port-guard.ts) send every
// IP packet from a pod address of this node to another one to the bridge's internal port (LOCAL)
// with the destination MAC rewritten to that port's own, so the node's IP stack receives it as
// for itself and routes it back out of the bridge to the destination pod, through the forward
// hook, exactly as a routed packet:
//   priority 40010  in_port=LOCAL                         -> NORMAL  (the node's own frames and the routed ones)
//   priority 40005  icmp6, icmpv6_type=135|136             -> NORMAL  (neighbour discovery stays switched;
//                                                                      ARP is not IP and never matches)
//   priority 40000  ip,  nw_src=podCIDR4, nw_dst=podCIDR4  -> set eth_dst=<LOCAL's MAC>, output LOCAL
//   priority 40000  ip6, ipv6_src=podCIDR6, ipv6_dst=podCIDR6 -> the same
// Everything else meets table 1's priority-0 NORMAL flow, one of the pipeline flows both the plugin
// and this step install (port-guard.ts). Matching on both addresses (not on pod ports) keeps traffic
// from an uplink or a VM port switched as before.
//
// Each flow's cookie is our 32-bit prefix and a hash of what the flow is, so the step reads only
// the cookies of our flows (a flow-stats request filtered by the prefix), adds the wanted flows
// that are missing and deletes (by exact cookie) those no longer wanted: a sync with nothing to
// change writes nothing. Pure here; steering-step.ts talks to the bridge.
import { cidrNetwork, familyBits, formatCidr, type IpCidr } from '../../lib/cidr.ts';
import { macBytes, OFPP, type FlowMod, type OxmField } from '../../lib/openflow/protocol.ts';
import { TABLE } from '../../lib/openflow/port-guard.ts';

/** "brwy": the high 32 bits of every flow cookie bridgeway sets; the low 32 say which flow. */
export const STEERING_COOKIE_PREFIX = 0x62727779n << 32n;
export const STEERING_COOKIE_MASK = 0xffffffff00000000n;

export const STEERING_PRIORITY = { local: 40010, neighbour: 40005, steer: 40000 } as const;

export interface SteeringInputs {
  /** Our podCIDR of each family the cluster uses. */
  podCIDRs: readonly IpCidr[];
  /** The MAC of the bridge's internal (LOCAL) port: the node's side of the bridge. */
  localMac: string;
}

/** One flow we want: its add message (cookie included) and a line for the log and doctor. */
export interface SteeringFlow {
  add: FlowMod;
  text: string;
}

const ETH_IPV4 = Uint8Array.of(0x08, 0x00);
const ETH_IPV6 = Uint8Array.of(0x86, 0xdd);
const ICMPV6 = Uint8Array.of(58);

function bigBytes(value: bigint, bytes: number): Uint8Array {
  const out = new Uint8Array(bytes);
  for (let i = bytes - 1; i >= 0; i--, value >>= 8n) out[i] = Number(value & 0xffn);
  return out;
}

function prefixField(name: 'ipv4Src' | 'ipv4Dst' | 'ipv6Src' | 'ipv6Dst', cidr: IpCidr): OxmField {
  const bits = familyBits(cidr.family);
  const mask = ((1n << BigInt(bits)) - 1n) ^ ((1n << BigInt(bits - cidr.prefixLength)) - 1n);
  return { name, value: bigBytes(cidrNetwork(cidr), bits / 8), mask: bigBytes(mask, bits / 8) };
}

/** FNV-1a, 32 bits: a flow's cookie low half from its text (which spells every field of it). */
function hash32(text: string): bigint {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return BigInt(h);
}

/** The table is part of the text, so of the cookie: an agent upgraded from table-0 steering finds its old flows stale. */
function flow(text: string, priority: number, match: OxmField[], actions: FlowMod['actions']): SteeringFlow {
  const spelled = `table=${TABLE.switch},${text}`;
  return { text: spelled, add: { command: 'add', cookie: STEERING_COOKIE_PREFIX | hash32(spelled), table: TABLE.switch, priority, match, actions } };
}

function cidrText(c: IpCidr): string {
  return formatCidr({ ...c, address: cidrNetwork(c) });
}

/** Pure: the flows the bridge should hold for these podCIDRs and LOCAL MAC. */
export function planSteeringFlows({ podCIDRs, localMac }: SteeringInputs): SteeringFlow[] {
  const mac = macBytes(localMac.toLowerCase());
  const toLocal = [{ setEthDst: mac }, { output: OFPP.LOCAL }];
  const flows = [flow('in_port=LOCAL actions=NORMAL', STEERING_PRIORITY.local, [{ name: 'inPort', value: bigBytes(BigInt(OFPP.LOCAL), 4) }], [{ output: OFPP.NORMAL }])];
  const v4 = podCIDRs.find((c) => c.family === 4);
  const v6 = podCIDRs.find((c) => c.family === 6);
  if (v4) {
    flows.push(flow(`ip,nw_src=${cidrText(v4)},nw_dst=${cidrText(v4)} actions=mod_dl_dst:${localMac.toLowerCase()},output:LOCAL`, STEERING_PRIORITY.steer,
      [{ name: 'ethType', value: ETH_IPV4 }, prefixField('ipv4Src', v4), prefixField('ipv4Dst', v4)], toLocal));
  }
  if (v6) {
    for (const type of [135, 136]) {
      flows.push(flow(`icmp6,icmp_type=${type} actions=NORMAL`, STEERING_PRIORITY.neighbour,
        [{ name: 'ethType', value: ETH_IPV6 }, { name: 'ipProto', value: ICMPV6 }, { name: 'icmpv6Type', value: Uint8Array.of(type) }], [{ output: OFPP.NORMAL }]));
    }
    flows.push(flow(`ipv6,ipv6_src=${cidrText(v6)},ipv6_dst=${cidrText(v6)} actions=mod_dl_dst:${localMac.toLowerCase()},output:LOCAL`, STEERING_PRIORITY.steer,
      [{ name: 'ethType', value: ETH_IPV6 }, prefixField('ipv6Src', v6), prefixField('ipv6Dst', v6)], toLocal));
  }
  return flows;
}

export interface SteeringChange {
  add: FlowMod[];
  /** Our flows no longer wanted: deleted by exact cookie. */
  remove: FlowMod[];
  /** For the log: what is added. */
  added: string[];
}

/** Pure: from the cookies of our flows the bridge holds, what to add and what to delete. */
export function diffSteering(wanted: readonly SteeringFlow[], present: readonly bigint[]): SteeringChange {
  const have = new Set(present);
  const want = new Set(wanted.map((f) => f.add.cookie));
  const missing = wanted.filter((f) => !have.has(f.add.cookie));
  const stale = [...have].filter((c) => (c & STEERING_COOKIE_MASK) === STEERING_COOKIE_PREFIX && !want.has(c));
  return {
    add: missing.map((f) => f.add),
    remove: stale.map((cookie) => deleteByCookie(cookie, 0xffffffffffffffffn)),
    added: missing.map((f) => f.text),
  };
}

/** A delete of every flow (any table) whose cookie & mask is cookie & mask. */
export function deleteByCookie(cookie: bigint, mask: bigint): FlowMod {
  return { command: 'delete', cookie, cookieMask: mask };
}

/** Uninstall, or steering switched off: every flow of ours, whatever its low half. */
export const DELETE_ALL_STEERING = deleteByCookie(STEERING_COOKIE_PREFIX, STEERING_COOKIE_MASK);

/** Pure: whether the bridge holds every wanted flow (the cookies of our flows it holds). */
export function steeringInPlace(wanted: readonly SteeringFlow[], present: readonly bigint[]): boolean {
  const have = new Set(present);
  return wanted.every((f) => have.has(f.add.cookie));
}
