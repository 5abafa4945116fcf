// Macvlan mode's commands through the real skel against a FakeKernel (a node with eth1) and memory
// stores: the changes asked for, the rollback, what is left after each refusal.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { formatIp, parseCidr, parseIp } from '../../../../lib/cidr.ts';
import type { Change } from '../../../../lib/kernel/change.ts';
import type { Frame } from '../../../../lib/packet/announce.ts';
import { MemoryStore } from '../../../../ipam/memory-store.ts';
import { runPlugin } from '../../../../cni/skel.ts';
import { cmdAdd } from '../../../../cni/commands/add.ts';
import { cmdCheck } from '../../../../cni/commands/check.ts';
import { cmdDel } from '../../../../cni/commands/del.ts';
import { cmdGc } from '../../../../cni/commands/gc.ts';
import { cmdStatus } from '../../../../cni/commands/status.ts';
import { macvlanCommands } from '../../../../cni/macvlan/commands.ts';
import { byMode } from '../../../../cni/macvlan/dispatch.ts';
import { FakeKernel } from '../../../fixtures/fake-kernel.ts';
import { addEnv, captureLogger, delEnv, podNetns } from '../../../fixtures/plugin-kernel.ts';

const conf = (extra: Record<string, unknown> = {}) => ({
  cniVersion: '1.1.0', name: 'lan', type: 'bridgeway', mode: 'macvlan', master: 'eth1', logLevel: 'silent',
  ipam: { subnet: '192.168.1.0/24', rangeStart: '192.168.1.100', rangeEnd: '192.168.1.110' }, ...extra,
});
const node = () => new FakeKernel().device('eth1', { mtu: 1500, addresses: [parseCidr('192.168.1.10/24')!], defaultVia: parseIp('192.168.1.1')! });

async function call(env: Record<string, string>, config: object, kernel: FakeKernel, store: MemoryStore, announce: (netns: string, ifindex: number, frames: readonly Frame[]) => void = () => {}) {
  const out: string[] = [];
  const log = captureLogger();
  const code = await runPlugin(
    { env, stdin: JSON.stringify(config), stdout: (text) => out.push(text) },
    {
      run: async (argv) => { throw new Error(`unexpected process ${argv.join(' ')}`); },
      createKernel: () => kernel,
      commands: byMode({ ADD: cmdAdd, DEL: cmdDel, CHECK: cmdCheck, STATUS: cmdStatus, GC: cmdGc }, async () => macvlanCommands({ announce })),
      createLogger: () => log,
      createStore: () => store,
      procSys: '/nonexistent/proc-sys',
    },
  );
  return { code, json: out[0] ? JSON.parse(out[0]) : undefined, log };
}
const reserved = (store: MemoryStore) => store.list().map((r) => formatIp({ family: 4, value: r.ip }));
const POD = podNetns('c1');

describe('macvlan mode commands', () => {
  test('ADD: the macvlan born in the pod, then the pod side; the result; the MAC announced from the pod', async () => {
    const kernel = node();
    const store = new MemoryStore(4);
    const sent: { netns: string; frames: readonly Frame[] }[] = [];
    const { code, json } = await call(addEnv('c1'), conf(), kernel, store, (netns, _ifindex, frames) => void sent.push({ netns, frames }));
    assert.equal(code, 0, JSON.stringify(json));
    assert.deepEqual(json.interfaces, [{ name: 'eth0', mac: '0a:58:c0:a8:01:64', mtu: 1500, sandbox: POD }]);
    assert.deepEqual(json.ips, [{ address: '192.168.1.100/24', gateway: '192.168.1.1', interface: 0 }]);
    assert.deepEqual(json.routes, [{ dst: '0.0.0.0/0', gw: '192.168.1.1' }]);
    assert.deepEqual(kernel.changes(), [{ op: 'add-macvlan', name: 'eth0', master: 'eth1', mode: 'bridge', mtu: 1500, mac: '0a:58:c0:a8:01:64', netns: POD }]);
    assert.deepEqual(kernel.changes(POD).filter((c) => c.op !== 'set-sysctl'), [
      { op: 'set-up', link: 'lo' },
      { op: 'add-address', link: 'eth0', address: parseCidr('192.168.1.100/24') },
      { op: 'set-up', link: 'eth0' },
      { op: 'add-route', dst: parseCidr('0.0.0.0/0'), gateway: parseIp('192.168.1.1'), link: 'eth0' },
    ] as Change[]);
    assert.equal(kernel.link('eth0', POD)?.macvlanMode, 'bridge');
    assert.deepEqual(sent.map((s) => [s.netns, s.frames.map((f) => f.what)]), [[POD, ['gratuitous ARP 0a:58:c0:a8:01:64']]]);
    assert.deepEqual(reserved(store), ['192.168.1.100']);
  });

  test('a failing announcement is a warning, not a failed ADD', async () => {
    const { code, log } = await call(addEnv('c1'), conf(), node(), new MemoryStore(4), () => { throw new Error('EPERM'); });
    assert.equal(code, 0);
    assert.ok(log.entries.some((e) => e.level === 'warn' && /could not announce/.test(e.msg ?? '')));
  });

  test('the pod side failing undoes the macvlan and the address', async () => {
    const kernel = node().failNth({ op: 'add-route' }, 1, { message: 'Network is unreachable' });
    const store = new MemoryStore(4);
    const { code, json } = await call(addEnv('c1'), conf(), kernel, store);
    assert.equal(code, 1);
    assert.match(json.msg, /Network is unreachable/);
    assert.deepEqual(kernel.linkNames(POD), ['lo']);
    assert.deepEqual(reserved(store), []);
  });

  test('refusals before anything is made: no master, an MTU above it', async () => {
    for (const [extra, message] of [[{ master: 'eth9' }, /master "eth9" is not an interface/], [{ mtu: 9000 }, /above the MTU of the master eth1/]] as const) {
      const kernel = node();
      const store = new MemoryStore(4);
      const { code, json } = await call(addEnv('c1'), conf(extra), kernel, store);
      assert.deepEqual([code, json.code], [1, 7]);
      assert.match(json.msg, message);
      assert.deepEqual(kernel.changes(), []);
      assert.deepEqual(reserved(store), []);
    }
  });

  test('passthru: the second attachment is refused in words, and its address released', async () => {
    const kernel = node();
    const store = new MemoryStore(4);
    assert.equal((await call(addEnv('c1'), conf({ macvlanMode: 'passthru' }), kernel, store)).code, 0);
    assert.equal(kernel.link('eth0', POD)?.mac, '52:54:00:00:00:01', 'the NIC\'s MAC');
    const second = await call(addEnv('c2'), conf({ macvlanMode: 'passthru' }), kernel, store);
    assert.deepEqual([second.code, second.json.code], [1, 7]);
    assert.match(second.json.msg, /a passthru macvlan takes the NIC alone.*one passthru attachment per master/);
    assert.deepEqual(reserved(store), ['192.168.1.100']);
    assert.deepEqual(kernel.linkNames(podNetns('c2')), ['lo']);
  });

  test('hostShim: the shim made once, shared by every ADD; the routes of the range', async () => {
    const kernel = node();
    const store = new MemoryStore(4);
    for (const id of ['c1', 'c2']) assert.equal((await call(addEnv(id), conf({ hostShim: true }), kernel, store)).code, 0);
    const shims = kernel.changes().filter((c) => c.op === 'add-macvlan' && c.shared);
    assert.equal(shims.length, 2, 'asked for at each ADD');
    assert.deepEqual(kernel.linkNames().filter((n) => n.startsWith('bwshim')).length, 1);
    assert.deepEqual(kernel.routes().filter((r) => r.dev?.startsWith('bwshim')).map((r) => r.dst), ['192.168.1.100/30', '192.168.1.104/30', '192.168.1.108/31', '192.168.1.110/32']);
  });

  test('DEL deletes the pod\'s macvlan and releases; again succeeds; a link that is no macvlan is left alone', async () => {
    const kernel = node();
    const store = new MemoryStore(4);
    await call(addEnv('c1'), conf(), kernel, store);
    for (let i = 0; i < 2; i++) assert.equal((await call(delEnv('c1'), conf(), kernel, store)).code, 0);
    assert.deepEqual(kernel.linkNames(POD), ['lo']);
    assert.deepEqual(reserved(store), []);
    const other = new FakeKernel().device('eth1').device('eth0', { netns: podNetns('c3') });
    assert.equal((await call(delEnv('c3'), conf(), other, new MemoryStore(4))).code, 0);
    assert.deepEqual(other.linkNames(podNetns('c3')).sort(), ['eth0', 'lo']);
  });
});
