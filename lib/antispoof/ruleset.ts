// The anti-spoofing ruleset as data (issue 17): one nftables table of our own in the bridge
// family, its sets and chains, and each attachment's elements. Pure; two spellings read it:
// nft-text.ts (the `nft -f` text: the iproute2 fallback's input and the tests' oracle) and
// netlink.ts (nf_tables messages, which the plugin sends itself). They must agree: the
// integration test loads both into the kernel and compares `nft list`.
//
// What a pod could do on a shared bridge, and the rule that stops it (all from pod ports only):
//   forge its source MAC (and so move another pod's MAC to its port in the FDB)  -> port_mac
//   forge its IPv4 / IPv6 source address                                         -> port_ipv4/6
//   claim another address with ARP (sender MAC + IPv4)                           -> port_arp
//   claim another address with a neighbour advertisement (its target)            -> port_nd_target
//   act as a router or DHCP server: RA (ICMPv6 134), redirects (ICMPv6 137,
//   ICMP 5), DHCPv4 (UDP source port 67), DHCPv6 (UDP source port 547)           -> dropped
//   smuggle any of it in a VLAN tag or another ethertype                         -> dropped
// Every per-pod check is ONE lookup in a set keyed by `iifname . <field>`: the cost per packet
// does not grow with the number of pods, and an attachment is its elements alone (ADD adds them,
// DEL deletes them, the rules never change after the table is made).
//
// Only guarded ports are judged: a port enters guarded_ports with its other elements, in the same
// transaction, and a frame from a port in neither port_mac nor guarded_ports passes the base
// chain's policy (accept). The upgrade case decides this: on a node upgraded to this version, the
// first ADD creates the table while older pods run on host veths that have no elements. Judging
// every pod port ("bw*") would drop all their frames, and so cut every running pod off; judged
// by their elements they keep working, unprotected, until recreated (the doctor says so). The
// same makes the uplink, the bridge itself and other bridges' ports pass: no name prefix needed.
//
// The order of the base chain is the per-packet cost (bench:net measures it; issue 17's target is
// >= 0.97x the throughput without the filter): a guarded pod's own frame, the common case, is
// settled by ONE lookup of its port and source MAC in port_mac, which both says the port is
// guarded and checks its MAC, and goes on to its family's chain. Only a frame that misses there
// takes a second lookup, in guarded_ports: a guarded port with a forged MAC (drop) or a port that
// is not guarded (accept). The first order, guarded_ports then port_mac, cost every pod frame two
// lookups and two loads of the port name: profiled with perf on one pod -> pod TCP flow across
// nodes, alternating, the filter took 1.75% of the flow's CPU in that order and 1.56% in this one
// (bench/README.md).
//
// The hook: bridge `prerouting` sees every frame that enters a bridge port, whether the bridge
// then forwards it to another port or delivers it locally (the gateway, the node, routing off
// the node); `forward` would miss the locally delivered ones and `input` the bridged ones. There
// `meta iifname` is the port the frame came in on, i.e. the pod's host veth ("bw…",
// lib/names.ts), which is what the sets are keyed by: a pod cannot choose its port.
// The priority: `filter` (-200, NF_BR_PRI_FILTER_BRIDGED in
// include/uapi/linux/netfilter_bridge.h): after bridge dstnat (-300, which changes destinations
// only) and before br_netfilter (NF_BR_PRI_BRNF, 0), which hands bridged IP packets to iptables
// when bridge-nf-call-iptables is on: a spoofed packet is dropped before it can create conntrack
// state or meet kube-proxy's rules. A drop in any base chain is final, so other tables' chains
// at the same priority cannot let a spoofed frame through.
import type { IpAddress } from '../cidr.ts';
import { parseMac } from '../mac.ts';
import { ANTISPOOF_TABLE } from '../names.ts';

/** What a set's key is made of, in order; each is what nft calls the expression. */
export type Field = 'iifname' | 'ether saddr' | 'arp saddr ether' | 'arp saddr ip' | 'ip saddr' | 'ip6 saddr' | 'nd target';

export interface SetSpec {
  name: string;
  key: readonly Field[];
}

/** The matches our rules need, no more: each is one nft expression and its implied dependencies. */
export type Match =
  | { match: 'ether-type'; etherType: EtherType }
  | { match: 'icmp-type'; type: number }
  | { match: 'icmpv6-type'; type: number }
  | { match: 'udp-sport'; port: number }
  /** `ip6 saddr ::`: duplicate address detection and its MLD reports (RFC 4862 5.4.2, RFC 3590). */
  | { match: 'ip6-saddr-unspecified' }
  /** `<key> @set` (present) or `<key> != @set` (absent): one lookup. */
  | { match: 'set'; set: string; key: readonly Field[]; present: boolean };

export type EtherType = 'arp' | 'ip' | 'ip6';
export type Verdict = { verdict: 'accept' | 'drop' } | { verdict: 'goto'; chain: string };

export interface Rule {
  matches: readonly Match[];
  verdict: Verdict;
}

export interface BaseHook {
  hook: 'prerouting';
  /** NF_BR_PRI_FILTER_BRIDGED; nft spells it `filter` in the bridge family. */
  priority: -200;
  policy: 'accept';
}

export interface ChainSpec {
  name: string;
  /** Only the chain the packet path enters has a hook; the others are reached by goto. */
  hook?: BaseHook;
  rules: readonly Rule[];
}

export interface Ruleset extends ElementSets {
  /** In creation order: the chains a goto names come before the chain that names them. */
  chains: readonly ChainSpec[];
}

export const SET = { guarded: 'guarded_ports', mac: 'port_mac', arp: 'port_arp', ipv4: 'port_ipv4', ipv6: 'port_ipv6', ndTarget: 'port_nd_target' } as const;
export const CHAIN = { arp: 'from_pod_arp', ipv4: 'from_pod_ipv4', ipv6: 'from_pod_ipv6', guarded: 'from_guarded_port', base: 'from_pods' } as const;

/** ICMP and ICMPv6 types (include/uapi/linux/icmp.h, icmpv6.h) and the DHCP server ports. */
export const ICMP_REDIRECT = 5;
export const ICMPV6 = { routerAdvert: 134, neighborSolicit: 135, neighborAdvert: 136, redirect: 137, mld2Report: 143 } as const;
export const DHCPV4_SERVER_PORT = 67;
export const DHCPV6_SERVER_PORT = 547;

const drop: Verdict = { verdict: 'drop' };
const accept: Verdict = { verdict: 'accept' };
const notIn = (set: string, ...key: Field[]): Match => ({ match: 'set', set, key: ['iifname', ...key], present: false });
const isIn = (set: string, ...key: Field[]): Match => ({ match: 'set', set, key: ['iifname', ...key], present: true });

/**
 * The table's name and its sets: all that adding or deleting an attachment's elements needs. ADD
 * encodes its elements from this alone, and builds the rules (antispoofRuleset) only when it has
 * to make the table, once per node.
 */
export interface ElementSets {
  readonly family: 'bridge';
  readonly table: string;
  readonly sets: readonly SetSpec[];
}

export const ANTISPOOF_SETS: ElementSets = {
  family: 'bridge',
  table: ANTISPOOF_TABLE,
  sets: [
    // The ports the chains judge. First: its element is the first of an attachment's.
    { name: SET.guarded, key: ['iifname'] },
    { name: SET.mac, key: ['iifname', 'ether saddr'] },
    { name: SET.arp, key: ['iifname', 'arp saddr ether', 'arp saddr ip'] },
    { name: SET.ipv4, key: ['iifname', 'ip saddr'] },
    { name: SET.ipv6, key: ['iifname', 'ip6 saddr'] },
    // The same addresses as port_ipv6, keyed by the raw ND target (@th,64,128): nft has no
    // typed name for it before 1.0.9 (`icmpv6 taddr`), and a raw field cannot be looked up
    // in an ipv6_addr set.
    { name: SET.ndTarget, key: ['iifname', 'nd target'] },
  ],
};

/** The whole table. Its rules never change with attachments; only the sets' elements do. */
export function antispoofRuleset(): Ruleset {
  return {
    ...ANTISPOOF_SETS,
    chains: [
      {
        name: CHAIN.arp,
        rules: [
          // Sender MAC and IPv4 together: an ARP reply or request claiming any other pair is
          // dropped (the port's own MAC with 0.0.0.0 is an RFC 5227 probe, see the elements).
          { matches: [notIn(SET.arp, 'arp saddr ether', 'arp saddr ip')], verdict: drop },
        ],
      },
      {
        name: CHAIN.ipv4,
        rules: [
          { matches: [{ match: 'icmp-type', type: ICMP_REDIRECT }], verdict: drop },
          { matches: [{ match: 'udp-sport', port: DHCPV4_SERVER_PORT }], verdict: drop },
          { matches: [notIn(SET.ipv4, 'ip saddr')], verdict: drop },
        ],
      },
      {
        name: CHAIN.ipv6,
        rules: [
          { matches: [{ match: 'icmpv6-type', type: ICMPV6.routerAdvert }], verdict: drop },
          { matches: [{ match: 'icmpv6-type', type: ICMPV6.redirect }], verdict: drop },
          { matches: [{ match: 'udp-sport', port: DHCPV6_SERVER_PORT }], verdict: drop },
          // DAD: a solicitation from :: for one of the port's own (tentative) addresses. Any
          // other target would let a pod fail its neighbours' DAD.
          {
            matches: [
              { match: 'ip6-saddr-unspecified' },
              { match: 'icmpv6-type', type: ICMPV6.neighborSolicit },
              { match: 'set', set: SET.ndTarget, key: ['iifname', 'nd target'], present: true },
            ],
            verdict: accept,
          },
          // The MLD report joining the solicited-node group precedes DAD and has no address to
          // come from yet (RFC 3590); without it multicast snooping on the bridge can miss the group.
          { matches: [{ match: 'ip6-saddr-unspecified' }, { match: 'icmpv6-type', type: ICMPV6.mld2Report }], verdict: accept },
          { matches: [notIn(SET.ipv6, 'ip6 saddr')], verdict: drop },
          // From its own address a pod may still advertise someone else's: the target decides.
          { matches: [{ match: 'icmpv6-type', type: ICMPV6.neighborAdvert }, notIn(SET.ndTarget, 'nd target')], verdict: drop },
        ],
      },
      {
        // A guarded port's frame from its own MAC: on to its family's checks.
        name: CHAIN.guarded,
        rules: [
          { matches: [{ match: 'ether-type', etherType: 'arp' }], verdict: { verdict: 'goto', chain: CHAIN.arp } },
          { matches: [{ match: 'ether-type', etherType: 'ip' }], verdict: { verdict: 'goto', chain: CHAIN.ipv4 } },
          { matches: [{ match: 'ether-type', etherType: 'ip6' }], verdict: { verdict: 'goto', chain: CHAIN.ipv6 } },
          // Anything else (VLAN tags, PPPoE, raw ethertypes) would carry IP past every check
          // above; a pod on this network has no use for it. (goto: the chains above end in the
          // base chain's policy, accept, when no rule drops.)
          { matches: [], verdict: drop },
        ],
      },
      {
        name: CHAIN.base,
        hook: { hook: 'prerouting', priority: -200, policy: 'accept' },
        rules: [
          // One lookup for a guarded pod's own frames (see the top).
          { matches: [isIn(SET.mac, 'ether saddr')], verdict: { verdict: 'goto', chain: CHAIN.guarded } },
          // Missed: a guarded port's forged source MAC. Every other port (an upgrade's older
          // pods, the uplink, other bridges' ports) passes untouched, by the policy.
          { matches: [isIn(SET.guarded)], verdict: drop },
        ],
      },
    ],
  };
}

/** One value of an element's key, in the order of its set's fields. */
export type KeyPart = { ifname: string } | { mac: string } | { ip: IpAddress };

export interface Element {
  set: string;
  key: readonly KeyPart[];
}

/** What one attachment is allowed to send as: its port, its MAC, its addresses. */
export interface Attachment {
  /** The host veth, the bridge port the pod's frames enter by. */
  port: string;
  /** The pod interface's MAC. */
  mac: string;
  addresses: readonly IpAddress[];
}

const UNSPECIFIED_V4: IpAddress = { family: 4, value: 0n };

/**
 * The elements ADD adds and DEL deletes for one attachment, set by set. First the port in
 * guarded_ports and its MAC in port_mac, which make the chains judge it: in the same transaction
 * as the rest, a port is never guarded without its allowed values, and once its elements are
 * deleted it passes unjudged.
 * The IPv6 link-local address the kernel gives the pod's interface (EUI-64 from its MAC, in
 * addr_gen_mode 0, which ADD sets on the interface before it comes up: cni/plan.ts) is always
 * included: the pod uses it for neighbour discovery and MLD whether or not it has a global IPv6
 * address.
 */
export function attachmentElements(attachment: Attachment): Element[] {
  const port = { ifname: attachment.port };
  const mac = { mac: attachment.mac };
  const ipv4 = attachment.addresses.filter((a) => a.family === 4);
  const ipv6 = [...attachment.addresses.filter((a) => a.family === 6), linkLocalFromMac(attachment.mac)];
  return [
    { set: SET.guarded, key: [port] },
    { set: SET.mac, key: [port, mac] },
    // With sender 0.0.0.0: an RFC 5227 probe (arping -D, DHCP clients) names no address to poison.
    ...[...ipv4, ...(ipv4.length > 0 ? [UNSPECIFIED_V4] : [])].map((ip): Element => ({ set: SET.arp, key: [port, mac, { ip }] })),
    ...ipv4.map((ip): Element => ({ set: SET.ipv4, key: [port, { ip }] })),
    ...ipv6.map((ip): Element => ({ set: SET.ipv6, key: [port, { ip }] })),
    ...ipv6.map((ip): Element => ({ set: SET.ndTarget, key: [port, { ip }] })),
  ];
}

/**
 * Elements grouped by the port they belong to (every set's key starts with it), in the order
 * given: what GC judges port by port and CHECK looks up for one attachment.
 */
export function elementsByPort(elements: readonly Element[]): Map<string, Element[]> {
  const ports = new Map<string, Element[]>();
  for (const element of elements) {
    const first = element.key[0];
    if (!first || !('ifname' in first)) continue;
    const list = ports.get(first.ifname) ?? [];
    if (list.length === 0) ports.set(first.ifname, list);
    list.push(element);
  }
  return ports;
}

/** fe80::/64 + the modified EUI-64 of the MAC (RFC 4291 appendix A): ff:fe in the middle, U/L bit flipped. */
export function linkLocalFromMac(mac: string): IpAddress {
  const b = parseMac(mac);
  const eui = [b[0]! ^ 0x02, b[1]!, b[2]!, 0xff, 0xfe, b[3]!, b[4]!, b[5]!];
  const interfaceId = eui.reduce((n, byte) => (n << 8n) | BigInt(byte), 0n);
  return { family: 6, value: (0xfe80n << 112n) | interfaceId };
}
