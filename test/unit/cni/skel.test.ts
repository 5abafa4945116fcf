import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../../lib/log.ts';
import { MemoryStore } from '../../../ipam/memory-store.ts';
import { CniError } from '../../../cni/errors.ts';
import { FakeKernel } from '../../fixtures/fake-kernel.ts';
import { parseCniArgs, runPlugin, type CommandContext, type PluginDeps } from '../../../cni/skel.ts';

const conf = JSON.stringify({ cniVersion: '1.0.0', name: 'net', type: 'bridgeway', ipam: { subnet: '10.0.0.0/24' } });
const addEnv = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'abc', CNI_NETNS: '/run/netns/x', CNI_IFNAME: 'eth0' };

function harness(handler: (ctx: CommandContext) => Promise<object | void> = async () => ({ ok: true })) {
  const calls: CommandContext[] = [];
  const kernels: FakeKernel[] = [];
  const deps: PluginDeps = {
    run: async () => {
      throw new Error('no commands in unit tests');
    },
    createKernel: () => {
      kernels.push(new FakeKernel());
      return kernels.at(-1)!;
    },
    commands: Object.fromEntries(
      ['ADD', 'DEL', 'CHECK', 'STATUS', 'GC'].map((c) => [c, async (ctx: CommandContext) => (calls.push(ctx), handler(ctx))]),
    ) as PluginDeps['commands'],
    createLogger: () => silentLogger,
    createStore: () => new MemoryStore(),
  };
  return {
    calls,
    kernels,
    async invoke(env: Record<string, string>, stdin = conf) {
      const out: string[] = [];
      const code = await runPlugin({ env, stdin, stdout: (t) => out.push(t) }, deps);
      assert.ok(out.length <= 1, 'at most one document on stdout');
      return { code, out: out[0], json: out[0] ? JSON.parse(out[0]) : undefined };
    },
  };
}

describe('skel', () => {
  test('VERSION needs nothing but CNI_COMMAND, and makes no kernel', async () => {
    const h = harness();
    const { code, json } = await h.invoke({ CNI_COMMAND: 'VERSION' }, '');
    assert.equal(code, 0);
    assert.deepEqual(json, { cniVersion: '1.1.0', supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] });
    assert.equal(h.kernels.length, 0);
  });

  test('dispatches ADD with parsed args and prints the handler result', async () => {
    const h = harness();
    const { code, json } = await h.invoke({ ...addEnv, CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME=web;FOO=bar', CNI_PATH: '/opt/cni/bin:/usr/lib/cni' });
    assert.equal(code, 0);
    assert.deepEqual(json, { ok: true });
    const args = h.calls[0]!.args;
    assert.equal(args.containerId, 'abc');
    assert.equal(args.args.get('K8S_POD_NAME'), 'web');
    assert.deepEqual(args.cniPath, ['/opt/cni/bin', '/usr/lib/cni']);
    assert.equal(h.calls[0]!.kernel, h.kernels[0], 'the command gets the kernel made for it');
  });

  test('DEL may come without CNI_NETNS; STATUS and GC without container variables', async () => {
    const h = harness(async () => undefined);
    const envs: Record<string, string>[] = [{ CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'abc', CNI_IFNAME: 'eth0' }, { CNI_COMMAND: 'STATUS' }, { CNI_COMMAND: 'GC' }];
    for (const env of envs) {
      const { code, out } = await h.invoke(env);
      assert.equal(code, 0, env.CNI_COMMAND);
      assert.equal(out, undefined, 'silent success');
    }
  });

  const envErrors: [string, Record<string, string>, RegExp][] = [
    ['no command', {}, /CNI_COMMAND is not set/],
    ['unknown command', { CNI_COMMAND: 'FROB' }, /"FROB" is not one of/],
    ['missing variables', { CNI_COMMAND: 'ADD', CNI_IFNAME: 'eth0' }, /ADD requires CNI_CONTAINERID, CNI_NETNS to be set/],
    ['bad container id', { ...addEnv, CNI_CONTAINERID: '../etc' }, /CNI_CONTAINERID "..\/etc" must match/],
    ['ifname too long', { ...addEnv, CNI_IFNAME: 'a234567890123456' }, /CNI_IFNAME .* not a valid interface name/],
    ['ifname with slash', { ...addEnv, CNI_IFNAME: 'a/b' }, /CNI_IFNAME/],
    ['ifname dot-dot', { ...addEnv, CNI_IFNAME: '..' }, /CNI_IFNAME/],
    ['malformed CNI_ARGS', { ...addEnv, CNI_ARGS: 'novalue' }, /CNI_ARGS entry "novalue"/],
  ];
  for (const [name, env, message] of envErrors) {
    test(`invalid environment: ${name} -> code 4 error JSON, handler not called`, async () => {
      const h = harness();
      const { code, json } = await h.invoke(env);
      assert.equal(code, 1);
      assert.equal(json.code, 4);
      assert.match(json.msg, message);
      assert.equal(h.calls.length, 0);
    });
  }

  test('unknown CNI_ARGS keys are an error unless IgnoreUnknown', () => {
    assert.throws(() => parseCniArgs('FOO=bar'), (e: unknown) => e instanceof CniError && e.code === 2);
    assert.equal(parseCniArgs('IgnoreUnknown=true;FOO=bar').get('FOO'), 'bar');
  });

  test('errors carry the config cniVersion; unknown errors become 999 without a stack', async () => {
    const { code, json } = await harness(async () => {
      throw new TypeError('boom');
    }).invoke(addEnv);
    assert.equal(code, 1);
    assert.deepEqual(Object.keys(json).sort(), ['cniVersion', 'code', 'msg']);
    assert.equal(json.cniVersion, '1.0.0');
    assert.equal(json.code, 999);
    assert.equal(json.msg, 'internal error: boom');
  });

  test('a CniError from a command keeps its code and details', async () => {
    const { json } = await harness(async () => {
      throw new CniError(11, 'busy', 'try later');
    }).invoke(addEnv);
    assert.deepEqual(json, { cniVersion: '1.0.0', code: 11, msg: 'busy', details: 'try later' });
  });

  test('config errors are reported before any command runs', async () => {
    const h = harness();
    const { json } = await h.invoke(addEnv, '{oops');
    assert.equal(json.code, 6);
    assert.equal(json.cniVersion, '1.1.0');
    assert.equal(h.calls.length, 0);
  });
});
