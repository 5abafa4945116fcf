// daemonset/loop/backoff.ts: the one retry policy of the agent (scheduler and informer restarts).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Backoff, DEFAULT_BACKOFF, backoffDelay } from '../../../../daemonset/loop/backoff.ts';

describe('backoffDelay', () => {
  const policy = { initialMs: 50, maxMs: 500 };
  for (const [failures, expected] of [[0, 50], [1, 100], [2, 200], [3, 400], [4, 500], [5, 500], [60, 500], [2000, 500]] as const) {
    test(`after ${failures} failures: ${expected} ms`, () => assert.equal(backoffDelay(policy, failures), expected));
  }
  test('a cap that is not a power-of-two multiple of the start is reached exactly', () => {
    assert.deepEqual([0, 1, 2, 3].map((n) => backoffDelay({ initialMs: 1000, maxMs: 3000 }, n)), [1000, 2000, 3000, 3000]);
  });
});

describe('Backoff', () => {
  test('the default doubles from 1 s to 30 s', () => {
    const backoff = new Backoff();
    assert.deepEqual(backoff.policy, DEFAULT_BACKOFF);
    assert.deepEqual(Array.from({ length: 7 }, () => backoff.fail()), [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]);
    assert.equal(backoff.failures, 7);
  });

  test('reset: the next failure waits initialMs again', () => {
    const backoff = new Backoff({ initialMs: 100, maxMs: 800 });
    backoff.fail();
    backoff.fail();
    assert.equal(backoff.failures, 2);
    backoff.reset();
    assert.equal(backoff.failures, 0);
    assert.equal(backoff.fail(), 100);
  });

  for (const policy of [{ initialMs: 0, maxMs: 10 }, { initialMs: -1, maxMs: 10 }, { initialMs: 100, maxMs: 50 }, { initialMs: Number.NaN, maxMs: 10 }]) {
    test(`refuses ${JSON.stringify(policy)}: it would retry in a tight loop or never back off`, () => {
      assert.throws(() => new Backoff(policy), RangeError);
    });
  }
});
