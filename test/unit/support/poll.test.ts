import { test } from 'node:test';
import assert from 'node:assert/strict';
import { poll, within } from '../../support/poll.ts';

test('poll returns the first truthy value of the probe', async () => {
  let calls = 0;
  assert.equal(await poll(() => (++calls >= 3 ? `call ${calls}` : undefined), { everyMs: 1 }), 'call 3');
});

test('poll: a throwing probe ends the wait, unless errors are retried', async () => {
  await assert.rejects(poll(() => { throw new Error('process exited'); }, { everyMs: 1 }), /process exited/);
  let calls = 0;
  const value = await poll(() => { if (++calls < 3) throw new Error('not listening yet'); return true; }, { everyMs: 1, retryErrors: true });
  assert.equal(value, true);
});

test('poll times out naming what it waited for and the last error', async () => {
  await assert.rejects(
    poll(() => { throw new Error('ECONNREFUSED'); }, { timeoutMs: 20, everyMs: 5, what: 'the agent to listen', retryErrors: true }),
    /timed out after 20 ms waiting for the agent to listen: ECONNREFUSED/,
  );
});

test('within: the value, or undefined after the deadline', async () => {
  assert.equal(await within(Promise.resolve(7), 1000), 7);
  assert.equal(await within(new Promise(() => {}), 10), undefined);
});
