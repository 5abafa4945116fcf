// The compiled NetworkPolicy table as data: nftables sets, verdict maps and chains in the inet
// family, each object what nft would list, plus what explain() needs to name the policy rules
// behind a verdict. compile.ts makes it, nft-text.ts spells it for `nft -f`, diff.ts plans the
// minimal change between two of them, explain.ts evaluates a packet against it as the kernel does.
// The shape of the chains (why forward, why these lookups) is in docs/architecture.md, "NetworkPolicy".
import type { IpAddress } from '../../lib/cidr.ts';
import type { Direction, RuleRef } from './model.ts';
import type { AddressRange } from './ranges.ts';

/** The packet fields our rules read, spelled as nft spells them. */
export type Field = 'ip saddr' | 'ip daddr' | 'ip6 saddr' | 'ip6 daddr' | 'meta l4proto' | 'th dport';
export type KeyType = 'ipv4_addr' | 'ipv6_addr' | 'inet_proto' | 'inet_service';

export const FIELD_TYPE: Record<Field, KeyType> = {
  'ip saddr': 'ipv4_addr', 'ip daddr': 'ipv4_addr', 'ip6 saddr': 'ipv6_addr', 'ip6 daddr': 'ipv6_addr',
  'meta l4proto': 'inet_proto', 'th dport': 'inet_service',
};

/** One part of an element's key: an exact value or an inclusive range of one field. */
export type KeyPart =
  | { ip: IpAddress }
  | { range: AddressRange }
  | { proto: number }
  | { port: number }
  | { ports: readonly [number, number] };

export type Verdict = { verdict: 'accept' | 'drop' | 'return' } | { verdict: 'jump' | 'goto'; chain: string };

export interface Element {
  key: readonly KeyPart[];
  /** Only in a verdict map. */
  to?: Verdict & { verdict: 'jump' | 'goto' };
}

export interface SetSpec {
  name: string;
  key: readonly Field[];
  /** Elements may be ranges (nft `flags interval`). */
  interval: boolean;
  /** A verdict map (`: verdict`) rather than a set. */
  verdictMap: boolean;
  elements: readonly Element[];
}

export type Match =
  | { match: 'ct-established' }
  /** ICMPv6 neighbour solicitations and advertisements with hop limit 255 (RFC 4861 7.1: never routed). */
  | { match: 'neighbour-discovery' }
  | { match: 'lookup'; set: string; key: readonly Field[] };

export interface VerdictRule {
  matches: readonly Match[];
  verdict: Verdict;
  /** The policy rules whose peers this verdict allows (explain() names the ones that matched). */
  because?: readonly RuleRef[];
  /** Why the rule is there, for a verdict no policy rule decides. */
  note?: string;
}

/** `<key> vmap @set`: the element's verdict, or on to the next rule when nothing matches. */
export interface VmapRule {
  vmap: string;
  key: readonly Field[];
}

export type Rule = VerdictRule | VmapRule;

/** Who a chain speaks for, so a verdict reached in it can be explained. */
export type ChainRole =
  | { role: 'base' }
  /** A class of this node's pods isolated for `direction` by exactly these policies. */
  | { role: 'class'; direction: Direction; policies: readonly string[] }
  /** The peers of exactly these rules (their ports matched). */
  | { role: 'peers'; direction: Direction; rules: readonly RuleRef[] };

export interface Hook {
  hook: 'forward';
  /** NF_IP_PRI_FILTER: nft spells it `filter`. Where other base chains at 0 run is irrelevant: a drop anywhere is final. */
  priority: 0;
  policy: 'accept';
}

export interface ChainSpec {
  name: string;
  hook?: Hook;
  role: ChainRole;
  rules: readonly Rule[];
}

export interface PolicyTable {
  family: 'inet';
  name: string;
  /** Declaration order: sets first, then chains that jump come after the chains they name. */
  sets: readonly SetSpec[];
  chains: readonly ChainSpec[];
}

export const isVmap = (rule: Rule): rule is VmapRule => 'vmap' in rule;

/** The names of the fixed objects; per-class and per-peer-set objects are named in compile.ts. */
export const BASE = {
  chain: 'pods_forward',
  self: { 4: 'self4', 6: 'self6' },
  from: { 4: 'from_pod4', 6: 'from_pod6' },
  to: { 4: 'to_pod4', 6: 'to_pod6' },
} as const;
