// The anti-spoofing ruleset (ruleset.ts) spelled as `nft -f` text: what the iproute2 fallback
// (the bundle on Node, no FFI) will pipe to one `nft -f -`, and the tests' oracle. The table is
// spelled exactly as `nft list table bridge bridgeway` prints it (nftables 1.0.6), so a listing
// of the kernel's table can be compared with this text as it is.
import { formatIp } from '../cidr.ts';
import type { Element, ElementSets, EtherType, Field, KeyPart, Match, Rule, Ruleset, SetSpec, Verdict } from './ruleset.ts';

/** How nft names each field's type in a `type a . b` set declaration, and in expressions. */
const FIELD: Record<Field, { type: string; expression: string }> = {
  'iifname': { type: 'ifname', expression: 'iifname' },
  'ether saddr': { type: 'ether_addr', expression: 'ether saddr' },
  'arp saddr ether': { type: 'ether_addr', expression: 'arp saddr ether' },
  'arp saddr ip': { type: 'ipv4_addr', expression: 'arp saddr ip' },
  'ip saddr': { type: 'ipv4_addr', expression: 'ip saddr' },
  'ip6 saddr': { type: 'ipv6_addr', expression: 'ip6 saddr' },
  // The target address of a neighbour solicitation or advertisement: 64 bits into ICMPv6.
  'nd target': { type: '', expression: '@th,64,128' },
};

/** nft's names for the ICMP(v6) types we match (nft describe icmp type / icmpv6 type). */
const ICMP_NAMES: Record<number, string> = { 5: 'redirect' };
const ICMPV6_NAMES: Record<number, string> = {
  134: 'nd-router-advert', 135: 'nd-neighbor-solicit', 136: 'nd-neighbor-advert', 137: 'nd-redirect', 143: 'mld2-listener-report',
};
const ETHER_TYPES: Record<EtherType, string> = { arp: 'arp', ip: 'ip', ip6: 'ip6' };
/** nft's names for the bridge family's standard priorities (nft(8), PRIORITIES). */
const PRIORITY_NAMES: Record<number, string> = { [-300]: 'dstnat', [-200]: 'filter', 100: 'out', 300: 'srcnat' };

/** A set's key declaration: `type a . b`, or `typeof …` when a part has no type name (raw payload). */
function keyDeclaration(set: SetSpec): string {
  if (set.key.every((f) => FIELD[f].type)) return `type ${set.key.map((f) => FIELD[f].type).join(' . ')}`;
  return `typeof ${set.key.map((f) => FIELD[f].expression).join(' . ')}`;
}

function renderMatch(m: Match): string {
  switch (m.match) {
    case 'ether-type': return `ether type ${ETHER_TYPES[m.etherType]}`;
    case 'icmp-type': return `icmp type ${ICMP_NAMES[m.type] ?? m.type}`;
    case 'icmpv6-type': return `icmpv6 type ${ICMPV6_NAMES[m.type] ?? m.type}`;
    case 'udp-sport': return `udp sport ${m.port}`;
    case 'ip6-saddr-unspecified': return 'ip6 saddr ::';
    case 'set': return `${m.key.map((f) => FIELD[f].expression).join(' . ')} ${m.present ? '' : '!= '}@${m.set}`;
  }
}

function renderVerdict(v: Verdict): string {
  return v.verdict === 'goto' ? `goto ${v.chain}` : v.verdict;
}

export function renderRule(rule: Rule): string {
  return [...rule.matches.map(renderMatch), renderVerdict(rule.verdict)].join(' ');
}

/** The table as one block, as `nft list table` prints it (without elements). */
export function renderTable(ruleset: Ruleset): string {
  const blocks = [
    ...ruleset.sets.map((set) => `\tset ${set.name} {\n\t\t${keyDeclaration(set)}\n\t}\n`),
    ...ruleset.chains.map((chain) => {
      const hook = chain.hook
        ? [`type filter hook ${chain.hook.hook} priority ${PRIORITY_NAMES[chain.hook.priority] ?? chain.hook.priority}; policy ${chain.hook.policy};`]
        : [];
      return `\tchain ${chain.name} {\n${[...hook, ...chain.rules.map(renderRule)].map((line) => `\t\t${line}\n`).join('')}\t}\n`;
    }),
  ];
  return `table ${ruleset.family} ${ruleset.table} {\n${blocks.join('\n')}}\n`;
}

/**
 * Creating the table, race-safe and idempotent: `create table` fails with "File exists" when the
 * table is there, and nft sends the whole file as one transaction, so either this run made the
 * complete table or another one did (the caller treats EEXIST as done). Re-adding an existing
 * table's block would append every rule again.
 */
export function renderInstall(ruleset: Ruleset): string {
  return `create table ${ruleset.family} ${ruleset.table}\n${renderTable(ruleset)}`;
}

function renderKeyPart(part: KeyPart, field: Field): string {
  if ('ifname' in part) return `"${part.ifname}"`;
  if ('mac' in part) return part.mac;
  if (field === 'nd target') return `0x${part.ip.value.toString(16).padStart(32, '0')}`; // an integer to nft
  return formatIp(part.ip);
}

/**
 * `add element` / `delete element` lines, one per set, in the sets' order. nft deletes all or
 * nothing: a missing element fails the whole file (the caller retries element by element).
 */
export function renderElements(ruleset: ElementSets, op: 'add' | 'delete', elements: readonly Element[]): string {
  return ruleset.sets
    .map((set) => {
      const keys = elements.filter((e) => e.set === set.name).map((e) => e.key.map((part, i) => renderKeyPart(part, set.key[i]!)).join(' . '));
      return keys.length === 0 ? '' : `${op} element ${ruleset.family} ${ruleset.table} ${set.name} { ${keys.join(', ')} }\n`;
    })
    .join('');
}
