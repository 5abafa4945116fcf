// cni/ipam/builtin.ts through the plugin's commands, on a FakeKernel and memory stores: both
// families reserved in ADD or neither, released by DEL and GC, and counted by STATUS.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { formatIp, parseIp } from '../../../../lib/cidr.ts';
import { MemoryStore } from '../../../../ipam/memory-store.ts';
import { FakeKernel } from '../../../fixtures/fake-kernel.ts';
import { addEnv, captureLogger, delEnv, fakeProcSys, invoke, netConf, podNetns } from '../../../fixtures/plugin-kernel.ts';
import { hostVethName } from '../../../../lib/names.ts';

const DUAL = { ranges: [[{ subnet: '10.0.0.0/24' }], [{ subnet: 'fd00:10::/64' }]] };
const reserved = (store: MemoryStore) => store.list().map((r) => `${formatIp({ family: store.family, value: r.ip })} ${r.attachment.containerId}`);


describe('IPAM across families', () => {
  const small6 = { ranges: [[{ subnet: '10.0.0.0/24' }], [{ subnet: 'fd00:10::/126' }]] };

  test('a full IPv6 range fails ADD naming IPv6, and the IPv4 address taken in the same ADD is released', async () => {
    const store = new MemoryStore(4);
    const store6 = new MemoryStore(6);
    const deps = { kernel: new FakeKernel(), store, store6, procSys: fakeProcSys().root };
    for (const id of ['a', 'b']) assert.equal((await invoke(addEnv(id), netConf({ ipam: small6 }), deps)).code, 0);
    const res = await invoke(addEnv('c'), netConf({ ipam: small6 }), deps);
    assert.equal(res.code, 1);
    assert.equal(res.json?.code, 102);
    assert.match(res.json?.msg, /^no free IPv6 address in fd00:10::1-fd00:10::3: all 2 are reserved/);
    assert.deepEqual(reserved(store), ['10.0.0.2 a', '10.0.0.3 b']);
    assert.deepEqual(reserved(store6), ['fd00:10::2 a', 'fd00:10::3 b']);
    assert.ok(!store.listAttachments().some((a) => a.containerId === 'c'));
  });

  test('when giving back the IPv4 address fails too, the error says so', async () => {
    class StuckStore extends MemoryStore {
      override release(): bigint | undefined {
        throw new Error('disk gone');
      }
    }
    const store6 = new MemoryStore(6);
    const deps = { kernel: new FakeKernel(), store6, procSys: fakeProcSys().root };
    for (const id of ['a', 'b']) await invoke(addEnv(id), netConf({ ipam: small6 }), deps);
    const res = await invoke(addEnv('c'), netConf({ ipam: small6 }), { ...deps, store: new StuckStore(4) });
    assert.equal(res.json?.code, 102);
    assert.match(res.json?.msg, /^no free IPv6 address in .*; releasing the addresses this ADD took failed too: disk gone$/);
  });

  test('STATUS is code 50 when either family is full, naming it', async () => {
    const store6 = new MemoryStore(6);
    const deps = { kernel: new FakeKernel(), store6, procSys: fakeProcSys().root };
    assert.equal((await invoke({ CNI_COMMAND: 'STATUS' }, netConf({ ipam: small6 }), deps)).code, 0);
    for (const id of ['a', 'b']) await invoke(addEnv(id), netConf({ ipam: small6 }), deps);
    const res = await invoke({ CNI_COMMAND: 'STATUS' }, netConf({ ipam: small6 }), deps);
    assert.equal(res.json?.code, 50);
    assert.equal(res.json?.msg, 'no free IPv6 pod addresses left in fd00:10::1-fd00:10::3');
  });

  test('a failing ADD after IPAM releases both addresses; a retried one keeps what it held', async () => {
    const store = new MemoryStore(4);
    const store6 = new MemoryStore(6);
    const sys = fakeProcSys();
    const kernel = new FakeKernel().failNth({ op: 'add-address', netns: podNetns('c1') }, 2, { message: 'Operation not permitted' });
    const res = await invoke(addEnv(), netConf({ ipam: DUAL }), { kernel, store, store6, procSys: sys.root });
    assert.equal(res.code, 1);
    assert.equal(res.json?.msg, 'addr add fd00:10::2/64 dev eth0 nodad: Operation not permitted');
    assert.deepEqual([reserved(store), reserved(store6)], [[], []]);
    assert.deepEqual(kernel.linkNames(podNetns('c1')), ['lo'], 'the veth went with the rollback');
    // Once ADD has succeeded, a retry that fails (here on a node whose veth is gone) keeps the addresses.
    const ok = await invoke(addEnv(), netConf({ ipam: DUAL }), { kernel, store, store6, procSys: sys.root });
    assert.equal(ok.code, 0, ok.out[0]);
    const retry = await invoke(addEnv(), netConf({ ipam: DUAL }), { kernel: new FakeKernel().failNth({ op: 'add-route' }, 1), store, store6, procSys: sys.root });
    assert.equal(retry.code, 1);
    assert.deepEqual([reserved(store), reserved(store6)].flat(), ok.json?.ips.map((ip: { address: string }) => `${ip.address.split('/')[0]} c1`));
  });

  test('the bridge sysctl that cannot be written fails ADD with code 5, and nothing is left', async () => {
    const store = new MemoryStore(4);
    const store6 = new MemoryStore(6);
    const kernel = new FakeKernel();
    const res = await invoke(addEnv(), netConf({ ipam: DUAL }), { kernel, store, store6, procSys: path.join(fakeProcSys().root, 'no-such-proc') });
    assert.equal(res.json?.code, 5);
    assert.match(res.json?.msg, /net\/ipv6\/conf\/cni0\/accept_ra to 0 \(the pod bridge must not accept router advertisements\)/);
    assert.deepEqual([reserved(store), reserved(store6)], [[], []]);
    assert.deepEqual(kernel.changes().at(-1), { op: 'delete-link', link: hostVethName('c1', 'eth0') }, 'the veth is removed again');
    assert.deepEqual([kernel.linkNames(), kernel.changes(podNetns('c1'))], [['lo', 'cni0'], []], 'before the pod was touched');
  });

  test('DEL releases both families and says so', async () => {
    const store = new MemoryStore(4);
    const store6 = new MemoryStore(6);
    const deps = { kernel: new FakeKernel(), store, store6, procSys: fakeProcSys().root };
    await invoke(addEnv(), netConf({ ipam: DUAL }), deps);
    const log = captureLogger();
    assert.equal((await invoke(delEnv(), netConf({ ipam: DUAL }), { ...deps, log })).code, 0);
    assert.deepEqual(log.entries.map((e) => e.obj.address), ['released 10.0.0.2, fd00:10::2']);
    assert.deepEqual([reserved(store), reserved(store6)], [[], []]);
  });

  test('DEL also frees an IPv6 address after the conflist dropped IPv6', async () => {
    const store6 = new MemoryStore(6);
    store6.reserve(parseIp('fd00:10::9')!.value, { containerId: 'c1', ifname: 'eth0' });
    assert.equal((await invoke(delEnv(), netConf(), { store6 })).code, 0);
    assert.deepEqual(reserved(store6), []);
  });

  test('GC releases both families of the dead attachments only', async () => {
    const store = new MemoryStore(4);
    const store6 = new MemoryStore(6);
    const kernel = new FakeKernel();
    const deps = { kernel, store, store6, procSys: fakeProcSys().root };
    for (const id of ['live', 'dead']) await invoke(addEnv(id), netConf({ ipam: DUAL }), deps);
    // A crash may leave an IPv6 reservation whose attachment holds no IPv4 one.
    store6.reserve(parseIp('fd00:10::99')!.value, { containerId: 'orphan6', ifname: 'eth0' });
    const res = await invoke({ CNI_COMMAND: 'GC' }, netConf({ ipam: DUAL, 'cni.dev/valid-attachments': [{ containerID: 'live', ifname: 'eth0' }] }), deps);
    assert.equal(res.code, 0, res.out[0]);
    assert.deepEqual([reserved(store), reserved(store6)], [['10.0.0.2 live'], ['fd00:10::2 live']]);
    assert.deepEqual(kernel.linkNames(), ['lo', 'cni0', hostVethName('live', 'eth0')]);
  });
});
