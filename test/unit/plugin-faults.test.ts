// Fault injection at the kernel boundary (issue 8 item 7, plugin half): the real commands run
// against a FakeRunner that fails chosen `ip` calls or the delegated IPAM plugin, and a memory
// store; each test checks what the runtime is told and that nothing is left half-made.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { formatIp } from '../../lib/cidr.ts';
import { IpamStoreError } from '../../ipam/errors.ts';
import { MemoryStore } from '../../ipam/memory-store.ts';
import type { RunOptions } from '../../lib/exec.ts';
import { addEnv, captureLogger, delEnv, healthyKernel, HOST_BATCH, invoke, netConf, POD_BATCH } from '../fixtures/plugin-kernel.ts';
import { hostVethAlias, hostVethName } from '../../lib/names.ts';

const VETH = hostVethName('c1', 'eth0');
const reserved = (store: MemoryStore) => store.list().map((r) => formatIp({ family: 4, value: r.ip }));
/** A host batch whose input is exactly this one line. */
const hostBatchOf = (line: string) => (argv: readonly string[], options: RunOptions) => HOST_BATCH.every((w, i) => argv[i] === w) && options.input === `${line}\n`;
const failedLine = (message: string, line: number) => ({ exitCode: 1, stderr: `${message}\nCommand failed -:${line}\n` });

// A delegated IPAM plugin must exist in CNI_PATH (findPlugin checks); the FakeRunner answers for it.
const cniDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-faults-'));
after(() => fs.rmSync(cniDir, { recursive: true, force: true }));
const IPAM = path.join(cniDir, 'fake-ipam');
fs.writeFileSync(IPAM, '#!/bin/sh\nexit 1\n', { mode: 0o755 });
const delegated = netConf({ ipam: { type: 'fake-ipam' } });
const withPath = (env: Record<string, string>) => ({ ...env, CNI_PATH: cniDir });
const IPAM_RESULT = JSON.stringify({ cniVersion: '1.1.0', ips: [{ address: '10.0.0.9/24', gateway: '10.0.0.1' }] });

describe('ADD', () => {
  test('spawns two processes on the common path: the node batch (with the alias and the read-back) and the pod batch', async () => {
    const run = healthyKernel();
    const res = await invoke(addEnv(), netConf(), { run });
    assert.equal(res.code, 0, res.out[0]);
    assert.deepEqual(run.calls.map((c) => c.argv[0]), ['ip', 'nsenter']);
    assert.match(run.calls[0]!.input!, new RegExp(`^link set ${VETH} master cni0 alias bridgeway:neta:c1:eth0 up$`, 'm'));
    assert.match(run.calls[0]!.input!, /link show dev cni0\nlink show master cni0\n$/);
  });
});

describe('ADD refusing up front', () => {
  test('a network name and container ID too long for the veth alias: code 7 before anything is made', async () => {
    const store = new MemoryStore();
    const run = healthyKernel();
    const res = await invoke(addEnv('c'.repeat(64)), netConf({ name: 'n'.repeat(200) }), { run, store });
    assert.equal(res.json?.code, 7);
    assert.match(res.json?.msg, /alias .* would be 280 characters, the kernel allows 255/);
    assert.equal(run.calls.length, 0);
    assert.deepEqual(reserved(store), []);
  });
});

describe('ADD failing at each step', () => {
  test('host batch: code 103 naming the line; the veth deleted, the address released', async () => {
    const store = new MemoryStore();
    const run = healthyKernel().failNth(HOST_BATCH, 1, failedLine('RTNETLINK answers: Operation not permitted', 4));
    const res = await invoke(addEnv(), netConf(), { run, store });
    assert.equal(res.code, 1);
    assert.equal(res.json?.code, 103);
    assert.match(res.json?.msg, new RegExp(`ip link add ${VETH} .*: RTNETLINK answers: Operation not permitted`));
    assert.equal(run.callsMatching(hostBatchOf(`link del ${VETH}`)).length, 1, 'the half-made veth is deleted');
    assert.deepEqual(reserved(store), []);
    assert.equal(run.callsMatching(POD_BATCH).length, 0, 'the pod is never touched');
  });

  test('pod batch: code 103; rollback deletes the veth and releases the address, in that order', async () => {
    const store = new MemoryStore();
    const run = healthyKernel().failNth(POD_BATCH, 1, failedLine('Error: Nexthop has invalid gateway.', 4));
    const res = await invoke(addEnv(), netConf(), { run, store });
    assert.equal(res.json?.code, 103);
    assert.match(res.json?.msg, /route add 0\.0\.0\.0\/0 via 10\.0\.0\.1 dev eth0: Error: Nexthop has invalid gateway/);
    assert.equal(run.callsMatching(hostBatchOf(`link del ${VETH}`)).length, 1);
    assert.deepEqual(reserved(store), []);
  });

  test('the last step before the result (waiting for carrier): a failing read rolls everything back', async () => {
    const store = new MemoryStore();
    const run = healthyKernel()
      .on(POD_BATCH, { stdout: `${JSON.stringify([{ ifname: 'eth0', operstate: 'LOWERLAYERDOWN' }])}\n` })
      .failFrom(['ip', '-d', '-j', 'link', 'show', 'dev', VETH], 1, { stderr: 'Error: netlink: Resource temporarily unavailable' });
    const res = await invoke(addEnv(), netConf(), { run, store });
    assert.equal(res.json?.code, 103);
    assert.match(res.json?.msg, /Resource temporarily unavailable/);
    assert.equal(run.callsMatching(hostBatchOf(`link del ${VETH}`)).length, 1);
    assert.deepEqual(reserved(store), []);
  });

  test('a failing undo does not stop the rollback, and the error says what was left', async () => {
    const store = new MemoryStore();
    const run = healthyKernel()
      .failNth(POD_BATCH, 1, failedLine('Error: Nexthop has invalid gateway.', 4))
      .failNth(hostBatchOf(`link del ${VETH}`), 1, failedLine('RTNETLINK answers: Device or resource busy', 1));
    const log = captureLogger();
    const res = await invoke(addEnv(), netConf(), { run, store, log });
    assert.equal(res.json?.code, 103, 'the original failure\'s code');
    assert.match(res.json?.msg, /Nexthop has invalid gateway.*; rollback incomplete \(delete veth bw[0-9a-f]{12}: .*Device or resource busy\): DEL this attachment to clean up/);
    assert.deepEqual(reserved(store), [], 'the address was released after the failed undo');
    assert.ok(log.entries.some((e) => e.level === 'error' && /rollback step failed: delete veth/.test(e.msg ?? '')));
  });

  test('delegated IPAM fails: code 104 with its message; no kernel change at all', async () => {
    const run = healthyKernel().failFrom([IPAM], 1, { exitCode: 1, stdout: JSON.stringify({ code: 11, msg: 'store locked' }) });
    const res = await invoke(withPath(addEnv()), delegated, { run });
    assert.equal(res.json?.code, 104);
    assert.match(res.json?.msg, /IPAM plugin fake-ipam ADD failed: store locked \[code 11\]/);
    assert.equal(run.callsMatching(HOST_BATCH).length + run.callsMatching(POD_BATCH).length, 0);
  });

  test('delegated IPAM prints no usable result: its reservation is given back with DEL', async () => {
    const run = healthyKernel().on([IPAM], { stdout: 'not json' });
    const res = await invoke(withPath(addEnv()), delegated, { run });
    assert.equal(res.json?.code, 104);
    assert.match(res.json?.msg, /printed no JSON result/);
    assert.deepEqual(run.callsMatching([IPAM]).map((c) => c.env?.CNI_COMMAND), ['ADD', 'DEL']);
  });

  test('delegated IPAM: a pod-side failure calls its DEL in the rollback', async () => {
    const run = healthyKernel().on([IPAM], { stdout: IPAM_RESULT }).failNth(POD_BATCH, 1, failedLine('RTNETLINK answers: File exists', 2));
    const res = await invoke(withPath(addEnv()), delegated, { run });
    assert.equal(res.json?.code, 103);
    assert.deepEqual(run.callsMatching([IPAM]).map((c) => c.env?.CNI_COMMAND), ['ADD', 'DEL']);
  });
});

describe('DEL', () => {
  test('reports every failed step, not only the first', async () => {
    const store = new MemoryStore();
    store.release = () => {
      throw new IpamStoreError('IPAM store: cannot remove /data/ips/10.0.0.2: EROFS: read-only file system');
    };
    const run = healthyKernel().failFrom(['ip', 'link', 'del'], 1, { stderr: 'RTNETLINK answers: Operation not permitted' });
    const res = await invoke(delEnv(), netConf(), { run, store });
    assert.equal(res.json?.code, 103, 'the first failure\'s code');
    assert.match(res.json?.msg, new RegExp(`^DEL incomplete: delete veth ${VETH}: .*Operation not permitted; release address: IPAM store: cannot remove /data/ips/10\\.0\\.0\\.2: EROFS`));
  });

  test('logs what it did: info when it changed something, debug when there was nothing to do', async () => {
    const store = new MemoryStore();
    const run = healthyKernel().failFrom(['ip', 'link', 'del', 'dev', VETH], 2, { stderr: `Cannot find device "${VETH}"` });
    assert.equal((await invoke(addEnv(), netConf(), { run, store })).code, 0);
    const first = captureLogger();
    assert.equal((await invoke(delEnv(), netConf(), { run, store, log: first })).code, 0);
    assert.deepEqual(first.entries.map((e) => [e.level, e.msg, e.obj.veth, e.obj.address]), [['info', 'pod detached', 'deleted', 'released 10.0.0.2']]);
    const again = captureLogger();
    assert.equal((await invoke(delEnv(), netConf(), { run, store, log: again })).code, 0);
    assert.deepEqual(again.entries.map((e) => [e.level, e.msg, e.obj.veth, e.obj.address]), [['debug', 'nothing to detach', 'already gone', 'none held']]);
  });

  test('an address still held with the veth already gone is a change worth info', async () => {
    const store = new MemoryStore();
    store.reserve(0x0a000007n, { containerId: 'c1', ifname: 'eth0' });
    const run = healthyKernel().failFrom(['ip', 'link', 'del'], 1, { stderr: `Cannot find device "${VETH}"` });
    const log = captureLogger();
    await invoke(delEnv(), netConf(), { run, store, log });
    assert.deepEqual(log.entries.map((e) => [e.level, e.obj.veth, e.obj.address]), [['info', 'already gone', 'released 10.0.0.7']]);
  });
});

describe('GC keeps going past errors', () => {
  const vethList = (...items: { containerId: string; network: string }[]) =>
    JSON.stringify(items.map(({ containerId, network }, i) => ({ ifindex: 10 + i, ifname: hostVethName(containerId, 'eth0'), ifalias: hostVethAlias(network, containerId, 'eth0') })));
  const gcConf = (extra: Record<string, unknown> = {}) => netConf({ 'cni.dev/valid-attachments': [], ...extra });
  const gcEnv = { CNI_COMMAND: 'GC', CNI_PATH: cniDir };

  test('a failed veth deletion still releases every address; another network\'s veth is never named', async () => {
    const store = new MemoryStore();
    store.reserve(0x0a000002n, { containerId: 'a1', ifname: 'eth0' });
    store.reserve(0x0a000003n, { containerId: 'a2', ifname: 'eth0' });
    const run = healthyKernel()
      .on(['ip', '-j', 'link', 'show', 'type', 'veth'], { stdout: vethList({ containerId: 'a1', network: 'neta' }, { containerId: 'a2', network: 'neta' }, { containerId: 'b1', network: 'netb' }) })
      .failNth(HOST_BATCH, 1, failedLine('RTNETLINK answers: Operation not permitted', 1));
    const res = await invoke(gcEnv, gcConf(), { run, store });
    assert.equal(res.json?.code, 5);
    assert.match(res.json?.msg, /^GC incomplete: delete veths: ip link del bw[0-9a-f]{12}: RTNETLINK answers: Operation not permitted$/);
    const batch = run.callsMatching(HOST_BATCH)[0]!.input!;
    assert.equal(batch, `link del ${hostVethName('a1', 'eth0')}\nlink del ${hostVethName('a2', 'eth0')}\n`);
    assert.deepEqual(reserved(store), []);
  });

  test('an unreadable store still lets alias-proven veths go, and the error names the store', async () => {
    const store = new MemoryStore();
    store.list = () => {
      throw new IpamStoreError('IPAM store: cannot list /data/ips: EIO: i/o error');
    };
    const run = healthyKernel().on(['ip', '-j', 'link', 'show', 'type', 'veth'], { stdout: vethList({ containerId: 'a1', network: 'neta' }) });
    const res = await invoke(gcEnv, gcConf(), { run, store });
    assert.match(res.json?.msg, /^GC incomplete: read IPAM store: IPAM store: cannot list \/data\/ips: EIO/);
    assert.equal(run.callsMatching(HOST_BATCH)[0]?.input, `link del ${hostVethName('a1', 'eth0')}\n`);
  });

  test('delegated IPAM: DEL for each dead attachment of this network, past a failing one', async () => {
    const run = healthyKernel()
      .on(['ip', '-j', 'link', 'show', 'type', 'veth'], { stdout: vethList({ containerId: 'a1', network: 'neta' }, { containerId: 'a2', network: 'neta' }, { containerId: 'b1', network: 'netb' }) })
      .failNth([IPAM], 1, { stdout: JSON.stringify({ code: 5, msg: 'disk on fire' }) });
    const res = await invoke(gcEnv, gcConf({ ipam: { type: 'fake-ipam' } }), { run });
    assert.match(res.json?.msg, /^GC incomplete: release a1\/eth0: IPAM plugin fake-ipam DEL failed: disk on fire/);
    assert.deepEqual(run.callsMatching([IPAM]).map((c) => [c.env?.CNI_COMMAND, c.env?.CNI_CONTAINERID]), [['DEL', 'a1'], ['DEL', 'a2']]);
  });
});
