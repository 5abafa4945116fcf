// Anti-spoofing on an Open vSwitch bridge as OpenFlow flows (issue 21): the same judgement as the
// Linux bridge's nftables table (lib/antispoof/ruleset.ts, whose comment says what each rule
// stops), which OVS's frames never pass. Pure: the flows as data; the plugin (cni/ovs/guard.ts)
// and the agent (lib/openflow/guard-sync.ts) send them.
//
// OpenFlow has no negation, so "allow these, drop the rest" takes two tables:
//   table 0 (GUARD)   per guarded port P, every flow matching in_port=P:
//     50200  the port's own MAC, untagged, NA from one of its addresses for one of its addresses -> goto 1
//     50100  refused whatever the source: ICMP redirect (5), DHCPv4 server (udp src 67), RA (134),
//            ICMPv6 redirect (137), DHCPv6 server (udp src 547), any other NA (136)          -> drop
//     50000  its own MAC, untagged, and: ARP with sender MAC + one of its IPv4 (or 0.0.0.0, an
//            RFC 5227 probe, when it has IPv4); IPv4 from one of its addresses; IPv6 from one of
//            its addresses or its MAC's link-local; from :: a DAD solicitation for one of them or
//            an MLDv2 report                                                                  -> goto 1
//     49000  anything else from P (another MAC, another address, a VLAN tag, another ethertype) -> drop
//   and one pipeline flow, priority 1 -> goto 1: every port without guard flows (LOCAL, a VM's,
//   a pod of a network with "antiSpoofing": false) goes on unjudged, as on the Linux bridge.
//   table 1 (SWITCH)  the agent's same-node steering (daemonset/ovs/steering.ts) and the pipeline's
//     priority 0 -> NORMAL: what table 0 alone did before.
// The pipeline flows shadow OVS's own `priority=0 actions=NORMAL` of table 0 (which ovs-vswitchd
// makes with the bridge and again at each restart; never ours to touch), and going away
// (uninstall) they leave it switching as before.
//
// Cookies: the high 32 bits say whose a flow is, so no diff of one kind touches another's
//   "brwy" steering (daemonset/ovs/steering.ts)  "brwg" a port's guard  "brwp" the pipeline.
// A port's guard flows all carry one cookie: the prefix, then a 31-bit hash of the attachment
// (network, container, ifname: what DEL and GC know without reading anything), then one
// generation bit. DEL and GC delete by the cookie with the generation masked out; a reconcile
// re-installs a damaged guard under the other generation (an OFPFC_ADD of an existing match and
// priority replaces that flow, cookie included) and then deletes the old generation's leftovers,
// so the port is never without its drop flow meanwhile.
import type { IpAddress } from '../cidr.ts';
import { DHCPV4_SERVER_PORT, DHCPV6_SERVER_PORT, ICMP_REDIRECT, ICMPV6, linkLocalFromMac } from '../antispoof/ruleset.ts';
import { formatIp } from '../cidr.ts';
import { macBytes, OFPP, type FlowMod, type OxmField } from './protocol.ts';

export const GUARD_COOKIE_PREFIX = 0x62727767n << 32n; // "brwg"
export const PIPELINE_COOKIE_PREFIX = 0x62727770n << 32n; // "brwp"
export const COOKIE_PREFIX_MASK = 0xffffffff00000000n;
/** A port's guard flows of either generation. */
export const ATTACHMENT_COOKIE_MASK = 0xfffffffffffffffen;
export const EXACT_COOKIE_MASK = 0xffffffffffffffffn;

export const TABLE = { guard: 0, switch: 1 } as const;
export const GUARD_PRIORITY = { neighbourAdvert: 50200, refuse: 50100, allow: 50000, dropRest: 49000 } as const;
export const PIPELINE_PRIORITY = { unguarded: 1, switchNormal: 0 } as const;

/** One flow: its add message and a line in ovs-ofctl's words, for the log and CHECK's errors. */
export interface GuardFlow {
  add: FlowMod;
  text: string;
}

/** What a port may send as: the attachment's cookie, its ofport, its MAC and addresses. */
export interface GuardedPort {
  cookie: bigint;
  ofport: number;
  mac: string;
  addresses: readonly IpAddress[];
}

/** FNV-1a, 32 bits. */
function hash32(text: string): bigint {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return BigInt(h);
}

/** The cookie of an attachment's guard flows, generation 0 (the one ADD installs). */
export function guardCookie(network: string, containerId: string, ifname: string): bigint {
  return GUARD_COOKIE_PREFIX | (hash32(`${network}\0${containerId}\0${ifname}`) & 0xfffffffen);
}

function bigBytes(value: bigint, bytes: number): Uint8Array {
  const out = new Uint8Array(bytes);
  for (let i = bytes - 1; i >= 0; i--, value >>= 8n) out[i] = Number(value & 0xffn);
  return out;
}

const u8 = (n: number) => Uint8Array.of(n);
const u16 = (n: number) => Uint8Array.of(n >> 8, n & 0xff);
const ETH = { arp: u16(0x0806), ip: u16(0x0800), ip6: u16(0x86dd) };
const PROTO = { icmp: u8(1), udp: u8(17), icmp6: u8(58) };
const ip4 = (a: IpAddress): Uint8Array => bigBytes(a.value, 4);
const ip6 = (a: IpAddress): Uint8Array => bigBytes(a.value, 16);
const UNSPECIFIED6: IpAddress = { family: 6, value: 0n };
const UNSPECIFIED4: IpAddress = { family: 4, value: 0n };

/** The pipeline: table 0's way on to table 1 for unguarded ports, and table 1's switching. */
export function pipelineFlows(): GuardFlow[] {
  return [
    {
      text: `table=${TABLE.guard},priority=${PIPELINE_PRIORITY.unguarded} actions=goto_table:${TABLE.switch}`,
      add: { command: 'add', cookie: PIPELINE_COOKIE_PREFIX | 1n, table: TABLE.guard, priority: PIPELINE_PRIORITY.unguarded, gotoTable: TABLE.switch },
    },
    {
      text: `table=${TABLE.switch},priority=${PIPELINE_PRIORITY.switchNormal} actions=NORMAL`,
      add: { command: 'add', cookie: PIPELINE_COOKIE_PREFIX | 2n, table: TABLE.switch, priority: PIPELINE_PRIORITY.switchNormal, actions: [{ output: OFPP.NORMAL }] },
    },
  ];
}

/** Pure: the guard flows of one port (table 0), every one under `port.cookie`. */
export function planPortGuard(port: GuardedPort): GuardFlow[] {
  const mac = port.mac.toLowerCase();
  const inPort: OxmField = { name: 'inPort', value: bigBytes(BigInt(port.ofport), 4) };
  // Its own MAC and no 802.1Q tag: OpenFlow's eth_type is the type after any tag, so without
  // vlan_vid=none a tagged frame would pass as its inner packet (the Linux table drops tags).
  const own: OxmField[] = [inPort, { name: 'ethSrc', value: macBytes(mac) }, { name: 'vlanVid', value: u16(0) }];
  const ownText = `in_port=${port.ofport},dl_src=${mac},vlan_tci=0x0000`;
  const v4 = port.addresses.filter((a) => a.family === 4);
  const v6 = [...port.addresses.filter((a) => a.family === 6), linkLocalFromMac(mac)];
  const flows: GuardFlow[] = [];
  const flow = (priority: number, text: string, match: OxmField[], allow: boolean) => flows.push({
    text: `table=${TABLE.guard},priority=${priority},${text} actions=${allow ? `goto_table:${TABLE.switch}` : 'drop'}`,
    add: { command: 'add', cookie: port.cookie, table: TABLE.guard, priority, match, ...(allow ? { gotoTable: TABLE.switch } : {}) },
  });

  for (const src of v6) {
    for (const target of v6) {
      flow(GUARD_PRIORITY.neighbourAdvert, `${ownText},icmp6,ipv6_src=${formatIp(src)},icmp_type=${ICMPV6.neighborAdvert},nd_target=${formatIp(target)}`,
        [...own, { name: 'ethType', value: ETH.ip6 }, { name: 'ipv6Src', value: ip6(src) }, { name: 'ipProto', value: PROTO.icmp6 },
          { name: 'icmpv6Type', value: u8(ICMPV6.neighborAdvert) }, { name: 'ipv6NdTarget', value: ip6(target) }], true);
    }
  }

  const refused: [string, OxmField[]][] = [
    [`icmp,icmp_type=${ICMP_REDIRECT}`, [{ name: 'ethType', value: ETH.ip }, { name: 'ipProto', value: PROTO.icmp }, { name: 'icmpv4Type', value: u8(ICMP_REDIRECT) }]],
    [`udp,tp_src=${DHCPV4_SERVER_PORT}`, [{ name: 'ethType', value: ETH.ip }, { name: 'ipProto', value: PROTO.udp }, { name: 'udpSrc', value: u16(DHCPV4_SERVER_PORT) }]],
    ...[ICMPV6.routerAdvert, ICMPV6.redirect, ICMPV6.neighborAdvert].map((type): [string, OxmField[]] => [
      `icmp6,icmp_type=${type}`, [{ name: 'ethType', value: ETH.ip6 }, { name: 'ipProto', value: PROTO.icmp6 }, { name: 'icmpv6Type', value: u8(type) }],
    ]),
    [`udp6,tp_src=${DHCPV6_SERVER_PORT}`, [{ name: 'ethType', value: ETH.ip6 }, { name: 'ipProto', value: PROTO.udp }, { name: 'udpSrc', value: u16(DHCPV6_SERVER_PORT) }]],
  ];
  for (const [text, match] of refused) flow(GUARD_PRIORITY.refuse, `in_port=${port.ofport},${text}`, [inPort, ...match], false);

  // With sender 0.0.0.0: an RFC 5227 probe names no address to poison (as the Linux table).
  for (const spa of v4.length > 0 ? [...v4, UNSPECIFIED4] : []) {
    flow(GUARD_PRIORITY.allow, `${ownText},arp,arp_spa=${formatIp(spa)},arp_sha=${mac}`,
      [...own, { name: 'ethType', value: ETH.arp }, { name: 'arpSpa', value: ip4(spa) }, { name: 'arpSha', value: macBytes(mac) }], true);
  }
  for (const src of v4) flow(GUARD_PRIORITY.allow, `${ownText},ip,nw_src=${formatIp(src)}`, [...own, { name: 'ethType', value: ETH.ip }, { name: 'ipv4Src', value: ip4(src) }], true);
  for (const src of v6) flow(GUARD_PRIORITY.allow, `${ownText},ipv6,ipv6_src=${formatIp(src)}`, [...own, { name: 'ethType', value: ETH.ip6 }, { name: 'ipv6Src', value: ip6(src) }], true);
  const fromUnspecified: OxmField[] = [...own, { name: 'ethType', value: ETH.ip6 }, { name: 'ipv6Src', value: ip6(UNSPECIFIED6) }, { name: 'ipProto', value: PROTO.icmp6 }];
  // DAD: a solicitation from :: for one of its own (tentative) addresses, no other target.
  for (const target of v6) {
    flow(GUARD_PRIORITY.allow, `${ownText},icmp6,ipv6_src=::,icmp_type=${ICMPV6.neighborSolicit},nd_target=${formatIp(target)}`,
      [...fromUnspecified, { name: 'icmpv6Type', value: u8(ICMPV6.neighborSolicit) }, { name: 'ipv6NdTarget', value: ip6(target) }], true);
  }
  // The MLD report joining the solicited-node group precedes DAD (RFC 3590).
  flow(GUARD_PRIORITY.allow, `${ownText},icmp6,ipv6_src=::,icmp_type=${ICMPV6.mld2Report}`, [...fromUnspecified, { name: 'icmpv6Type', value: u8(ICMPV6.mld2Report) }], true);

  flow(GUARD_PRIORITY.dropRest, `in_port=${port.ofport}`, [inPort], false);
  return flows;
}

/** A flow the bridge holds, as a FLOW stats reply gives it. */
export interface PresentFlow {
  cookie: bigint;
  table: number;
  priority: number;
}

/** Table and priority of each flow, sorted: what a FLOW stats reply lets us compare without parsing matches. */
export function flowShape(flows: readonly { table: number; priority: number }[]): string[] {
  return flows.map((f) => `${f.table}/${f.priority}`).sort();
}

/** Pure: what of `wanted` the bridge lacks, in words (empty: all there), from the flows of its cookie. */
export function missingGuardFlows(wanted: readonly GuardFlow[], present: readonly PresentFlow[]): string[] {
  const have = flowShape(present);
  const missing: string[] = [];
  for (const flow of wanted) {
    const at = have.indexOf(`${flow.add.table ?? 0}/${flow.add.priority ?? 0}`);
    if (at >= 0) have.splice(at, 1);
    else missing.push(flow.text);
  }
  return missing;
}

export interface GuardChange {
  /** In order: pipeline first, then each port's (re)install, then the deletes of leftovers. */
  mods: FlowMod[];
  /** Ports (re)installed and guards deleted, by cookie; pipeline flows added: for the log. */
  installed: bigint[];
  removed: bigint[];
  pipelineAdded: string[];
}

const attachmentOf = (cookie: bigint) => cookie & ATTACHMENT_COOKIE_MASK;

/**
 * Pure: from the guard and pipeline flows the bridge holds, what makes it hold exactly the
 * pipeline and `ports`' guards. A port whose flows are all there (same tables and priorities
 * under one cookie) is left alone; one without any gets them; one with a damaged set gets them
 * anew under the other generation, then loses the old one's leftovers. A guard cookie of no
 * wanted port is deleted (DEL or GC did not get to it, or the port is gone).
 */
export function diffGuards(ports: readonly GuardedPort[], present: readonly PresentFlow[]): GuardChange {
  const change: GuardChange = { mods: [], installed: [], removed: [], pipelineAdded: [] };
  const pipelineHave = new Set(present.filter((f) => (f.cookie & COOKIE_PREFIX_MASK) === PIPELINE_COOKIE_PREFIX).map((f) => f.cookie));
  for (const flow of pipelineFlows()) {
    if (pipelineHave.has(flow.add.cookie)) continue;
    change.mods.push(flow.add);
    change.pipelineAdded.push(flow.text);
  }
  const byAttachment = new Map<bigint, PresentFlow[]>();
  for (const f of present) {
    if ((f.cookie & COOKIE_PREFIX_MASK) !== GUARD_COOKIE_PREFIX) continue;
    const list = byAttachment.get(attachmentOf(f.cookie)) ?? [];
    list.push(f);
    byAttachment.set(attachmentOf(f.cookie), list);
  }
  const wantedAttachments = new Set<bigint>();
  for (const port of ports) {
    const attachment = attachmentOf(port.cookie);
    wantedAttachments.add(attachment);
    const have = byAttachment.get(attachment) ?? [];
    const generations = new Set(have.map((f) => f.cookie));
    const planned = planPortGuard({ ...port, cookie: attachment });
    if (generations.size === 1 && missingGuardFlows(planned, have).length === 0 && have.length === planned.length) continue;
    // The generation fewer of its flows hold (0 when none): replacing the flows of the same match
    // and priority, it leaves only the other generation's extras to delete.
    const gen0 = have.filter((f) => f.cookie === attachment).length;
    const fresh = have.length > 0 && gen0 * 2 >= have.length ? attachment | 1n : attachment;
    change.mods.push(...planPortGuard({ ...port, cookie: fresh }).map((f) => f.add));
    if (have.length > 0) change.mods.push(...[...generations].filter((c) => c !== fresh).map((c) => deleteGuard(c, EXACT_COOKIE_MASK)));
    change.installed.push(attachment);
  }
  for (const attachment of byAttachment.keys()) {
    if (wantedAttachments.has(attachment)) continue;
    change.mods.push(deleteGuard(attachment, ATTACHMENT_COOKIE_MASK));
    change.removed.push(attachment);
  }
  return change;
}

/** A delete, in every table, of the flows whose cookie & mask is cookie & mask. */
export function deleteGuard(cookie: bigint, mask: bigint = ATTACHMENT_COOKIE_MASK): FlowMod {
  return { command: 'delete', cookie: cookie & mask, cookieMask: mask };
}

/** Uninstall: every guard and pipeline flow of bridgeway, whatever its low half. */
export const DELETE_ALL_GUARDS: readonly FlowMod[] = [
  deleteGuard(GUARD_COOKIE_PREFIX, COOKIE_PREFIX_MASK),
  deleteGuard(PIPELINE_COOKIE_PREFIX, COOKIE_PREFIX_MASK),
];
