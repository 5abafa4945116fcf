// Fault injection at the kernel boundary (issue 8 item 7, plugin half): the real commands run
// against a FakeKernel that fails chosen changes or reads, a FakeRunner for the delegated IPAM
// plugin, and a memory store; each test checks what the runtime is told, the changes the kernel
// was asked for, in order, and that nothing is left half-made.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { formatIp, parseCidr, parseIp } from '../../../../lib/cidr.ts';
import { IpamStoreError } from '../../../../ipam/errors.ts';
import { MemoryStore } from '../../../../ipam/memory-store.ts';
import type { Change } from '../../../../lib/kernel/change.ts';
import { hostVethMac, podElements, unguardPort } from '../../../../cni/plan.ts';
import { FakeKernel } from '../../../fixtures/fake-kernel.ts';
import { FakeRunner } from '../../../fixtures/fake-runner.ts';
import { addEnv, captureLogger, delEnv, invoke, netConf, podNetns } from '../../../fixtures/plugin-kernel.ts';
import { hostVethAlias, hostVethName } from '../../../../lib/names.ts';

const VETH = hostVethName('c1', 'eth0');
const POD = podNetns('c1');
const reserved = (store: MemoryStore) => store.list().map((r) => formatIp({ family: 4, value: r.ip }));
const deleteVeth = (name = VETH): Change => ({ op: 'delete-link', link: name });

/** What c1/eth0 with 10.0.0.2 may send as: added last on the node, removed first on rollback and DEL. */
const ELEMENTS = podElements(VETH, [parseIp('10.0.0.2')!]);
const GUARD: Change = { op: 'guard-port', link: VETH, elements: ELEMENTS };
const UNGUARD: Change = unguardPort(VETH, ELEMENTS);

/** The changes of a healthy ADD of c1/eth0 with 10.0.0.2 (netConf: network neta, MTU 1400). */
const HOST_CHANGES: Change[] = [
  { op: 'add-bridge', name: 'cni0', mac: '0a:58:0a:00:00:01', mtu: 1400 },
  { op: 'set-up', link: 'cni0' },
  { op: 'add-address', link: 'cni0', address: parseCidr('10.0.0.1/24')!, replace: true },
  { op: 'add-veth', name: VETH, mac: hostVethMac('c1', 'eth0'), mtu: 1400, peer: { name: 'eth0', mac: '0a:58:0a:00:00:02', mtu: 1400, netns: POD } },
  { op: 'attach-port', link: VETH, bridge: 'cni0', alias: 'bridgeway:neta:c1:eth0' },
  { op: 'set-hairpin', link: VETH, on: true },
  GUARD,
];
/** Before eth0 comes up: no router advertisements, no redirects, the link-local address from the MAC (cni/plan.ts). */
const POD_SYSCTLS: Change[] = [
  { op: 'set-sysctl', key: 'net/ipv6/conf/eth0/accept_ra', value: '0', tolerate: 'missing' },
  { op: 'set-sysctl', key: 'net/ipv6/conf/eth0/accept_redirects', value: '0', tolerate: 'missing' },
  { op: 'set-sysctl', key: 'net/ipv4/conf/all/accept_redirects', value: '0' },
  { op: 'set-sysctl', key: 'net/ipv4/conf/eth0/accept_redirects', value: '0' },
  { op: 'set-sysctl', key: 'net/ipv6/conf/eth0/addr_gen_mode', value: '0', tolerate: 'missing' },
];
const POD_CHANGES: Change[] = [
  ...POD_SYSCTLS,
  { op: 'set-up', link: 'lo' },
  { op: 'add-address', link: 'eth0', address: parseCidr('10.0.0.2/24')! },
  { op: 'set-up', link: 'eth0' },
  { op: 'add-route', dst: parseCidr('0.0.0.0/0')!, gateway: parseIp('10.0.0.1')!, link: 'eth0' },
];

// A delegated IPAM plugin must exist in CNI_PATH (findPlugin checks); the FakeRunner answers for it.
const cniDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-faults-'));
after(() => fs.rmSync(cniDir, { recursive: true, force: true }));
const IPAM = path.join(cniDir, 'fake-ipam');
fs.writeFileSync(IPAM, '#!/bin/sh\nexit 1\n', { mode: 0o755 });
const delegated = netConf({ ipam: { type: 'fake-ipam' } });
const withPath = (env: Record<string, string>) => ({ ...env, CNI_PATH: cniDir });
const IPAM_RESULT = JSON.stringify({ cniVersion: '1.1.0', ips: [{ address: '10.0.0.9/24', gateway: '10.0.0.1' }] });

describe('ADD', () => {
  test('on the common path: one batch on the node (ending in the bridge and its ports), one in the pod, and no process', async () => {
    const kernel = new FakeKernel();
    const res = await invoke(addEnv(), netConf(), { kernel });
    assert.equal(res.code, 0, res.out[0]);
    assert.deepEqual(kernel.calls, [
      { method: 'apply', changes: HOST_CHANGES, queries: [{ op: 'show-link', link: 'cni0' }, { op: 'show-ports', bridge: 'cni0' }] },
      { method: 'apply', netns: POD, changes: POD_CHANGES, queries: [{ op: 'show-link', link: 'eth0' }] },
    ]);
    assert.deepEqual(kernel.link(VETH)?.alias, 'bridgeway:neta:c1:eth0');
    assert.deepEqual(kernel.routes(POD), [{ dst: '0.0.0.0/0', gateway: '10.0.0.1', dev: 'eth0' }]);
    assert.deepEqual(POD_SYSCTLS.map((c) => kernel.sysctl((c as { key: string }).key, POD)), ['0', '0', '0', '0', '0']);
    assert.equal(kernel.sysctl('net/ipv4/conf/all/accept_redirects'), '1', 'the node\'s own sysctls are not touched');
  });

  test('a pod namespace without IPv6: its missing IPv6 sysctls are no error, the IPv4 ones are set', async () => {
    const kernel = new FakeKernel().withoutIpv6(POD);
    const res = await invoke(addEnv(), netConf(), { kernel });
    assert.equal(res.code, 0, res.out[0]);
    assert.deepEqual(kernel.changes(POD), POD_CHANGES);
    assert.deepEqual(POD_SYSCTLS.map((c) => kernel.sysctl((c as { key: string }).key, POD)), [undefined, undefined, '0', '0', undefined]);
  });

  test('a stale host veth left by an interrupted ADD is deleted, and the node batch runs once more', async () => {
    // A crash lost the pod side but left a link with our host veth's name.
    const kernel = new FakeKernel().seed([{ op: 'add-bridge', name: VETH, mac: '02:00:00:00:00:99', mtu: 1500 }]);
    const log = captureLogger();
    const res = await invoke(addEnv(), netConf(), { kernel, log });
    assert.equal(res.code, 0, res.out[0]);
    assert.deepEqual(kernel.changes(), [...HOST_CHANGES.slice(0, 4), deleteVeth(), ...HOST_CHANGES]);
    assert.deepEqual(kernel.calls.filter((c) => c.method === 'getLink'), [{ method: 'getLink', name: 'eth0', netns: POD }], 'the pod was asked first');
    assert.equal(kernel.link(VETH)?.kind, 'veth');
    assert.ok(log.entries.some((e) => e.level === 'warn' && e.msg === 'removing a stale host veth left by an interrupted ADD'));
  });

  test('"hairpinMode": false on a port that already has hairpin on (a stale veth of an ADD with it on): the new port has it off', async () => {
    // The earlier ADD's veth is still there, its pod end in another namespace (the retry got a new one).
    const stale = podNetns('c1-old');
    const kernel = new FakeKernel().seed([
      { op: 'add-bridge', name: 'cni0', mac: '0a:58:0a:00:00:01', mtu: 1400 },
      { op: 'add-veth', name: VETH, mac: hostVethMac('c1', 'eth0'), mtu: 1400, peer: { name: 'eth0', mac: '0a:58:0a:00:00:02', mtu: 1400, netns: stale } },
      { op: 'attach-port', link: VETH, bridge: 'cni0', alias: 'bridgeway:neta:c1:eth0' },
      { op: 'set-hairpin', link: VETH, on: true },
    ]);
    const res = await invoke(addEnv(), netConf({ hairpinMode: false }), { kernel });
    assert.equal(res.code, 0, res.out[0]);
    assert.ok(kernel.changes().some((c) => c.op === 'delete-link' && c.link === VETH), 'the stale veth was replaced');
    assert.equal(kernel.link(VETH)?.hairpin, false);
    assert.deepEqual(kernel.changes().findLast((c) => c.op === 'set-hairpin'), { op: 'set-hairpin', link: VETH, on: false });
  });

  test('CNI_IFNAME already in the pod: code 100; the pod\'s interface untouched, nothing of ours left', async () => {
    const kernel = new FakeKernel().seed([{ op: 'add-bridge', name: 'eth0', mac: '02:00:00:00:00:98', mtu: 1500 }], POD);
    const store = new MemoryStore();
    const res = await invoke(addEnv(), netConf(), { kernel, store });
    assert.equal(res.json?.code, 100);
    assert.match(res.json?.msg, /interface eth0 already exists/);
    assert.deepEqual(kernel.changes(), HOST_CHANGES.slice(0, 4), 'the veth could not be made, and nobody\'s link is deleted');
    assert.deepEqual([kernel.changes(POD), kernel.link('eth0', POD)?.kind], [[], 'bridge']);
    assert.deepEqual([kernel.linkNames(), reserved(store)], [['lo', 'cni0'], []]);
  });

  test('a second ADD of a live attachment fails with 100 and keeps its address and its veth', async () => {
    const kernel = new FakeKernel();
    const store = new MemoryStore();
    assert.equal((await invoke(addEnv(), netConf(), { kernel, store })).code, 0);
    const again = await invoke(addEnv(), netConf(), { kernel, store });
    assert.equal(again.json?.code, 100);
    assert.deepEqual(reserved(store), ['10.0.0.2'], 'the live pod keeps its address');
    assert.equal(kernel.link('eth0', POD)?.operState, 'UP', 'and its interface');
  });
});

describe('ADD refusing up front', () => {
  test('a network name and container ID too long for the veth alias: code 7 before anything is made', async () => {
    const store = new MemoryStore();
    const kernel = new FakeKernel();
    const res = await invoke(addEnv('c'.repeat(64)), netConf({ name: 'n'.repeat(200) }), { kernel, store });
    assert.equal(res.json?.code, 7);
    assert.match(res.json?.msg, /alias .* would be 280 characters, the kernel allows 255/);
    assert.deepEqual(kernel.calls, []);
    assert.deepEqual(reserved(store), []);
  });
});

describe('ADD failing at each step', () => {
  test('node batch: code 103 naming the change; the veth deleted, the address released, the pod never touched', async () => {
    const store = new MemoryStore();
    const kernel = new FakeKernel().failNth({ op: 'add-veth' }, 1, { message: 'Operation not permitted' });
    const res = await invoke(addEnv(), netConf(), { kernel, store });
    assert.equal(res.code, 1);
    assert.equal(res.json?.code, 103);
    assert.match(res.json?.msg, new RegExp(`^link add ${VETH} .*: Operation not permitted$`));
    assert.deepEqual(kernel.changes(), [...HOST_CHANGES.slice(0, 4), UNGUARD, deleteVeth()], 'the half-made veth is deleted (and elements it may have, none)');
    assert.deepEqual(reserved(store), []);
    assert.deepEqual(kernel.changes(POD), [], 'the pod is never touched');
    assert.deepEqual(kernel.linkNames(), ['lo', 'cni0'], 'only the shared bridge stays');
  });

  test('pod batch: code 103; rollback deletes the veth, then releases the address', async () => {
    const store = new MemoryStore();
    const kernel = new FakeKernel().failNth({ op: 'add-route' }, 1, { message: 'Network is unreachable (Nexthop has invalid gateway)' });
    const releasedWith: string[][] = [];
    const release = store.release.bind(store);
    store.release = (...args) => (releasedWith.push(kernel.linkNames()), release(...args));
    const res = await invoke(addEnv(), netConf(), { kernel, store });
    assert.equal(res.json?.code, 103);
    assert.equal(res.json?.msg, 'route add 0.0.0.0/0 via 10.0.0.1 dev eth0: Network is unreachable (Nexthop has invalid gateway)');
    assert.deepEqual(kernel.changes(POD), POD_CHANGES);
    assert.deepEqual(kernel.changes(), [...HOST_CHANGES, UNGUARD, deleteVeth()]);
    assert.deepEqual(kernel.guardedElements(), [], 'the port\'s elements went with it');
    assert.deepEqual(releasedWith, [['lo', 'cni0']], 'the address is released once, after the veth is gone');
    assert.deepEqual([reserved(store), kernel.linkNames(POD)], [[], ['lo']]);
  });

  test('a sysctl the pod refuses: code 103 naming it; nothing after it, the veth deleted, the address released', async () => {
    const store = new MemoryStore();
    const kernel = new FakeKernel().failNth({ op: 'set-sysctl' }, 3, { message: 'Read-only file system' });
    const res = await invoke(addEnv(), netConf(), { kernel, store });
    assert.equal(res.json?.code, 103);
    assert.equal(res.json?.msg, 'sysctl -w net/ipv4/conf/all/accept_redirects=0: Read-only file system');
    assert.deepEqual(kernel.changes(POD), POD_SYSCTLS.slice(0, 3), 'the interface never came up');
    assert.deepEqual(kernel.changes(), [...HOST_CHANGES, UNGUARD, deleteVeth()]);
    assert.deepEqual([reserved(store), kernel.linkNames(POD)], [[], ['lo']]);
  });

  test('a missing IPv4 sysctl is not tolerated (only the IPv6 ones are): the ADD rolls back', async () => {
    const store = new MemoryStore();
    const kernel = new FakeKernel().failNth({ op: 'set-sysctl' }, 4, { kind: 'missing', message: 'No such file or directory' });
    const res = await invoke(addEnv(), netConf(), { kernel, store });
    assert.equal(res.json?.code, 103);
    assert.equal(res.json?.msg, 'sysctl -w net/ipv4/conf/eth0/accept_redirects=0: No such file or directory');
    assert.deepEqual([reserved(store), kernel.linkNames(POD)], [[], ['lo']]);
  });

  test('the last step before the result (waiting for carrier): a failing read rolls everything back', async () => {
    const store = new MemoryStore();
    const kernel = new FakeKernel().withoutCarrier('eth0', POD).failFrom({ op: 'get-link', link: VETH }, 1, { message: 'Resource temporarily unavailable' });
    const res = await invoke(addEnv(), netConf(), { kernel, store });
    assert.equal(res.json?.code, 103);
    assert.match(res.json?.msg, /Resource temporarily unavailable/);
    assert.deepEqual(kernel.changes(), [...HOST_CHANGES, UNGUARD, deleteVeth()]);
    assert.deepEqual(reserved(store), []);
  });

  test('a failing undo does not stop the rollback, and the error says what was left', async () => {
    const store = new MemoryStore();
    const kernel = new FakeKernel()
      .failNth({ op: 'add-route' }, 1, { message: 'Network is unreachable (Nexthop has invalid gateway)' })
      .failNth({ op: 'delete-link', link: VETH }, 1, { message: 'Device or resource busy' });
    const log = captureLogger();
    const res = await invoke(addEnv(), netConf(), { kernel, store, log });
    assert.equal(res.json?.code, 103, 'the original failure\'s code');
    assert.equal(res.json?.msg, `route add 0.0.0.0/0 via 10.0.0.1 dev eth0: Network is unreachable (Nexthop has invalid gateway); rollback incomplete (delete veth ${VETH}: link del ${VETH}: Device or resource busy): DEL this attachment to clean up`);
    assert.deepEqual(reserved(store), [], 'the address was released after the failed undo');
    assert.deepEqual(kernel.linkNames(), ['lo', 'cni0', VETH], 'the veth the error names is indeed left');
    assert.ok(log.entries.some((e) => e.level === 'error' && /rollback step failed: delete veth/.test(e.msg ?? '')));
  });

  test('delegated IPAM fails: code 104 with its message; no kernel change at all', async () => {
    const kernel = new FakeKernel();
    const run = new FakeRunner().failFrom([IPAM], 1, { exitCode: 1, stdout: JSON.stringify({ code: 11, msg: 'store locked' }) });
    const res = await invoke(withPath(addEnv()), delegated, { kernel, run: run.run });
    assert.equal(res.json?.code, 104);
    assert.match(res.json?.msg, /IPAM plugin fake-ipam ADD failed: store locked \[code 11\]/);
    assert.deepEqual(kernel.calls, []);
  });

  test('delegated IPAM prints no usable result: its reservation is given back with DEL', async () => {
    const run = new FakeRunner().on([IPAM], { stdout: 'not json' });
    const res = await invoke(withPath(addEnv()), delegated, { run: run.run });
    assert.equal(res.json?.code, 104);
    assert.match(res.json?.msg, /printed no JSON result/);
    assert.deepEqual(run.callsMatching([IPAM]).map((c) => c.env?.CNI_COMMAND), ['ADD', 'DEL']);
  });

  test('delegated IPAM: a pod-side failure deletes the veth, then calls its DEL', async () => {
    const kernel = new FakeKernel().failNth({ op: 'add-address', netns: POD }, 1, { kind: 'exists', message: 'File exists' });
    const run = new FakeRunner().on([IPAM], { stdout: IPAM_RESULT });
    const order: string[] = [];
    const res = await invoke(withPath(addEnv()), delegated, {
      kernel,
      run: async (argv, options) => (order.push(`ipam ${options?.env?.CNI_COMMAND}: veth ${kernel.link(VETH) ? 'present' : 'gone'}`), run.run(argv, options)),
    });
    assert.equal(res.json?.code, 103);
    assert.deepEqual(order, ['ipam ADD: veth gone', 'ipam DEL: veth gone']);
    assert.deepEqual(kernel.changes().at(-1), deleteVeth());
  });
});

describe('DEL', () => {
  test('reports every failed step, not only the first', async () => {
    const store = new MemoryStore();
    store.release = () => {
      throw new IpamStoreError('IPAM store: cannot remove /data/ips/10.0.0.2: EROFS: read-only file system');
    };
    const kernel = new FakeKernel().failFrom({ op: 'delete-link' }, 1, { message: 'Operation not permitted' });
    const res = await invoke(delEnv(), netConf(), { kernel, store });
    assert.equal(res.json?.code, 103, 'the first failure\'s code');
    assert.match(res.json?.msg, new RegExp(`^DEL incomplete: delete veth ${VETH}: link del ${VETH}: Operation not permitted; release address: IPAM store: cannot remove /data/ips/10\\.0\\.0\\.2: EROFS`));
  });

  test('deletes the host veth, which takes the pod\'s end with it, and is idempotent', async () => {
    const kernel = new FakeKernel();
    const store = new MemoryStore();
    assert.equal((await invoke(addEnv(), netConf(), { kernel, store })).code, 0);
    assert.equal((await invoke(delEnv(), netConf(), { kernel, store })).code, 0);
    assert.equal((await invoke(delEnv(), netConf(), { kernel, store })).code, 0);
    assert.deepEqual(kernel.changes().slice(HOST_CHANGES.length), [UNGUARD, deleteVeth(), deleteVeth()], 'the elements once: then no address is held');
    assert.deepEqual(kernel.guardedElements(), []);
    assert.deepEqual([kernel.linkNames(), kernel.linkNames(POD), kernel.routes(POD), reserved(store)], [['lo', 'cni0'], ['lo'], [], []]);
  });

  test('logs what it did: info when it changed something, debug when there was nothing to do', async () => {
    const kernel = new FakeKernel();
    const store = new MemoryStore();
    assert.equal((await invoke(addEnv(), netConf(), { kernel, store })).code, 0);
    const first = captureLogger();
    assert.equal((await invoke(delEnv(), netConf(), { kernel, store, log: first })).code, 0);
    assert.deepEqual(first.entries.map((e) => [e.level, e.msg, e.obj.veth, e.obj.address]), [['info', 'pod detached', 'deleted', 'released 10.0.0.2']]);
    const again = captureLogger();
    assert.equal((await invoke(delEnv(), netConf(), { kernel, store, log: again })).code, 0);
    assert.deepEqual(again.entries.map((e) => [e.level, e.msg, e.obj.veth, e.obj.address]), [['debug', 'nothing to detach', 'already gone', 'none held']]);
  });

  test('an address still held with the veth already gone is a change worth info', async () => {
    const store = new MemoryStore();
    store.reserve(0x0a000007n, { containerId: 'c1', ifname: 'eth0' });
    const log = captureLogger();
    await invoke(delEnv(), netConf(), { kernel: new FakeKernel(), store, log });
    assert.deepEqual(log.entries.map((e) => [e.level, e.obj.veth, e.obj.address]), [['info', 'already gone', 'released 10.0.0.7']]);
  });
});

describe('GC keeps going past errors', () => {
  const gcConf = (extra: Record<string, unknown> = {}) => netConf({ 'cni.dev/valid-attachments': [], ...extra });
  const gcEnv = { CNI_COMMAND: 'GC', CNI_PATH: cniDir };
  const veth = (containerId: string) => hostVethName(containerId, 'eth0');
  /** A node where an earlier ADD attached each of these pods: its host veth is a port of cni0 with our alias. */
  const attached = (...pods: { containerId: string; network: string }[]) =>
    new FakeKernel().seed([
      HOST_CHANGES[0]!,
      ...pods.flatMap(({ containerId, network }): Change[] => [
        { op: 'add-veth', name: veth(containerId), mac: hostVethMac(containerId, 'eth0'), mtu: 1400, peer: { name: 'eth0', mac: '0a:58:0a:00:00:09', mtu: 1400, netns: podNetns(containerId) } },
        { op: 'attach-port', link: veth(containerId), bridge: 'cni0', alias: hostVethAlias(network, containerId, 'eth0') },
      ]),
    ]);
  const deletionsAsked = (kernel: FakeKernel) => kernel.calls.flatMap((c) => (c.method === 'deleteLinksIfPresent' ? [c.names] : []));

  test('a failed veth deletion keeps neither the other veths nor any address; another network\'s veth is never named', async () => {
    const store = new MemoryStore();
    store.reserve(0x0a000002n, { containerId: 'a1', ifname: 'eth0' });
    store.reserve(0x0a000003n, { containerId: 'a2', ifname: 'eth0' });
    const kernel = attached({ containerId: 'a1', network: 'neta' }, { containerId: 'a2', network: 'neta' }, { containerId: 'b1', network: 'netb' })
      .failNth({ op: 'delete-link' }, 1, { message: 'Operation not permitted' });
    const res = await invoke(gcEnv, gcConf(), { kernel, store });
    assert.equal(res.json?.code, 5);
    assert.equal(res.json?.msg, `GC incomplete: delete veths: link del ${veth('a1')}: Operation not permitted`);
    assert.deepEqual(deletionsAsked(kernel), [[veth('a1'), veth('a2')]]);
    assert.deepEqual(kernel.changes(), [deleteVeth(veth('a1')), deleteVeth(veth('a2'))]);
    assert.deepEqual(kernel.linkNames(), ['lo', 'cni0', veth('a1'), veth('b1')], 'only the veth that could not be deleted is left');
    assert.deepEqual(reserved(store), []);
    assert.ok(kernel.link(veth('b1')), 'the other network\'s veth is still there');
  });

  test('an unreadable store still lets alias-proven veths go, and the error names the store', async () => {
    const store = new MemoryStore();
    store.list = () => {
      throw new IpamStoreError('IPAM store: cannot list /data/ips: EIO: i/o error');
    };
    const kernel = attached({ containerId: 'a1', network: 'neta' });
    const res = await invoke(gcEnv, gcConf(), { kernel, store });
    assert.match(res.json?.msg, /^GC incomplete: read IPAM store: IPAM store: cannot list \/data\/ips: EIO/);
    assert.deepEqual(kernel.changes(), [deleteVeth(veth('a1'))]);
    assert.deepEqual(kernel.linkNames(), ['lo', 'cni0']);
  });

  test('delegated IPAM: DEL for each dead attachment of this network, past a failing one', async () => {
    const kernel = attached({ containerId: 'a1', network: 'neta' }, { containerId: 'a2', network: 'neta' }, { containerId: 'b1', network: 'netb' });
    const run = new FakeRunner().failNth([IPAM], 1, { stdout: JSON.stringify({ code: 5, msg: 'disk on fire' }) });
    const res = await invoke(gcEnv, gcConf({ ipam: { type: 'fake-ipam' } }), { kernel, run: run.run });
    assert.match(res.json?.msg, /^GC incomplete: release a1\/eth0: IPAM plugin fake-ipam DEL failed: disk on fire/);
    assert.deepEqual(run.callsMatching([IPAM]).map((c) => [c.env?.CNI_COMMAND, c.env?.CNI_CONTAINERID]), [['DEL', 'a1'], ['DEL', 'a2']]);
    assert.deepEqual(kernel.linkNames(), ['lo', 'cni0', veth('b1')]);
  });
});
