// The policy table (table.ts) spelled for `nft -f`: the whole table as one atomic transaction that
// replaces whatever table of that name was there (the agent's first apply, and its repair), and a
// minimal change (diff.ts) as another. nft applies one file as one transaction: every packet
// sees either the old table or the new one, never a half-made one.
import { formatIp, familyBits } from '../../lib/cidr.ts';
import type { AddressRange } from './ranges.ts';
import { FIELD_TYPE, isVmap, type ChainSpec, type Element, type KeyPart, type Match, type PolicyTable, type Rule, type SetSpec, type Verdict } from './table.ts';
import type { TableChange } from './diff.ts';

const PROTO_NAMES: Record<number, string> = { 6: 'tcp', 17: 'udp', 132: 'sctp' };

/** A range as nft lists it: a prefix when it is one, else `first-last`. */
export function rangeText(range: AddressRange): string {
  const bits = familyBits(range.family);
  const size = range.last - range.first + 1n;
  const hostBits = size > 0n && (size & (size - 1n)) === 0n ? size.toString(2).length - 1 : -1;
  const one = (value: bigint) => formatIp({ family: range.family, value });
  if (size === 1n) return one(range.first);
  if (hostBits > 0 && range.first % size === 0n) return `${one(range.first)}/${bits - hostBits}`;
  return `${one(range.first)}-${one(range.last)}`;
}

function partText(part: KeyPart): string {
  if ('ip' in part) return formatIp(part.ip);
  if ('range' in part) return rangeText(part.range);
  if ('proto' in part) return PROTO_NAMES[part.proto] ?? String(part.proto);
  if ('port' in part) return String(part.port);
  return part.ports[0] === part.ports[1] ? String(part.ports[0]) : `${part.ports[0]}-${part.ports[1]}`;
}

function verdictText(v: Verdict): string {
  return v.verdict === 'jump' || v.verdict === 'goto' ? `${v.verdict} ${v.chain}` : v.verdict;
}

export function elementText(element: Element): string {
  const key = element.key.map(partText).join(' . ');
  return element.to ? `${key} : ${verdictText(element.to)}` : key;
}

function matchText(m: Match): string {
  switch (m.match) {
    case 'ct-established': return 'ct state established,related';
    case 'neighbour-discovery': return 'ip6 hoplimit 255 icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert }';
    case 'lookup': return `${m.key.join(' . ')} @${m.set}`;
  }
}

export function ruleText(rule: Rule): string {
  if (isVmap(rule)) return `${rule.key.join(' . ')} vmap @${rule.vmap}`;
  return [...rule.matches.map(matchText), verdictText(rule.verdict)].join(' ');
}

function setHeader(set: Omit<SetSpec, 'elements'>): string[] {
  const type = set.key.map((f) => FIELD_TYPE[f]).join(' . ');
  return [`type ${type}${set.verdictMap ? ' : verdict' : ''}`, ...(set.interval ? ['flags interval'] : [])];
}

const kind = (set: Omit<SetSpec, 'elements'>) => (set.verdictMap ? 'map' : 'set');

function renderSet(set: SetSpec): string {
  const lines = setHeader(set);
  if (set.elements.length > 0) lines.push(`elements = { ${set.elements.map(elementText).join(',\n\t\t\t     ')} }`);
  return `\t${kind(set)} ${set.name} {\n${lines.map((l) => `\t\t${l}\n`).join('')}\t}\n`;
}

function renderChain(chain: ChainSpec): string {
  const lines: string[] = [];
  if (chain.hook) lines.push(`type filter hook ${chain.hook.hook} priority filter; policy ${chain.hook.policy};`);
  lines.push(...chain.rules.map(ruleText));
  return `\tchain ${chain.name} {\n${lines.map((l) => `\t\t${l}\n`).join('')}\t}\n`;
}

/** The table block: sets, then chains in the table's order. */
export function renderTable(table: PolicyTable): string {
  return `table ${table.family} ${table.name} {\n${[...table.sets.map(renderSet), ...table.chains.map(renderChain)].join('\n')}}\n`;
}

/**
 * The whole table in one transaction: `add` first so that `delete` finds one on a node without
 * it (nft 1.0.6 has no `destroy`), then the table anew.
 */
export function renderReplace(table: PolicyTable): string {
  return `add table ${table.family} ${table.name}\ndelete table ${table.family} ${table.name}\n${renderTable(table)}`;
}

/** Removes the table (uninstall; BRIDGEWAY_NETWORK_POLICY=false), also when there is none. */
export function renderRemove(table: Pick<PolicyTable, 'family' | 'name'>): string {
  return `add table ${table.family} ${table.name}\ndelete table ${table.family} ${table.name}\n`;
}

/** A minimal change (diff.ts), one command a line, for one `nft -f`. */
export function renderChanges(table: Pick<PolicyTable, 'family' | 'name'>, changes: readonly TableChange[]): string {
  const where = `${table.family} ${table.name}`;
  const lines: string[] = [];
  for (const change of changes) {
    switch (change.op) {
      case 'replace-table': lines.push(renderReplace(change.table).trimEnd()); break;
      case 'add-chain': lines.push(`add chain ${where} ${change.chain}`); break;
      case 'add-set': lines.push(`add ${kind(change.set)} ${where} ${change.set.name} { ${setHeader(change.set).join('; ')}; }`); break;
      case 'add-elements': lines.push(`add element ${where} ${change.set} { ${change.elements.map(elementText).join(', ')} }`); break;
      case 'delete-elements': lines.push(`delete element ${where} ${change.set} { ${change.elements.map(elementText).join(', ')} }`); break;
      case 'replace-rules':
        lines.push(`flush chain ${where} ${change.chain.name}`);
        for (const rule of change.chain.rules) lines.push(`add rule ${where} ${change.chain.name} ${ruleText(rule)}`);
        break;
      case 'flush-chain': lines.push(`flush chain ${where} ${change.chain}`); break;
      case 'delete-chain': lines.push(`delete chain ${where} ${change.chain}`); break;
      case 'delete-set': lines.push(`delete ${change.verdictMap ? 'map' : 'set'} ${where} ${change.set}`); break;
    }
  }
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}
