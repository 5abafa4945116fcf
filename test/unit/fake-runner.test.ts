import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CommandError } from '../../lib/exec.ts';
import { FakeRunner } from '../fixtures/fake-runner.ts';

test('FakeRunner answers by argv prefix, the latest rule first, and records every call', async () => {
  const fake = new FakeRunner().on(['ip', '-j'], { stdout: 'old' }).on(['ip', '-j'], { stdout: '[]' });
  assert.equal((await fake.run(['ip', '-j', 'link', 'show'])).stdout, '[]');
  assert.equal((await fake.run(['true'], { input: 'x' })).stdout, '');
  assert.deepEqual(fake.calls.map((c) => [c.argv[0], c.input]), [['ip', undefined], ['true', 'x']]);
});

test('FakeRunner fails the nth matching call once, or from the nth on, with a CommandError', async () => {
  const fake = new FakeRunner().failNth(['a'], 2, { exitCode: 2, stderr: 'boom' }).failFrom(['b'], 1);
  await fake.run(['a']);
  await assert.rejects(fake.run(['a']), (e: unknown) => e instanceof CommandError && e.exitCode === 2 && e.stderr === 'boom');
  await fake.run(['a']);
  await assert.rejects(fake.run(['b']), CommandError);
  await assert.rejects(fake.run(['b']), CommandError);
  fake.heal();
  await fake.run(['b']);
  assert.equal(fake.callsMatching(['b']).length, 3);
});
