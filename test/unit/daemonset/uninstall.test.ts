// removeNetworkState (daemonset/uninstall.ts): uninstall removes only its own network's IPAM
// state, never another bridgeway network's (issue 12, item 2).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { removeNetworkState } from '../../../daemonset/uninstall.ts';

function withDataDir(body: (dataDir: string) => void): void {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bridgeway-uninstall-'));
  try {
    body(path.join(root, 'data'));
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

/** A network's state as the plugin's disk store lays it out (ipam/disk-store.ts). */
function reserve(dataDir: string, network: string, ip: string, containerId: string): void {
  fs.mkdirSync(path.join(dataDir, network, 'ips'), { recursive: true });
  fs.mkdirSync(path.join(dataDir, network, 'attachments'), { recursive: true });
  fs.writeFileSync(path.join(dataDir, network, 'ips', ip), `${containerId}\neth0\n`);
  fs.writeFileSync(path.join(dataDir, network, 'attachments', `${containerId}:eth0`), `${ip}\n`);
}

describe('removeNetworkState', () => {
  test('removes its own network and leaves the others\' reservations exactly as they were', () => {
    withDataDir((dataDir) => {
      reserve(dataDir, 'bridgeway', '10.244.1.2', 'c1');
      reserve(dataDir, 'netb', '10.245.0.2', 'c2');
      reserve(dataDir, 'macvlan-storage', '10.246.0.9', 'c3');
      assert.deepEqual(removeNetworkState(dataDir, 'bridgeway'), { left: ['macvlan-storage', 'netb'] });
      assert.ok(!fs.existsSync(path.join(dataDir, 'bridgeway')));
      assert.equal(fs.readFileSync(path.join(dataDir, 'netb', 'ips', '10.245.0.2'), 'utf8'), 'c2\neth0\n');
      assert.equal(fs.readFileSync(path.join(dataDir, 'macvlan-storage', 'attachments', 'c3:eth0'), 'utf8'), '10.246.0.9\n');
    });
  });

  test('the data directory goes too once nothing else is in it', () => {
    withDataDir((dataDir) => {
      reserve(dataDir, 'bridgeway', '10.244.1.2', 'c1');
      assert.deepEqual(removeNetworkState(dataDir, 'bridgeway'), { left: [] });
      assert.ok(!fs.existsSync(dataDir));
    });
  });

  test('nothing there (never a pod, or a second uninstall) is fine; another network without ours is left', () => {
    withDataDir((dataDir) => {
      assert.deepEqual(removeNetworkState(dataDir, 'bridgeway'), { left: [] });
      reserve(dataDir, 'netb', '10.245.0.2', 'c2');
      assert.deepEqual(removeNetworkState(dataDir, 'bridgeway'), { left: ['netb'] });
      assert.ok(fs.existsSync(path.join(dataDir, 'netb', 'ips', '10.245.0.2')));
    });
  });

  for (const name of ['', '.', '..', '../etc', 'a/b']) {
    test(`refuses the network name ${JSON.stringify(name)}: it would remove more than one network`, () => {
      withDataDir((dataDir) => {
        reserve(dataDir, 'netb', '10.245.0.2', 'c2');
        assert.throws(() => removeNetworkState(dataDir, name), /not a network name/);
        assert.ok(fs.existsSync(path.join(dataDir, 'netb', 'ips', '10.245.0.2')));
      });
    });
  }
});
