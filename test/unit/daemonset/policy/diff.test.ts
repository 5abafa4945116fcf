// daemonset/policy/diff.ts: the minimal change between two compiled tables. Each plan is applied
// to a model of nf_tables' references (a rule or map element may only name what exists; nothing
// named may be deleted) that fails on the first invalid command, and must end in the new table.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { compilePolicies } from '../../../../daemonset/policy/compile.ts';
import { diffTables, elementKey, type TableChange } from '../../../../daemonset/policy/diff.ts';
import { renderChanges } from '../../../../daemonset/policy/nft-text.ts';
import { isVmap, type ChainSpec, type Element, type PolicyTable, type Rule, type SetSpec } from '../../../../daemonset/policy/table.ts';
import { namespace, NODE, pod, policy, rng, scenario } from '../../../fixtures/policy-objects.ts';

/** nf_tables' reference rules, as far as our objects use them. */
function apply(table: PolicyTable, changes: readonly TableChange[]): PolicyTable {
  const sets = new Map<string, SetSpec>(table.sets.map((s) => [s.name, { ...s }]));
  const chains = new Map<string, ChainSpec>(table.chains.map((c) => [c.name, { ...c }]));
  const namedBy = (rule: Rule) => (isVmap(rule) ? [`set:${rule.vmap}`] : [...rule.matches.flatMap((m) => (m.match === 'lookup' ? [`set:${m.set}`] : [])), ...('chain' in rule.verdict ? [`chain:${rule.verdict.chain}`] : [])]);
  const references = () => new Set([
    ...[...chains.values()].flatMap((c) => c.rules.flatMap(namedBy)),
    ...[...sets.values()].flatMap((s) => s.elements.flatMap((e) => (e.to ? [`chain:${e.to.chain}`] : []))),
  ]);
  const exists = (ref: string) => (ref.startsWith('set:') ? sets.has(ref.slice(4)) : chains.has(ref.slice(6)));
  for (const change of changes) {
    switch (change.op) {
      case 'replace-table': return change.table;
      case 'add-chain': assert.ok(!chains.has(change.chain)); chains.set(change.chain, { name: change.chain, role: { role: 'base' }, rules: [] }); break;
      case 'add-set': assert.ok(!sets.has(change.set.name)); sets.set(change.set.name, { ...change.set, elements: [] }); break;
      case 'replace-rules':
        for (const ref of change.chain.rules.flatMap(namedBy)) assert.ok(exists(ref), `${change.chain.name} names missing ${ref}`);
        chains.set(change.chain.name, change.chain);
        break;
      case 'add-elements': {
        const set = sets.get(change.set)!;
        for (const e of change.elements) {
          assert.ok(!e.to || chains.has(e.to.chain), `element names missing chain ${e.to?.chain}`);
          assert.ok(!set.elements.some((o) => elementKey({ key: o.key }) === elementKey({ key: e.key })), `element ${elementKey(e)} exists in ${change.set}`);
        }
        sets.set(change.set, { ...set, elements: [...set.elements, ...change.elements] });
        break;
      }
      case 'delete-elements': {
        const set = sets.get(change.set)!;
        const gone = new Set(change.elements.map(elementKey));
        for (const key of gone) assert.ok(set.elements.some((e) => elementKey(e) === key), `no element ${key} in ${change.set}`);
        sets.set(change.set, { ...set, elements: set.elements.filter((e) => !gone.has(elementKey(e))) });
        break;
      }
      case 'flush-chain': chains.set(change.chain, { ...chains.get(change.chain)!, rules: [] }); break;
      case 'delete-set': assert.ok(!references().has(`set:${change.set}`), `set ${change.set} still named`); sets.delete(change.set); break;
      case 'delete-chain':
        assert.equal(chains.get(change.chain)!.rules.length, 0, `chain ${change.chain} not empty`);
        assert.ok(!references().has(`chain:${change.chain}`), `chain ${change.chain} still named`);
        chains.delete(change.chain);
        break;
    }
  }
  return { ...table, sets: [...sets.values()], chains: [...chains.values()] };
}

/** Tables as comparable values: objects by name, elements as a set. */
function canonical(table: PolicyTable) {
  const element = (e: Element) => elementKey(e);
  return {
    sets: Object.fromEntries([...table.sets].map((s) => [s.name, { key: s.key, interval: s.interval, verdictMap: s.verdictMap, elements: s.elements.map(element).sort() }])),
    chains: Object.fromEntries([...table.chains].map((c) => [c.name, JSON.stringify(c.rules, (_k, v) => (typeof v === 'bigint' ? String(v) : v))])),
  };
}

const namespaces = [namespace('x'), namespace('y')];
const base = [pod('x/a', ['10.0.0.1'], { pod: 'a' }), pod('x/b', ['10.0.0.2'], { pod: 'b' }), pod('y/c', ['10.0.0.3', 'fd00::3'], { pod: 'c' })];
const web = policy('x/web', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: {} , podSelector: { matchLabels: { pod: 'c' } } }], ports: [{ port: 80 }] }] });
const compile = (pods = base, policies = [web]) => compilePolicies({ pods, namespaces, policies, nodeName: NODE }).table;

describe('diffTables', () => {
  test('nothing changed: no change', () => {
    assert.deepEqual(diffTables(compile(), compile()), []);
  });
  test('a new peer pod: one element in the peer set and its self element, nothing else', () => {
    const next = compile([...base, pod('y/c2', ['10.0.0.4'], { pod: 'c' })]);
    const changes = diffTables(compile(), next);
    assert.deepEqual(changes.map((c) => [c.op, 'set' in c ? c.set : '']), [['add-elements', 'self4'], ['add-elements', `${next.sets.find((s) => s.name.endsWith('_a4'))!.name}`]]);
    assert.deepEqual(canonical(apply(compile(), changes)), canonical(next));
    assert.match(renderChanges(next, changes), /^add element inet bridgeway_policy self4 \{ 10\.0\.0\.4 \. 10\.0\.0\.4 \}\nadd element inet bridgeway_policy ik_[0-9a-f]{12}_a4 \{ 10\.0\.0\.4 \}\n$/);
  });
  test('a label change that isolates another pod: its map element to the existing class chain', () => {
    const relabelled = [base[0]!, pod('x/b', ['10.0.0.2'], { pod: 'a' }), base[2]!];
    const changes = diffTables(compile(), compile(relabelled));
    assert.deepEqual(changes.map((c) => c.op), ['add-elements']);
    assert.match(renderChanges(compile(), changes), /^add element inet bridgeway_policy to_pod4 \{ 10\.0\.0\.2 : jump ic_[0-9a-f]{12} \}\n$/);
  });
  test('removing the last policy removes its objects in an order the kernel accepts', () => {
    const changes = diffTables(compile(), compile(base, []));
    assert.deepEqual([...new Set(changes.map((c) => c.op))], ['delete-elements', 'flush-chain', 'delete-set', 'delete-chain']);
    assert.deepEqual(canonical(apply(compile(), changes)), canonical(compile(base, [])));
  });
  test('a changed set type under the same name: the whole table is replaced', () => {
    const before = compile();
    const after = { ...before, sets: before.sets.map((s) => (s.name === 'self4' ? { ...s, interval: true } : s)) };
    assert.deepEqual(diffTables(before, after).map((c) => c.op), ['replace-table']);
  });
  test('random pairs of clusters: every plan is valid command by command and ends in the new table', () => {
    const random = rng(Number(process.env.POLICY_SEED ?? 42));
    let changesSeen = 0;
    for (let round = 0; round < 150; round++) {
      const a = scenario(random).input;
      // The next state: the same pods with some relabelled or gone, the policies of another draw.
      const b = scenario(random).input;
      const next = { ...a, policies: random() < 0.5 ? b.policies : [...a.policies.slice(1), ...b.policies.slice(0, 1)], pods: a.pods.filter(() => random() < 0.9).map((p) => (random() < 0.2 ? { ...p, metadata: { ...p.metadata, labels: { pod: 'a' } } } : p)) };
      const before = compilePolicies(a).table;
      const after = compilePolicies(next).table;
      const changes = diffTables(before, after);
      changesSeen += changes.length;
      assert.deepEqual(canonical(apply(before, changes)), canonical(after), `round ${round}`);
    }
    assert.ok(changesSeen > 150);
  });
});
