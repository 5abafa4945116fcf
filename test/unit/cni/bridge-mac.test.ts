import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { applyBridgeMac, decideBridgeMac } from '../../../cni/bridge-mac.ts';
import { FakeKernel } from '../../fixtures/fake-kernel.ts';
import { addEnv, captureLogger, invoke, netConf } from '../../fixtures/plugin-kernel.ts';

const PINNED = '0a:58:0a:00:00:01';
const bridge = (mac: string) => ({ index: 2, name: 'cni0', flags: [], mac });
const ports = [{ index: 5, name: 'bwa', flags: [], mac: '02:00:00:00:00:05' }, { index: 6, name: 'bwb', flags: [], mac: '02:00:00:00:00:03' }];

describe('decideBridgeMac', () => {
  const cases: [string, ReturnType<typeof bridge> | undefined, ReturnType<typeof decideBridgeMac>][] = [
    ['already pinned: nothing to do (the common path)', bridge(PINNED), { action: 'keep', mac: PINNED, reason: 'pinned' }],
    ['a port\'s MAC: the kernel assigned it, pin', bridge('02:00:00:00:00:03'), { action: 'pin', mac: PINNED, kernelMac: '02:00:00:00:00:03' }],
    ['upper-case from somewhere is the same MAC', bridge('02:00:00:00:00:05'.toUpperCase()), { action: 'pin', mac: PINNED, kernelMac: '02:00:00:00:00:05' }],
    ['set by someone else: leave it', bridge('52:54:00:12:34:56'), { action: 'keep', mac: '52:54:00:12:34:56', reason: 'set-by-someone' }],
    ['no read-back: leave it', undefined, { action: 'keep', mac: undefined, reason: 'unknown' }],
  ];
  for (const [name, br, expected] of cases) {
    test(name, () => assert.deepEqual(decideBridgeMac(br, ports, PINNED), expected));
  }
});

describe('applyBridgeMac', () => {
  // A stand-in for /proc/sys: unit tests never touch the machine's own sysctls.
  const procSys = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-procsys-'));
  after(() => fs.rmSync(procSys, { recursive: true, force: true }));
  const arpNotify = path.join(procSys, 'net/ipv4/conf/cni0/arp_notify');
  fs.mkdirSync(path.dirname(arpNotify), { recursive: true });
  const kernelWithBridge = (mac: string) => new FakeKernel().seed([{ op: 'add-bridge', name: 'cni0', mac, mtu: 1500 }]);

  test('pins with one change, announcing the new MAC (arp_notify), and reports it', async () => {
    fs.writeFileSync(arpNotify, '0');
    const kernel = kernelWithBridge('02:00:00:00:00:03');
    const mac = await applyBridgeMac(kernel, 'cni0', decideBridgeMac(bridge('02:00:00:00:00:03'), ports, PINNED), captureLogger(), { procSys });
    assert.equal(mac, PINNED);
    assert.deepEqual(kernel.changes(), [{ op: 'set-mac', link: 'cni0', mac: PINNED }]);
    assert.equal(kernel.link('cni0')?.mac, PINNED);
    assert.equal(fs.readFileSync(arpNotify, 'utf8'), '1');
  });
  test('keeping asks nothing of the kernel', async () => {
    const kernel = kernelWithBridge(PINNED);
    fs.writeFileSync(arpNotify, '0');
    assert.equal(await applyBridgeMac(kernel, 'cni0', decideBridgeMac(bridge(PINNED), ports, PINNED), captureLogger(), { procSys }), PINNED);
    assert.deepEqual(kernel.calls, []);
    assert.equal(fs.readFileSync(arpNotify, 'utf8'), '0');
  });
  test('a failed pin warns and reports the MAC the bridge still has', async () => {
    const kernel = kernelWithBridge('02:00:00:00:00:03').failNth({ op: 'set-mac' }, 1, { message: 'Operation not permitted' });
    const log = captureLogger();
    assert.equal(await applyBridgeMac(kernel, 'cni0', decideBridgeMac(bridge('02:00:00:00:00:03'), ports, PINNED), log, { procSys }), '02:00:00:00:00:03');
    assert.deepEqual(log.entries.map((e) => e.level), ['warn']);
    assert.equal(kernel.link('cni0')?.mac, '02:00:00:00:00:03');
  });
});

describe('ADD and a bridge it did not create', () => {
  // cni0 made by someone else (netConf's network, gateway 10.0.0.1), with one pod attached already.
  const OLD_PORT = '02:00:00:00:00:01';
  const existingBridge = (mac: string) =>
    new FakeKernel().seed([
      { op: 'add-bridge', name: 'cni0', mac, mtu: 1400 },
      { op: 'add-veth', name: 'bwold', mac: OLD_PORT, mtu: 1400, peer: { name: 'eth0', mac: '0a:58:0a:00:00:09', mtu: 1400, netns: '/run/netns/old' } },
      { op: 'attach-port', link: 'bwold', bridge: 'cni0', alias: 'bridgeway:neta:old:eth0' },
    ]);

  test('carrying a port\'s MAC (the kernel\'s choice): pinned once, after the node batch, and the result says so', async () => {
    const kernel = existingBridge(OLD_PORT);
    const res = await invoke(addEnv(), netConf(), { kernel });
    assert.equal(res.code, 0, res.out[0]);
    assert.deepEqual(kernel.changes().slice(-4).map((c) => c.op), ['attach-port', 'set-hairpin', 'guard-port', 'set-mac']);
    assert.deepEqual(kernel.changes().at(-1), { op: 'set-mac', link: 'cni0', mac: PINNED });
    assert.equal(res.json?.interfaces[0].mac, PINNED);
    // The next ADD finds it pinned and sets nothing: setting a MAC flushes the bridge's ARP table.
    const next = await invoke(addEnv('c2'), netConf(), { kernel });
    assert.equal(next.code, 0, next.out[0]);
    assert.equal(kernel.changes().filter((c) => c.op === 'set-mac').length, 1);
  });

  test('with a MAC someone set on purpose: left as it is, and the result reports the real one', async () => {
    const kernel = existingBridge('52:54:00:12:34:56');
    const res = await invoke(addEnv(), netConf(), { kernel });
    assert.equal(res.code, 0, res.out[0]);
    assert.ok(!kernel.changes().some((c) => c.op === 'set-mac'));
    assert.equal(res.json?.interfaces[0].mac, '52:54:00:12:34:56');
  });
});
