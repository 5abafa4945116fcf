// What the agent's compile leaves out to keep its peak RSS down (issue 19's memory at 5,000
// pods): compilePolicies(..., { rules: false }) builds the same table without explain's per-rule
// address sets, and rules naming the same peers share one list of pods (resolve.ts).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { compilePolicies } from '../../../../daemonset/policy/compile.ts';
import { resolvePolicies } from '../../../../daemonset/policy/resolve.ts';
import { namespace, NODE, pod, policy, rng, scenario } from '../../../fixtures/policy-objects.ts';

describe('compilePolicies without explain\'s rules', () => {
  test('the same table, errors and counts as with them, over 300 random clusters (named ports both ways, ipBlocks, bad policies)', () => {
    const random = rng(1919);
    let named = 0;
    for (let i = 0; i < 300; i++) {
      const { input } = scenario(random);
      const full = compilePolicies(input);
      const lean = compilePolicies(input, { rules: false });
      assert.deepEqual(lean.table, full.table, `scenario ${i}`);
      assert.deepEqual(lean.errors, full.errors);
      assert.deepEqual(lean.stats, full.stats);
      assert.equal(lean.rules.size, 0);
      if (full.table.sets.some((s) => s.name.startsWith('en_'))) named++;
    }
    // The egress named-port sets, which read the rules' tuples, were among them.
    assert.ok(named > 10, `only ${named} scenarios had egress named-port sets`);
  });

  test('a checkpoint (the agent\'s young collection) is called after the pods, after each policy and after each peer set, and changes nothing', () => {
    const random = rng(2026);
    for (let i = 0; i < 100; i++) {
      const { input } = scenario(random);
      let calls = 0;
      const checked = compilePolicies(input, { rules: false, checkpoint: () => void calls++ });
      const plain = compilePolicies(input, { rules: false });
      assert.deepEqual(checked.table, plain.table, `scenario ${i}`);
      assert.equal(calls, 1 + input.policies.length + 1 + checked.stats.peerSets, `scenario ${i}`);
    }
  });

  test('explain\'s rules are there by default', () => {
    const { input } = scenario(rng(7));
    const c = compilePolicies(input);
    assert.equal(c.rules.size, resolvePolicies(input).policies.reduce((n, p) => n + p.rules.length, 0));
  });
});

describe('rules naming the same peers share one list of pods', () => {
  const pods = [pod('x/a', ['10.0.0.1'], { app: 'a' }), pod('y/b', ['10.0.0.2'], { app: 'b' }), pod('y/c', ['10.0.0.3'], { app: 'a' }, { node: 'node-2' })];
  const namespaces = [namespace('x', { team: 'one' }), namespace('y', { team: 'two' })];
  const allow = (ref: string, from: object[]) => policy(ref, { podSelector: {}, ingress: [{ from }] });

  test('the same peers in two policies: one array, with the pods the peers select', () => {
    const { policies } = resolvePolicies({ pods, namespaces, nodeName: NODE, policies: [
      allow('x/p1', [{ namespaceSelector: {} }]), allow('x/p2', [{ namespaceSelector: {} }]),
      allow('x/p3', [{ namespaceSelector: { matchLabels: { team: 'two' } }, podSelector: { matchLabels: { app: 'a' } } }]),
      allow('x/p4', [{ podSelector: { matchLabels: { app: 'a' } } }, { namespaceSelector: { matchLabels: { team: 'two' } } }]),
      allow('x/p5', [{ podSelector: { matchLabels: { app: 'a' } } }, { namespaceSelector: { matchLabels: { team: 'two' } } }]),
    ] });
    const [p1, p2, p3, p4, p5] = policies.map((p) => p.rules[0]!.pods);
    assert.equal(p1, p2);
    assert.deepEqual(p1!.map((p) => p.key), ['x/a', 'y/b', 'y/c']);
    assert.deepEqual(p3!.map((p) => p.key), ['y/c']);
    // Two peers: their union, each pod once, in the peers' order.
    assert.equal(p4, p5);
    assert.deepEqual(p4!.map((p) => p.key), ['x/a', 'y/b', 'y/c']);
  });

  test('namespaceSelector peers from two policies\' namespaces: one list (the policy\'s namespace does not matter to them)', () => {
    const { policies } = resolvePolicies({ pods, namespaces, nodeName: NODE, policies: [
      allow('x/p1', [{ namespaceSelector: { matchLabels: { team: 'two' } } }]), allow('y/p1', [{ namespaceSelector: { matchLabels: { team: 'two' } } }]),
    ] });
    assert.equal(policies[0]!.rules[0]!.pods, policies[1]!.rules[0]!.pods);
    assert.deepEqual(policies[0]!.rules[0]!.pods.map((p) => p.key), ['y/b', 'y/c']);
  });

  test('the same peers from two namespaces are two lists (a podSelector alone means the policy\'s own namespace)', () => {
    const { policies } = resolvePolicies({ pods, namespaces, nodeName: NODE, policies: [
      allow('x/p1', [{ podSelector: { matchLabels: { app: 'a' } } }]), allow('y/p1', [{ podSelector: { matchLabels: { app: 'a' } } }]),
    ] });
    assert.deepEqual(policies.map((p) => p.rules[0]!.pods.map((q) => q.key)), [['x/a'], ['y/c']]);
  });
});
