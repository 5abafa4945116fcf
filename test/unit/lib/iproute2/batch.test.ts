// lib/iproute2/batch.ts: the `ip -batch` input we write, and the errors `ip -force` reports per line.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { formatBatch, parseBatchErrors } from '../../../../lib/iproute2/batch.ts';

describe('ip batch', () => {
  const commands = [{ args: ['link', 'add', 'x', 'type', 'bridge'] }, { args: ['addr', 'add', '1.2.3.4/24', 'dev', 'x'] }, { args: ['link', 'set', 'x', 'up'] }];
  test('errors are attributed to their line', () => {
    const failures = parseBatchErrors('RTNETLINK answers: File exists\nCommand failed -:1\nError: ipv4: Address already assigned.\nCommand failed -:2\n', commands);
    assert.deepEqual(failures.map((f) => [f.command.args[0], f.message]), [['link', 'RTNETLINK answers: File exists'], ['addr', 'Error: ipv4: Address already assigned.']]);
  });
  test('an argument with a newline cannot smuggle in another command', () => {
    assert.throws(() => formatBatch([{ args: ['link', 'del', 'x\nlink del eth0'] }]), /invalid ip argument/);
  });
});
