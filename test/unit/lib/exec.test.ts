import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CommandError, createRunner, createSyncRunner, type Runner } from '../../../lib/exec.ts';

// Both runners keep one contract; the plugin uses the synchronous one, the agent the other.
for (const [name, runner] of [['createRunner', createRunner()], ['createSyncRunner', createSyncRunner()]] as [string, Runner][]) {
  describe(name, () => {
    test('passes stdin, returns stdout and stderr, runs with the fixed PATH and LC_ALL=C only', async () => {
      const { stdout, stderr } = await runner(['sh', '-c', 'cat; echo "$PATH $LC_ALL ${HOME:-nohome}" >&2'], { input: 'in put' });
      assert.equal(stdout, 'in put');
      assert.equal(stderr.trim(), '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin C nohome');
    });

    test('a non-zero exit rejects with a CommandError naming the command, its status and stderr', async () => {
      const error = await runner(['sh', '-c', 'echo out; echo bad thing >&2; exit 3']).then(() => undefined, (e: unknown) => e);
      assert.ok(error instanceof CommandError);
      assert.equal(error.exitCode, 3);
      assert.equal(error.stdout, 'out\n');
      assert.equal(error.message, 'sh -c echo out; echo bad thing >&2; exit 3: exit status 3: bad thing');
    });

    test('a command that does not exist rejects with exitCode null', async () => {
      const error = await runner(['no-such-command-bw']).then(() => undefined, (e: unknown) => e);
      assert.ok(error instanceof CommandError);
      assert.equal(error.exitCode, null);
      assert.match(error.message, /^no-such-command-bw: .*ENOENT/);
    });

    test('a command past its timeout is killed', async () => {
      const error = await runner(['sleep', '5'], { timeoutMs: 100 }).then(() => undefined, (e: unknown) => e);
      assert.ok(error instanceof CommandError);
      assert.match(error.message, /killed by SIGKILL/);
    });
  });
}
