// The anti-spoofing table as `nft -j list table bridge bridgeway` prints it (nftables 1.0.6),
// read back into the ruleset's own terms (ruleset.ts: sets by name, Elements with typed key
// parts), so a reader compares what the kernel holds with attachmentElements() and never
// re-spells a set's fields. Each part is read by its set's declared field, in order:
//   "bw0123456789ab"                     iifname
//   "0a:58:0a:63:00:05"                  ether / arp sender MAC
//   "10.99.0.5", "fd00:99::5"            IPv4 / IPv6 addresses
//   "0xfd000099000000000000000000000005" the ND target, a raw 128-bit integer to nft
// An element with options (a timeout, a comment, a counter) is wrapped: {"elem": {"val": …}}.
import { parseIp } from '../cidr.ts';
import type { Element, Field, KeyPart, Ruleset } from './ruleset.ts';

export interface ListedTable {
  /** The names of the sets the table holds. */
  sets: string[];
  /** Every element of the ruleset's sets; sets the ruleset does not know are left out. */
  elements: Element[];
}

type Json = unknown;

/** Throws when the text is not nft's JSON or an element does not fit its set's fields. */
export function parseListedTable(text: string, ruleset: Ruleset): ListedTable {
  const doc = JSON.parse(text) as { nftables?: Json[] };
  if (!Array.isArray(doc.nftables)) throw new Error('not nft JSON output: no "nftables" list');
  const listed: ListedTable = { sets: [], elements: [] };
  for (const entry of doc.nftables) {
    const set = (entry as { set?: { name?: string; table?: string; family?: string; elem?: Json[] } }).set;
    if (!set || set.table !== ruleset.table || set.family !== ruleset.family || typeof set.name !== 'string') continue;
    const name = set.name;
    listed.sets.push(name);
    const spec = ruleset.sets.find((s) => s.name === name);
    if (!spec) continue;
    for (const elem of set.elem ?? []) {
      const value = typeof elem === 'object' && elem !== null && 'elem' in elem ? (elem as { elem: { val: Json } }).elem.val : elem;
      const parts = typeof value === 'object' && value !== null && 'concat' in value ? (value as { concat: Json[] }).concat : [value];
      if (parts.length !== spec.key.length) throw new Error(`set ${name}: element ${JSON.stringify(value)} does not have its ${spec.key.length} fields`);
      listed.elements.push({ set: name, key: parts.map((part, i) => keyPart(part, spec.key[i]!, name)) });
    }
  }
  return listed;
}

function keyPart(part: Json, field: Field, set: string): KeyPart {
  const bad = () => new Error(`set ${set}: ${JSON.stringify(part)} is not a ${field}`);
  if (field === 'iifname') {
    if (typeof part !== 'string') throw bad();
    return { ifname: part };
  }
  if (field === 'ether saddr' || field === 'arp saddr ether') {
    if (typeof part !== 'string' || !/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(part)) throw bad();
    return { mac: part.toLowerCase() };
  }
  if (field === 'nd target') {
    if (typeof part !== 'string' && typeof part !== 'number') throw bad();
    return { ip: { family: 6, value: BigInt(part) } };
  }
  const ip = typeof part === 'string' ? parseIp(part) : undefined;
  if (!ip || ip.family !== (field === 'ip6 saddr' ? 6 : 4)) throw bad();
  return { ip };
}

/** One string per element, equal exactly when set and key are: for comparing sets of elements. */
export function elementId(element: Element): string {
  return `${element.set} ${element.key.map(partId).join(' . ')}`;
}

function partId(part: KeyPart): string {
  if ('ifname' in part) return part.ifname;
  if ('mac' in part) return part.mac.toLowerCase();
  return `${part.ip.family}:${part.ip.value.toString(16)}`;
}

/** The port (iifname) an element belongs to: every set's key starts with it. */
export function elementPort(element: Element): string | undefined {
  const first = element.key[0];
  return first && 'ifname' in first ? first.ifname : undefined;
}
