import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gatherMacvlan } from '../../../../daemonset/doctor/gather-macvlan.ts';

test('the doctor finds the macvlan networks among the CNI configs, and only those', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-gather-macvlan-'));
  try {
    fs.writeFileSync(path.join(dir, '10-bridgeway.conflist'), JSON.stringify({ name: 'bridgeway', plugins: [{ type: 'bridgeway', bridge: 'cni0' }] }));
    fs.writeFileSync(path.join(dir, '20-lan.conflist'), JSON.stringify({ name: 'lan', plugins: [{ type: 'bridgeway', mode: 'macvlan', master: 'eth1', macvlanMode: 'vepa', mtu: 1400 }, { type: 'portmap' }] }));
    fs.writeFileSync(path.join(dir, '30-single.conf'), JSON.stringify({ name: 'single', type: 'bridgeway', mode: 'macvlan', hostShim: true }));
    fs.writeFileSync(path.join(dir, '40-broken.conflist'), '{');
    fs.writeFileSync(path.join(dir, '50-other.conflist'), JSON.stringify({ name: 'other', plugins: [{ type: 'macvlan', master: 'eth1' }] }));
    assert.deepEqual(gatherMacvlan(dir), [
      { path: path.join(dir, '20-lan.conflist'), network: 'lan', master: 'eth1', macvlanMode: 'vepa', mtu: 1400, hostShim: false },
      { path: path.join(dir, '30-single.conf'), network: 'single', macvlanMode: 'bridge', hostShim: true },
    ]);
    assert.deepEqual(gatherMacvlan(path.join(dir, 'missing')), []);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
