// daemonset/loop/memory.ts: on Bun the agent collects after each burst, and young garbage inside a policy compile; on Node it does nothing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MEMORY_TUNING, tuneMemory, youngCollector, type BunMemory } from '../../../../daemonset/loop/memory.ts';

function recordingBun(): BunMemory & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    gc: (force) => void calls.push(`gc(${force})`),
    shrink: () => void calls.push('shrink'),
    unsafe: { gcAggressionLevel: (level) => (calls.push(`aggression(${level})`), 0), setJITPolicy: (policy) => void calls.push(`jit(${policy})`) },
  };
}

test('the shipped tuning: a full collection and a shrink after each burst, nothing else at start', () => {
  const runtime = recordingBun();
  const afterBurst = tuneMemory(MEMORY_TUNING, runtime);
  assert.deepEqual(runtime.calls, []);
  afterBurst();
  afterBurst();
  assert.deepEqual(runtime.calls, ['gc(true)', 'shrink', 'gc(true)', 'shrink']);
});

test('the other knobs apply at start when set', () => {
  const runtime = recordingBun();
  tuneMemory({ aggression: 2, collectAfterBurst: false, jitPolicy: 20 }, runtime)();
  assert.deepEqual(runtime.calls, ['aggression(2)', 'jit(20)']);
});

test('on Node (no Bun global) nothing happens', () => {
  assert.equal((globalThis as { Bun?: unknown }).Bun, undefined);
  assert.doesNotThrow(() => tuneMemory()());
});

test('youngCollector: an eden collection (gc(false)) at most once per interval, unless forced', () => {
  const runtime = recordingBun();
  let t = 0;
  const young = youngCollector(4, runtime, () => t);
  young(); // the first one always runs
  t = 2; young(); // too soon
  t = 3.9; young(); // still too soon
  t = 4; young();
  t = 5; young(true); // forced
  t = 6; young(); // too soon after the forced one
  assert.deepEqual(runtime.calls, ['gc(false)', 'gc(false)', 'gc(false)']);
});

test('youngCollector on Node (no Bun global) does nothing', () => {
  assert.doesNotThrow(() => youngCollector(4)(true));
});
