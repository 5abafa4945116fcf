// daemonset/policy/selector.ts: metav1.LabelSelector as the API server evaluates it.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { matchesSelector, SelectorError, validateSelector } from '../../../../daemonset/policy/selector.ts';
import type { LabelSelector } from '../../../../daemonset/policy/model.ts';

describe('matchesSelector', () => {
  const labels = { app: 'web', tier: 'front' };
  const cases: [string, LabelSelector, Record<string, string> | undefined, boolean][] = [
    ['{} matches everything', {}, labels, true],
    ['{} matches a pod without labels', {}, undefined, true],
    ['matchLabels: all must hold', { matchLabels: { app: 'web', tier: 'front' } }, labels, true],
    ['matchLabels: one differs', { matchLabels: { app: 'web', tier: 'back' } }, labels, false],
    ['matchLabels: key absent', { matchLabels: { env: 'prod' } }, labels, false],
    ['In: value listed', { matchExpressions: [{ key: 'app', operator: 'In', values: ['db', 'web'] }] }, labels, true],
    ['In: value not listed', { matchExpressions: [{ key: 'app', operator: 'In', values: ['db'] }] }, labels, false],
    ['In: key absent', { matchExpressions: [{ key: 'env', operator: 'In', values: ['prod'] }] }, labels, false],
    ['NotIn: value listed', { matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['web'] }] }, labels, false],
    ['NotIn: value not listed', { matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['db'] }] }, labels, true],
    ['NotIn: key absent holds', { matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['prod'] }] }, labels, true],
    ['Exists', { matchExpressions: [{ key: 'tier', operator: 'Exists' }] }, labels, true],
    ['Exists: absent', { matchExpressions: [{ key: 'env', operator: 'Exists' }] }, labels, false],
    ['DoesNotExist', { matchExpressions: [{ key: 'env', operator: 'DoesNotExist' }] }, labels, true],
    ['DoesNotExist: present', { matchExpressions: [{ key: 'app', operator: 'DoesNotExist' }] }, labels, false],
    ['Exists with an empty value', { matchExpressions: [{ key: 'flag', operator: 'Exists' }] }, { flag: '' }, true],
    ['matchLabels and matchExpressions are ANDed', { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['back'] }] }, labels, false],
  ];
  for (const [name, selector, have, expected] of cases) test(name, () => assert.equal(matchesSelector(selector, have), expected));
});

describe('validateSelector', () => {
  test('refuses what the API server refuses, naming the key and operator', () => {
    assert.throws(() => validateSelector({ matchExpressions: [{ key: 'a', operator: 'In', values: [] }] }), (e: Error) => e instanceof SelectorError && /key "a": operator In needs at least one value/.test(e.message));
    assert.throws(() => validateSelector({ matchExpressions: [{ key: 'a', operator: 'NotIn' }] }), /NotIn needs at least one value/);
    assert.throws(() => validateSelector({ matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] }), /Exists takes no values/);
    assert.throws(() => validateSelector({ matchExpressions: [{ key: 'a', operator: 'Gt' as 'In', values: ['1'] }] }), /unknown operator "Gt"/);
    validateSelector({ matchLabels: { a: 'b' }, matchExpressions: [{ key: 'a', operator: 'DoesNotExist' }] });
  });
});
