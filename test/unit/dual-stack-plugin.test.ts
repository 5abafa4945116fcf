// The plugin per family, against a FakeKernel and memory stores: the plan (node and pod changes,
// MACs), the result of every version, accept_ra on the bridge, and IPAM across both families in
// ADD (all or nothing), DEL, GC and STATUS.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { formatCidr, formatIp, parseCidr, parseIp } from '../../lib/cidr.ts';
import { SUPPORTED_VERSIONS, type CniVersion } from '../../lib/cni-version.ts';
import { MemoryStore } from '../../ipam/memory-store.ts';
import { parseNetConf } from '../../cni/config/netconf.ts';
import { hostVethMac, planAdd, type PodAddressing } from '../../cni/plan.ts';
import type { Change } from '../../lib/kernel/change.ts';
import { FakeKernel } from '../fixtures/fake-kernel.ts';
import { addEnv, captureLogger, delEnv, invoke, netConf, podNetns } from '../fixtures/plugin-kernel.ts';
import { describeChange } from '../../lib/iproute2/change-command.ts';
import { hostVethName } from '../../lib/names.ts';

const DUAL = { ranges: [[{ subnet: '10.0.0.0/24' }], [{ subnet: 'fd00:10::/64' }]] };
const target = { containerId: 'abc', ifname: 'eth0', netns: '/run/netns/pod' };
const pod = (...ips: [string, string][]): PodAddressing => ({
  ips: ips.map(([address, gateway]) => ({ address: parseCidr(address)!, gateway: parseIp(gateway)! })),
  routes: ips.map(([address, gateway]) => ({ dst: parseCidr(address.includes(':') ? '::/0' : '0.0.0.0/0')!, gw: parseIp(gateway)! })),
});
/** The families of the addresses a change names. */
const familiesIn = (change: Change): number[] =>
  change.op === 'add-address' ? [change.address.family] : change.op === 'add-route' ? [change.dst.family, ...(change.gateway ? [change.gateway.family] : [])] : [];
const reserved = (store: MemoryStore) => store.list().map((r) => `${formatIp({ family: store.family, value: r.ip })} ${r.attachment.containerId}`);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-ds-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
/** A /proc/sys of our own with the bridge's accept_ra at the kernel default, 1. */
function procSys(bridge = 'cni0'): { root: string; acceptRa: () => string } {
  const root = fs.mkdtempSync(path.join(tmp, 'proc-sys-'));
  const file = path.join(root, 'net/ipv6/conf', bridge, 'accept_ra');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, '1\n');
  return { root, acceptRa: () => fs.readFileSync(file, 'utf8') };
}

describe('planAdd per family', () => {
  const conf = parseNetConf(JSON.stringify({ cniVersion: '1.1.0', name: 'n', type: 'bridgeway', ipam: DUAL }));
  test('dual-stack: both gateways on the bridge, IPv6 with nodad; both addresses and default routes in the pod', () => {
    const plan = planAdd(conf, target, pod(['10.0.0.7/24', '10.0.0.1'], ['fd00:10::7/64', 'fd00:10::1']));
    const lines = plan.hostChanges.map(describeChange);
    assert.deepEqual(lines.slice(0, 5), [
      'link add cni0 address 0a:58:0a:00:00:01 mtu 1500 type bridge',
      'link set cni0 up',
      'addr replace 10.0.0.1/24 dev cni0',
      'addr replace fd00:10::1/64 dev cni0 nodad',
      'addr replace fe80::1/64 dev cni0 nodad',
    ]);
    assert.match(lines[5]!, / peer name eth0 mtu 1500 address 0a:58:0a:00:00:07 netns /, 'the pod MAC stays IPv4-derived');
    assert.equal(plan.bridgeIpv6, true);
    assert.deepEqual(plan.podChanges.map(describeChange), [
      'link set lo up',
      'addr add 10.0.0.7/24 dev eth0',
      'addr add fd00:10::7/64 dev eth0 nodad',
      'link set eth0 up',
      'route add 0.0.0.0/0 via 10.0.0.1 dev eth0',
      'route add ::/0 via fd00:10::1 dev eth0',
    ]);
    assert.deepEqual(plan.result.ips, [
      { address: '10.0.0.7/24', gateway: '10.0.0.1', interface: 2 },
      { address: 'fd00:10::7/64', gateway: 'fd00:10::1', interface: 2 },
    ]);
    assert.deepEqual(plan.result.routes, [{ dst: '0.0.0.0/0', gw: '10.0.0.1' }, { dst: '::/0', gw: 'fd00:10::1' }]);
  });

  test('IPv6-only: MACs from the last 4 bytes of the IPv6 addresses, no IPv4 anywhere', () => {
    const plan = planAdd(conf, target, pod(['fd00:10::a:b0c/64', 'fd00:10::1']));
    assert.equal(plan.bridgeMac, '0a:58:00:00:00:01');
    assert.equal(plan.result.interfaces[2]!.mac, '0a:58:00:0a:0b:0c');
    assert.deepEqual([...new Set(plan.hostChanges.concat(plan.podChanges).flatMap(familiesIn))], [6]);
    assert.deepEqual(plan.hostChanges[2], { op: 'add-address', link: 'cni0', address: parseCidr('fd00:10::1/64')!, replace: true });
  });

  test('IPv4-only: no IPv6 gateway, so accept_ra is left alone', () => {
    assert.equal(planAdd(conf, target, pod(['10.0.0.7/24', '10.0.0.1'])).bridgeIpv6, false);
  });
});

describe('ADD prints both addresses in the document of its version', () => {
  const veth = hostVethName('c1', 'eth0');
  const expected = (version: CniVersion) => {
    const legacy = version.startsWith('0.');
    return {
      cniVersion: version,
      interfaces: [
        { name: 'cni0', mac: '0a:58:0a:00:00:01' },
        { name: veth, mac: hostVethMac('c1', 'eth0') },
        { name: 'eth0', mac: '0a:58:0a:00:00:02', ...(version === '1.1.0' ? { mtu: 1400 } : {}), sandbox: podNetns('c1') },
      ],
      ips: [
        { ...(legacy ? { version: '4' } : {}), address: '10.0.0.2/24', gateway: '10.0.0.1', interface: 2 },
        { ...(legacy ? { version: '6' } : {}), address: 'fd00:10::2/64', gateway: 'fd00:10::1', interface: 2 },
      ],
      routes: [{ dst: '0.0.0.0/0', gw: '10.0.0.1' }, { dst: '::/0', gw: 'fd00:10::1' }],
      dns: {},
    };
  };
  for (const version of SUPPORTED_VERSIONS) {
    test(`dual-stack ADD with cniVersion ${version}`, async () => {
      const sys = procSys();
      const res = await invoke(addEnv(), netConf({ cniVersion: version, ipam: DUAL }), { procSys: sys.root });
      assert.equal(res.code, 0, res.out[0]);
      assert.deepEqual(res.json, expected(version));
      assert.equal(sys.acceptRa(), '0\n', 'the bridge no longer accepts router advertisements');
    });
  }
  test('IPv6-only ADD in 0.3.1: one address of version "6", its default route, MAC from the address', async () => {
    const res = await invoke(addEnv(), netConf({ cniVersion: '0.3.1', ipam: { subnet: 'fd00:10::/120' } }), { procSys: procSys().root });
    assert.equal(res.code, 0, res.out[0]);
    assert.deepEqual(res.json?.ips, [{ version: '6', address: 'fd00:10::2/120', gateway: 'fd00:10::1', interface: 2 }]);
    assert.deepEqual(res.json?.routes, [{ dst: '::/0', gw: 'fd00:10::1' }]);
    assert.equal(res.json?.interfaces[2].mac, '0a:58:00:00:00:02');
  });
  test('one batch on the node and one in the pod, whatever the families; both families configured in each', async () => {
    const kernel = new FakeKernel();
    assert.equal((await invoke(addEnv(), netConf({ ipam: DUAL }), { kernel, procSys: procSys().root })).code, 0);
    assert.deepEqual(kernel.calls.map((c) => [c.method, 'netns' in c ? c.netns : 'node']), [['apply', 'node'], ['apply', podNetns('c1')]]);
    assert.deepEqual(kernel.link('cni0')?.addresses?.map(formatCidr), ['10.0.0.1/24', 'fd00:10::1/64', 'fe80::1/64']);
    assert.deepEqual(kernel.link('eth0', podNetns('c1'))?.addresses?.map(formatCidr), ['10.0.0.2/24', 'fd00:10::2/64']);
    assert.deepEqual(kernel.routes(podNetns('c1')), [{ dst: '0.0.0.0/0', gateway: '10.0.0.1', dev: 'eth0' }, { dst: '::/0', gateway: 'fd00:10::1', dev: 'eth0' }]);
  });
});

describe('IPAM across families', () => {
  const small6 = { ranges: [[{ subnet: '10.0.0.0/24' }], [{ subnet: 'fd00:10::/126' }]] };

  test('a full IPv6 range fails ADD naming IPv6, and the IPv4 address taken in the same ADD is released', async () => {
    const store = new MemoryStore(4);
    const store6 = new MemoryStore(6);
    const deps = { kernel: new FakeKernel(), store, store6, procSys: procSys().root };
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
    const deps = { kernel: new FakeKernel(), store6, procSys: procSys().root };
    for (const id of ['a', 'b']) await invoke(addEnv(id), netConf({ ipam: small6 }), deps);
    const res = await invoke(addEnv('c'), netConf({ ipam: small6 }), { ...deps, store: new StuckStore(4) });
    assert.equal(res.json?.code, 102);
    assert.match(res.json?.msg, /^no free IPv6 address in .*; releasing the addresses this ADD took failed too: disk gone$/);
  });

  test('STATUS is code 50 when either family is full, naming it', async () => {
    const store6 = new MemoryStore(6);
    const deps = { kernel: new FakeKernel(), store6, procSys: procSys().root };
    assert.equal((await invoke({ CNI_COMMAND: 'STATUS' }, netConf({ ipam: small6 }), deps)).code, 0);
    for (const id of ['a', 'b']) await invoke(addEnv(id), netConf({ ipam: small6 }), deps);
    const res = await invoke({ CNI_COMMAND: 'STATUS' }, netConf({ ipam: small6 }), deps);
    assert.equal(res.json?.code, 50);
    assert.equal(res.json?.msg, 'no free IPv6 pod addresses left in fd00:10::1-fd00:10::3');
  });

  test('a failing ADD after IPAM releases both addresses; a retried one keeps what it held', async () => {
    const store = new MemoryStore(4);
    const store6 = new MemoryStore(6);
    const sys = procSys();
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
    const res = await invoke(addEnv(), netConf({ ipam: DUAL }), { kernel, store, store6, procSys: path.join(tmp, 'no-such-proc') });
    assert.equal(res.json?.code, 5);
    assert.match(res.json?.msg, /net\/ipv6\/conf\/cni0\/accept_ra to 0 \(the pod bridge must not accept router advertisements\)/);
    assert.deepEqual([reserved(store), reserved(store6)], [[], []]);
    assert.deepEqual(kernel.changes().at(-1), { op: 'delete-link', link: hostVethName('c1', 'eth0') }, 'the veth is removed again');
    assert.deepEqual([kernel.linkNames(), kernel.changes(podNetns('c1'))], [['lo', 'cni0'], []], 'before the pod was touched');
  });

  test('DEL releases both families and says so', async () => {
    const store = new MemoryStore(4);
    const store6 = new MemoryStore(6);
    const deps = { kernel: new FakeKernel(), store, store6, procSys: procSys().root };
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
    const deps = { kernel, store, store6, procSys: procSys().root };
    for (const id of ['live', 'dead']) await invoke(addEnv(id), netConf({ ipam: DUAL }), deps);
    // A crash may leave an IPv6 reservation whose attachment holds no IPv4 one.
    store6.reserve(parseIp('fd00:10::99')!.value, { containerId: 'orphan6', ifname: 'eth0' });
    const res = await invoke({ CNI_COMMAND: 'GC' }, netConf({ ipam: DUAL, 'cni.dev/valid-attachments': [{ containerID: 'live', ifname: 'eth0' }] }), deps);
    assert.equal(res.code, 0, res.out[0]);
    assert.deepEqual([reserved(store), reserved(store6)], [['10.0.0.2 live'], ['fd00:10::2 live']]);
    assert.deepEqual(kernel.linkNames(), ['lo', 'cni0', hostVethName('live', 'eth0')]);
  });
});
