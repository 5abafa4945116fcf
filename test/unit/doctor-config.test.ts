import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, helpText, parseAgentConfig } from '../../daemonset/config.ts';

const base = ['--node-name', 'n', '--cluster-cidr', '10.244.0.0/16'];

test('doctor takes the flags of run, plus --json and --fix-leaks', () => {
  const config = parseAgentConfig(['doctor', ...base, '--json', '--fix-leaks', '--iface', 'ens5'], {}, '/x')!;
  assert.equal(config.command, 'doctor');
  assert.deepEqual(config.doctor, { json: true, fixLeaks: true });
  assert.equal(config.iface, 'ens5');
  assert.deepEqual(parseAgentConfig(base, {}, '/x')!.doctor, { json: false, fixLeaks: false });
  assert.match(helpText(), /bridgeway-agent doctor \[flags\]/);
});

test('doctor needs what run needs; its flags are refused elsewhere', () => {
  assert.throws(() => parseAgentConfig(['doctor', '--cluster-cidr', '10.0.0.0/8'], {}, '/x'), /--node-name \(or \$NODE_NAME\) is required/);
  assert.throws(() => parseAgentConfig(['doctor', '--node-name', 'n'], {}, '/x'), /--cluster-cidr/);
  assert.throws(() => parseAgentConfig([...base, '--fix-leaks'], {}, '/x'), (e: unknown) => e instanceof ConfigError && /--fix-leaks is a doctor flag/.test(e.message));
});
