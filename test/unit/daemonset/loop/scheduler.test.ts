// loop/scheduler.ts on a fake clock: one coalesced sync at a time, the resync period, backoff.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SyncScheduler } from '../../../../daemonset/loop/scheduler.ts';
import { FakeClock } from '../../../fixtures/fake-clock.ts';
describe('SyncScheduler', () => {
  test('syncs at start, then every resync period', async () => {
    const clock = new FakeClock();
    let syncs = 0;
    const s = new SyncScheduler({ clock, resyncMs: 1000, sync: async () => void syncs++ });
    s.start();
    await clock.advance(0);
    assert.equal(syncs, 1);
    await clock.advance(2500);
    assert.equal(syncs, 3);
    s.stop();
    await clock.advance(5000);
    assert.equal(syncs, 3, 'nothing after stop');
  });

  test('a burst of triggers during a sync collapses into exactly one more sync', async () => {
    const clock = new FakeClock();
    let syncs = 0;
    let release!: () => void;
    const s = new SyncScheduler({ clock, resyncMs: 60_000, sync: () => (syncs++, new Promise<void>((r) => (release = r))) });
    s.start();
    await clock.advance(0);
    for (let i = 0; i < 100; i++) s.trigger();
    release();
    await s.idle;
    await clock.advance(0);
    assert.equal(syncs, 2);
    release();
    await s.idle;
    assert.deepEqual(clock.pending(), [60_000], 'back to the periodic resync');
    s.stop();
  });

  test('failures back off exponentially up to the cap; triggers do not bypass the backoff; success resets', async () => {
    const clock = new FakeClock();
    let fail = true;
    const attempts: number[] = [];
    const errors: number[] = [];
    const s = new SyncScheduler({
      clock, resyncMs: 10_000, backoff: { initialMs: 100, maxMs: 800 },
      sync: async () => {
        attempts.push(clock.now());
        if (fail) throw new Error('apiserver down');
      },
      onError: (_e, _n, retry) => errors.push(retry),
    });
    s.start();
    await clock.advance(0);
    s.trigger();
    await clock.advance(0);
    assert.equal(attempts.length, 1, 'a trigger during backoff waits');
    await clock.advance(3000);
    assert.deepEqual(errors.slice(0, 6), [100, 200, 400, 800, 800, 800]);
    fail = false;
    await clock.advance(clock.pending()[0]!);
    const after = attempts.length;
    assert.deepEqual(clock.pending(), [10_000], 'success returns to the resync period');
    s.trigger();
    await clock.advance(0);
    assert.equal(attempts.length, after + 1, 'and triggers act at once again');
    s.stop();
  });
});

