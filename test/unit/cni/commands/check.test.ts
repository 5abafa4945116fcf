// CHECK against the FakeKernel: after an ADD the pod's interface, addresses and routes and the
// host veth are what the ADD result says; each thing of ours that drifts is named. The reads are
// the model's, so what CHECK compares is what ADD really left, not a canned answer.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MemoryStore } from '../../../../ipam/memory-store.ts';
import { hostVethName } from '../../../../lib/names.ts';
import { FakeKernel } from '../../../fixtures/fake-kernel.ts';
import { addEnv, invoke, netConf, podNetns } from '../../../fixtures/plugin-kernel.ts';

const DUAL = { ranges: [[{ subnet: '10.0.0.0/24' }], [{ subnet: 'fd00:10::/64' }]] };
const POD = podNetns('c1');
const checkEnv = { ...addEnv(), CNI_COMMAND: 'CHECK' };
// An IPv6 ADD sets the bridge's accept_ra: in a /proc/sys of our own, never the machine's.
const procSys = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-check-'));
after(() => fs.rmSync(procSys, { recursive: true, force: true }));
fs.mkdirSync(path.join(procSys, 'net/ipv6/conf/cni0'), { recursive: true });
fs.writeFileSync(path.join(procSys, 'net/ipv6/conf/cni0/accept_ra'), '1\n');

/** A node after one ADD of c1/eth0, and the CHECK config that carries its result. */
async function added(ipam: object = { subnet: '10.0.0.0/24' }) {
  const kernel = new FakeKernel();
  const store = new MemoryStore(4);
  const store6 = new MemoryStore(6);
  const add = await invoke(addEnv(), netConf({ ipam }), { kernel, store, store6, procSys });
  assert.equal(add.code, 0, add.out[0]);
  const check = () => invoke(checkEnv, netConf({ ipam, prevResult: add.json }), { kernel, store, store6 });
  return { kernel, check };
}

describe('CHECK', () => {
  test('passes right after ADD, reading the pod (with IPv6 when the result has it), its sysctls and the host veth', async () => {
    const { kernel, check } = await added(DUAL);
    const res = await check();
    assert.equal(res.code, 0, res.out[0]);
    assert.deepEqual(kernel.calls.slice(2).map((c) => c.method), ['readNamespace', 'getLink', 'readSysctls', 'listGuards']);
    assert.deepEqual(kernel.calls[2], { method: 'readNamespace', netns: POD, ipv6: true });
    assert.deepEqual(kernel.calls[4], {
      method: 'readSysctls', netns: POD,
      keys: ['net/ipv6/conf/eth0/accept_ra', 'net/ipv6/conf/eth0/accept_redirects', 'net/ipv4/conf/all/accept_redirects', 'net/ipv4/conf/eth0/accept_redirects', 'net/ipv6/conf/eth0/addr_gen_mode'],
    });
  });

  for (const [key, value] of [['net/ipv6/conf/eth0/accept_ra', '1'], ['net/ipv4/conf/all/accept_redirects', '1'], ['net/ipv6/conf/eth0/addr_gen_mode', '3']] as const) {
    test(`the pod's ${key} changed to ${value}: code 101 naming it`, async () => {
      const { kernel, check } = await added(DUAL);
      kernel.seed([{ op: 'set-sysctl', key, value }], POD);
      const res = await check();
      assert.equal(res.json?.code, 101);
      assert.equal(res.json?.msg, `CHECK failed: the pod's ${key.replaceAll('/', '.')} is ${value}, expected 0`);
    });
  }

  test('a pod without IPv6 passes: its IPv6 sysctls are absent, which is the protection itself', async () => {
    const kernel = new FakeKernel().withoutIpv6(POD);
    const store = new MemoryStore(4);
    const add = await invoke(addEnv(), netConf(), { kernel, store });
    assert.equal(add.code, 0, add.out[0]);
    const res = await invoke(checkEnv, netConf({ prevResult: add.json }), { kernel, store });
    assert.equal(res.code, 0, res.out[0]);
  });

  test('the pod\'s interface gone: code 101 naming it', async () => {
    const { kernel, check } = await added();
    await kernel.deleteLinkIfPresent(hostVethName('c1', 'eth0'));
    const res = await check();
    assert.equal(res.json?.code, 101);
    assert.equal(res.json?.msg, `CHECK failed: interface eth0 is missing from the pod's netns`);
  });

  test('the host veth moved to another bridge: named with both bridges', async () => {
    const { kernel, check } = await added();
    kernel.seed([
      { op: 'add-bridge', name: 'br1', mac: '02:00:00:00:00:aa', mtu: 1400 },
      { op: 'attach-port', link: hostVethName('c1', 'eth0'), bridge: 'br1', alias: 'bridgeway:neta:c1:eth0' },
    ]);
    const res = await check();
    assert.equal(res.json?.msg, `CHECK failed: host veth ${hostVethName('c1', 'eth0')} is attached to br1, expected cni0`);
  });

  test('a veth of another network under our name: its alias says so', async () => {
    const { kernel, check } = await added();
    kernel.seed([{ op: 'attach-port', link: hostVethName('c1', 'eth0'), bridge: 'cni0', alias: 'bridgeway:netb:c1:eth0' }]);
    const res = await check();
    assert.match(res.json?.msg ?? '', /has alias bridgeway:netb:c1:eth0, expected bridgeway:neta:c1:eth0$/);
  });
});

describe('CHECK: the host veth\'s hairpin mode', () => {
  const VETH = hostVethName('c1', 'eth0');

  test('on by default: ADD sets it, CHECK passes; turned off behind our back: code 101 naming the port, the config and the fix', async () => {
    const { kernel, check } = await added();
    assert.equal(kernel.link(VETH)?.hairpin, true);
    assert.equal((await check()).code, 0);
    kernel.seed([{ op: 'set-hairpin', link: VETH, on: false }]);
    const res = await check();
    assert.equal(res.json?.code, 101);
    assert.equal(res.json?.msg, `CHECK failed: host veth ${VETH} has hairpin off, the config says "hairpinMode": true (the default): ` +
      `the pod cannot reach itself through a Service; recreate the pod, or run: ip link set ${VETH} type bridge_slave hairpin on`);
  });

  test('"hairpinMode": false: ADD sets it off, CHECK passes; turned on behind our back: code 101', async () => {
    const kernel = new FakeKernel();
    const store = new MemoryStore(4);
    const add = await invoke(addEnv(), netConf({ hairpinMode: false }), { kernel, store });
    assert.equal(add.code, 0, add.out[0]);
    assert.equal(kernel.link(VETH)?.hairpin, false);
    const check = () => invoke(checkEnv, netConf({ hairpinMode: false, prevResult: add.json }), { kernel, store });
    assert.equal((await check()).code, 0);
    kernel.seed([{ op: 'set-hairpin', link: VETH, on: true }]);
    assert.equal((await check()).json?.msg, `CHECK failed: host veth ${VETH} has hairpin on, the config says "hairpinMode": false; recreate the pod, or run: ip link set ${VETH} type bridge_slave hairpin off`);
  });

  test('a config that now wants hairpin where ADD left it off (a pod made with "hairpinMode": false): CHECK says so', async () => {
    const kernel = new FakeKernel();
    const store = new MemoryStore(4);
    const add = await invoke(addEnv(), netConf({ hairpinMode: false }), { kernel, store });
    const res = await invoke(checkEnv, netConf({ prevResult: add.json }), { kernel, store });
    assert.equal(res.json?.code, 101);
    assert.match(res.json?.msg ?? '', /has hairpin off, the config says "hairpinMode": true \(the default\)/);
  });
});

describe('CHECK: the pod\'s anti-spoofing elements', () => {
  const VETH = hostVethName('c1', 'eth0');

  test('all there after ADD (dual-stack: both families and the link-local address): passes', async () => {
    const { kernel, check } = await added(DUAL);
    assert.equal(kernel.guardedElements({ port: VETH }).length, 9);
    assert.equal((await check()).code, 0);
  });

  test('the port\'s elements removed behind our back: code 101 naming each missing one in nft\'s spelling', async () => {
    const { kernel, check } = await added();
    const elements = kernel.guardedElements({ port: VETH });
    kernel.seed([{ op: 'unguard-port', link: VETH, elements: elements.filter((e) => e.set === 'guarded_ports' || e.set === 'port_ipv4') }]);
    const res = await check();
    assert.equal(res.json?.code, 101);
    assert.equal(res.json?.msg, `CHECK failed: host veth ${VETH} lacks 2 anti-spoofing elements: guarded_ports { "${VETH}" }; port_ipv4 { "${VETH}" . 10.0.0.2 }`);
  });

  test('an element for the pod\'s port that is not its own (an extra address): code 101 naming it; with missing ones too, both', async () => {
    const { kernel, check } = await added();
    const extra = { set: 'port_ipv4', key: [{ ifname: VETH }, { ip: { family: 4 as const, value: 0x0a000063n } }] };
    kernel.seed([{ op: 'guard-port', link: VETH, elements: [extra] }]);
    const res = await check();
    assert.equal(res.json?.code, 101);
    assert.equal(res.json?.msg, `CHECK failed: host veth ${VETH} has 1 anti-spoofing element that is not its own (its pod may send as it): port_ipv4 { "${VETH}" . 10.0.0.99 }`);
    const mine = kernel.guardedElements({ port: VETH }).filter((e) => e.set === 'port_mac');
    kernel.seed([{ op: 'unguard-port', link: VETH, elements: mine }]);
    assert.equal((await check()).json?.msg, `CHECK failed: host veth ${VETH} lacks 1 anti-spoofing element: port_mac { "${VETH}" . 0a:58:0a:00:00:02 }; and it has 1 anti-spoofing element that is not its own (its pod may send as it): port_ipv4 { "${VETH}" . 10.0.0.99 }`);
  });

  test('another port\'s elements do not stand in for the pod\'s; with "antiSpoofing": false nothing is read', async () => {
    const { kernel, check } = await added();
    const elements = kernel.guardedElements({ port: VETH });
    kernel.seed([{ op: 'unguard-port', link: VETH, elements }, { op: 'guard-port', link: 'bw000000000000', elements: elements.map((e) => ({ ...e, key: [{ ifname: 'bw000000000000' }, ...e.key.slice(1)] })) }]);
    assert.match((await check()).json?.msg, /lacks 7 anti-spoofing elements/);
    const none = new FakeKernel();
    const store = new MemoryStore(4);
    const add = await invoke(addEnv(), netConf({ antiSpoofing: false }), { kernel: none, store });
    const res = await invoke(checkEnv, netConf({ antiSpoofing: false, prevResult: add.json }), { kernel: none, store });
    assert.equal(res.code, 0, res.out[0]);
    assert.ok(!none.calls.some((c) => c.method === 'listGuards'));
  });
});
