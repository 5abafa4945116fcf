import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { applyBridgeMac, decideBridgeMac } from '../../cni/bridge-mac.ts';
import { FakeRunner } from '../fixtures/fake-runner.ts';
import { captureLogger } from '../fixtures/plugin-kernel.ts';
import { iproute2Kernel } from '../../lib/iproute2/kernel.ts';

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

  test('pins with one change (one ip process here), announcing the new MAC (arp_notify), and reports it', async () => {
    fs.writeFileSync(arpNotify, '0');
    const fake = new FakeRunner();
    const mac = await applyBridgeMac(iproute2Kernel(fake.run), 'cni0', decideBridgeMac(bridge('02:00:00:00:00:03'), ports, PINNED), captureLogger(), { procSys });
    assert.equal(mac, PINNED);
    assert.deepEqual(fake.calls.map((c) => [c.argv.join(' '), c.input]), [['ip -j -force -batch -', `link set dev cni0 address ${PINNED}\n`]]);
    assert.equal(fs.readFileSync(arpNotify, 'utf8'), '1');
  });
  test('keeping runs nothing', async () => {
    const fake = new FakeRunner();
    fs.writeFileSync(arpNotify, '0');
    assert.equal(await applyBridgeMac(iproute2Kernel(fake.run), 'cni0', decideBridgeMac(bridge(PINNED), ports, PINNED), captureLogger(), { procSys }), PINNED);
    assert.equal(fake.calls.length, 0);
    assert.equal(fs.readFileSync(arpNotify, 'utf8'), '0');
  });
  test('a failed pin warns and reports the MAC the bridge still has', async () => {
    const fake = new FakeRunner().failNth(['ip', '-j', '-force', '-batch'], 1, { exitCode: 1, stderr: 'RTNETLINK answers: Operation not permitted\nCommand failed -:1\n' });
    const log = captureLogger();
    assert.equal(await applyBridgeMac(iproute2Kernel(fake.run), 'cni0', decideBridgeMac(bridge('02:00:00:00:00:03'), ports, PINNED), log, { procSys }), '02:00:00:00:00:03');
    assert.deepEqual(log.entries.map((e) => e.level), ['warn']);
  });
});
