// The one executable (dist/bridgeway, and dist/bridgeway-agent, a symlink to it) plays the role
// its name and arguments say (bin/role.ts), as a runtime, the DaemonSet and an admin start it.
// A runtime's call (CNI_COMMAND set) must never get the agent: it would run until killed, and
// the pod's start would hang.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AGENT, PLUGIN } from '../support/cluster.ts';

const skip = (!fs.existsSync(PLUGIN) || !fs.existsSync(AGENT)) && 'dist/bridgeway or its bridgeway-agent symlink is missing: run npm run build';

/** Runs the executable as a runtime does (clean environment, config on stdin); 10 s is far more than any role needs to answer. */
function start(file: string, args: string[], env: Record<string, string>, input = '') {
  const out = spawnSync(file, args, { env, input, encoding: 'utf8', timeout: 10_000, killSignal: 'SIGKILL' });
  assert.equal(out.signal, null, `${file} ${args.join(' ')} answered within 10 s (an agent would not)`);
  return { code: out.status, stdout: out.stdout, stderr: out.stderr };
}

const AGENT_HELP = /^bridgeway-agent: routes every node's pod network/;

describe('one executable, two roles', { skip }, () => {
  test('dist/bridgeway-agent is a symlink to dist/bridgeway', () => {
    assert.equal(fs.readlinkSync(AGENT), 'bridgeway');
  });

  test('as bridgeway with CNI_COMMAND: the plugin', () => {
    const out = start(PLUGIN, [], { CNI_COMMAND: 'VERSION' }, '{}');
    assert.equal(out.code, 0, out.stderr);
    assert.deepEqual(Object.keys(JSON.parse(out.stdout)), ['cniVersion', 'supportedVersions']);
  });

  test('as bridgeway without CNI_COMMAND and arguments: the plugin\'s own error document', () => {
    const out = start(PLUGIN, [], {}, '{}');
    assert.equal(out.code, 1);
    assert.equal(JSON.parse(out.stdout).code, 4);
    assert.match(JSON.parse(out.stdout).msg, /CNI_COMMAND is not set/);
  });

  test('as bridgeway-agent, and as bridgeway agent: the agent, with the same help', () => {
    const viaLink = start(AGENT, ['--help'], {});
    const viaCommand = start(PLUGIN, ['agent', '--help'], {});
    assert.equal(viaLink.code, 0, viaLink.stderr);
    assert.match(viaLink.stdout, AGENT_HELP);
    assert.equal(viaCommand.stdout, viaLink.stdout);
    assert.equal(viaLink.stderr + viaCommand.stderr, '', 'nothing on stderr from the runtime');
  });

  test('bridgeway agent passes the agent its arguments: its own errors come back', () => {
    const out = start(PLUGIN, ['agent', '--node-name', 'x', '--cluster-cidr', 'nope'], {});
    assert.equal(out.code, 2);
    assert.match(out.stderr, /^bridgeway-agent: --cluster-cidr must be/);
  });

  test('a runtime\'s call never starts the agent, whatever the name or arguments', () => {
    const conf = JSON.stringify({ cniVersion: '1.0.0', name: 'n', type: 'bridgeway' });
    const asAgent = start(AGENT, [], { CNI_COMMAND: 'ADD' }, conf);
    assert.equal(asAgent.code, 1);
    assert.deepEqual(JSON.parse(asAgent.stdout), { cniVersion: '1.1.0', code: 7, msg: 'bridgeway-agent is the node agent, not a CNI plugin: the network config\'s "type" must be "bridgeway"' });
    const withAgentArgument = start(PLUGIN, ['agent', '--help'], { CNI_COMMAND: 'VERSION' }, '{}');
    assert.equal(withAgentArgument.code, 0, 'the plugin answered');
    assert.doesNotMatch(withAgentArgument.stdout, AGENT_HELP);
    assert.deepEqual(Object.keys(JSON.parse(withAgentArgument.stdout)), ['cniVersion', 'supportedVersions']);
  });

  test('an unknown command or name is a clear error, on stderr for a person and as a CNI error for a runtime', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-exe-'));
    try {
      const unknown = start(PLUGIN, ['agnet'], {});
      assert.equal(unknown.code, 2);
      assert.equal(unknown.stdout, '');
      assert.match(unknown.stderr, /^bridgeway: unknown command "agnet": run `bridgeway agent \.\.\.` for the node agent/);
      const other = path.join(dir, 'cni-thing');
      fs.symlinkSync(PLUGIN, other);
      const byName = start(other, ['agent'], {});
      assert.equal(byName.code, 2);
      assert.match(byName.stderr, /^bridgeway: started as "cni-thing": run it as bridgeway .* or as bridgeway-agent/);
      const byRuntime = start(other, [], { CNI_COMMAND: 'ADD' }, '{}');
      assert.equal(byRuntime.code, 1);
      assert.equal(JSON.parse(byRuntime.stdout).code, 7);
      const help = start(PLUGIN, ['--help'], {});
      assert.equal(help.code, 0);
      assert.match(help.stdout, /bridgeway agent \[flags\]/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
