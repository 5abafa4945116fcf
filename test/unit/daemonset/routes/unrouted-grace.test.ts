// routes/unrouted-grace.ts: a pending problem is info during the grace that starts when its peer
// first appears in the node list, a warning after; anything not pending is a warning at once.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatGrace, UNROUTED_GRACE_MS, UnroutedGrace } from '../../../../daemonset/routes/unrouted-grace.ts';
import { FakeClock } from '../../../fixtures/fake-clock.ts';

test('the grace runs from the first sighting, per peer, and restarts when a peer leaves and returns', async () => {
  const clock = new FakeClock();
  const grace = new UnroutedGrace(clock);
  const pending = (peer: string) => ({ peer, reason: 'no podCIDR yet', pending: true as const });
  grace.observe(['a']);
  await clock.advance(60_000);
  grace.observe(['a', 'b']);
  assert.equal(grace.level(pending('a')), 'info');
  assert.equal(grace.level({ peer: 'a', reason: 'its podCIDR overlaps ours' }), 'warn', 'not pending: no grace');
  await clock.advance(UNROUTED_GRACE_MS - 60_000);
  assert.equal(grace.level(pending('a')), 'warn', 'a: 2 minutes since it appeared');
  assert.equal(grace.level(pending('b')), 'info', 'b appeared a minute later');
  grace.observe(['b']);
  grace.observe(['a', 'b']);
  assert.equal(grace.level(pending('a')), 'info', 'a left and came back: a new node');
  assert.equal(grace.level(pending('unlisted')), 'info', 'a peer not yet observed counts from now');
  assert.equal(formatGrace(UNROUTED_GRACE_MS), '2m');
  assert.equal(formatGrace(90_000), '90s');
});
