// The minimal change from one compiled table to the next, as data (pure). Names stand for what
// an object means (compile.ts), so a new pod, a label change or a moved pod becomes element
// changes; a new set of rules adds its chain and sets; what no longer exists is removed. The
// changes are ordered so that one nft transaction is valid at every command: an object exists
// before anything names it, and nothing names an object when it is deleted.
//   1. add-chain      new chains (empty), so rules and map elements can name them
//   2. add-set        new sets and maps
//   3. replace-rules  new and changed chains (flush + add): they name new sets and chains only
//   4. delete-elements  stale elements of kept sets (a map element to a chain about to go, too)
//   5. add-elements   new elements (new sets' too, and a map element whose chain changed)
//   6. flush-chain    chains that go: their rules name sets and chains that go
//   7. delete-set     sets that go: now named by no rule
//   8. delete-chain   chains that go: now named by no rule and no map element
// A set whose type changed under the same name, or a base chain whose hook changed, cannot be
// changed in place: the plan is then to replace the whole table (still one transaction).
import type { ChainSpec, Element, KeyPart, PolicyTable, SetSpec } from './table.ts';

export type TableChange =
  | { op: 'replace-table'; table: PolicyTable; why: string }
  | { op: 'add-chain'; chain: string }
  | { op: 'add-set'; set: Omit<SetSpec, 'elements'> }
  | { op: 'replace-rules'; chain: ChainSpec }
  | { op: 'delete-elements'; set: string; elements: readonly Element[] }
  | { op: 'add-elements'; set: string; elements: readonly Element[] }
  | { op: 'flush-chain'; chain: string }
  | { op: 'delete-set'; set: string; verdictMap: boolean }
  | { op: 'delete-chain'; chain: string };

/**
 * Element keys for one diff. An address object recurs in many sets of one table (a pod is a peer
 * of every rule that selects it), so its text is made once per diff: at 200,000 elements the
 * BigInt-to-string conversions were most of the diff's time.
 */
function elementKeys(): (element: Element) => string {
  const ips = new WeakMap<object, string>();
  const partKey = (part: KeyPart): string => {
    if ('ip' in part) {
      let text = ips.get(part.ip);
      if (text === undefined) ips.set(part.ip, (text = `ip ${part.ip.family} ${part.ip.value}`));
      return text;
    }
    if ('range' in part) return `range ${part.range.family} ${part.range.first} ${part.range.last}`;
    if ('proto' in part) return `proto ${part.proto}`;
    if ('port' in part) return `port ${part.port}`;
    return `ports ${part.ports[0]} ${part.ports[1]}`;
  };
  return (element) => {
    const key = element.key.length === 1 ? partKey(element.key[0]!) : element.key.map(partKey).join(' . ');
    return element.to ? `${key} : ${element.to.verdict} ${element.to.chain}` : key;
  };
}

/** An element's identity, its verdict included (a changed verdict is a delete and an add). */
export function elementKey(element: Element): string {
  return elementKeys()(element);
}

function samePart(a: KeyPart, b: KeyPart): boolean {
  if ('ip' in a) return 'ip' in b && a.ip.family === b.ip.family && a.ip.value === b.ip.value;
  if ('range' in a) return 'range' in b && a.range.family === b.range.family && a.range.first === b.range.first && a.range.last === b.range.last;
  if ('proto' in a) return 'proto' in b && a.proto === b.proto;
  if ('port' in a) return 'port' in b && a.port === b.port;
  return 'ports' in b && a.ports[0] === b.ports[0] && a.ports[1] === b.ports[1];
}

function sameElement(a: Element, b: Element): boolean {
  if (a === b) return true;
  if (a.key.length !== b.key.length) return false;
  for (let i = 0; i < a.key.length; i++) if (!samePart(a.key[i]!, b.key[i]!)) return false;
  if (!a.to || !b.to) return !a.to && !b.to;
  return a.to.verdict === b.to.verdict && a.to.chain === b.to.chain;
}

/** The same elements in the same order (compile.ts sorts them), without making any key. */
function sameElements(a: readonly Element[], b: readonly Element[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!sameElement(a[i]!, b[i]!)) return false;
  return true;
}

const header = (set: SetSpec) => JSON.stringify([set.key, set.interval, set.verdictMap]);
const rulesOf = (chain: ChainSpec) => JSON.stringify(chain.rules, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));

export function diffTables(before: PolicyTable, after: PolicyTable): TableChange[] {
  if (before.family !== after.family || before.name !== after.name) return [{ op: 'replace-table', table: after, why: 'another table' }];
  const oldSets = new Map(before.sets.map((s) => [s.name, s]));
  const newSets = new Map(after.sets.map((s) => [s.name, s]));
  const oldChains = new Map(before.chains.map((c) => [c.name, c]));
  const newChains = new Map(after.chains.map((c) => [c.name, c]));
  for (const set of after.sets) {
    const old = oldSets.get(set.name);
    if (old && header(old) !== header(set)) return [{ op: 'replace-table', table: after, why: `set ${set.name} changed its type` }];
  }
  for (const chain of after.chains) {
    const old = oldChains.get(chain.name);
    if (old && JSON.stringify(old.hook) !== JSON.stringify(chain.hook)) return [{ op: 'replace-table', table: after, why: `chain ${chain.name} changed its hook` }];
    if (!old && chain.hook) return [{ op: 'replace-table', table: after, why: `new base chain ${chain.name}` }];
  }

  const changes: TableChange[] = [];
  for (const chain of after.chains) if (!oldChains.has(chain.name)) changes.push({ op: 'add-chain', chain: chain.name });
  for (const set of after.sets) {
    if (oldSets.has(set.name)) continue;
    const { elements: _elements, ...declaration } = set;
    changes.push({ op: 'add-set', set: declaration });
  }
  for (const chain of after.chains) {
    const old = oldChains.get(chain.name);
    if (!old || rulesOf(old) !== rulesOf(chain)) changes.push({ op: 'replace-rules', chain });
  }
  const adds: TableChange[] = [];
  const keyOf = elementKeys();
  for (const set of after.sets) {
    const old = oldSets.get(set.name);
    const oldList = old?.elements ?? [];
    // Most sets do not change between two compiles: compared in place, they cost no garbage
    // (at 1,000 policies both tables' keys as text were ~8 MiB of the agent's peak RSS).
    if (sameElements(oldList, set.elements)) continue;
    if (!old) {
      if (set.elements.length > 0) adds.push({ op: 'add-elements', set: set.name, elements: set.elements });
      continue;
    }
    const oldKeyList = oldList.map(keyOf);
    const newKeyList = set.elements.map(keyOf);
    const oldKeys = new Set(oldKeyList);
    const newKeys = new Set(newKeyList);
    const stale = oldList.filter((_e, i) => !newKeys.has(oldKeyList[i]!));
    const fresh = set.elements.filter((_e, i) => !oldKeys.has(newKeyList[i]!));
    if (stale.length > 0) changes.push({ op: 'delete-elements', set: set.name, elements: stale });
    if (fresh.length > 0) adds.push({ op: 'add-elements', set: set.name, elements: fresh });
  }
  changes.push(...adds);
  const goneChains = before.chains.filter((c) => !newChains.has(c.name));
  for (const chain of goneChains) changes.push({ op: 'flush-chain', chain: chain.name });
  for (const set of before.sets) if (!newSets.has(set.name)) changes.push({ op: 'delete-set', set: set.name, verdictMap: set.verdictMap });
  for (const chain of goneChains) changes.push({ op: 'delete-chain', chain: chain.name });
  return changes;
}
