// What the real executable prints for ADD is exactly its version's document (issue 8 item 2):
// for 1.0.0 no interface mtu (a 1.1.0 field that libcni 1.0 drops from the next prevResult).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { hostVethMac } from '../../cni/plan.ts';
import { skipUnlessRoot, withNode } from './harness.ts';
import { hostVethName } from '../../lib/names.ts';

describe('ADD result through the executable', { skip: skipUnlessRoot }, () => {
  for (const version of ['0.4.0', '1.0.0', '1.1.0']) {
    test(`cniVersion ${version}: the whole document`, () =>
      withNode(async (node) => {
        const pod = await node.pod();
        const res = await node.cni({ command: 'ADD', containerId: 'c1', netns: pod, ifname: 'eth0', conf: node.conf({ cniVersion: version }) });
        assert.equal(res.exitCode, 0, res.stdout);
        assert.equal(res.stdout.trim().split('\n').length, 1);
        assert.deepEqual(res.json, {
          cniVersion: version,
          interfaces: [
            { name: 'cni0', mac: '0a:58:0a:63:00:01' },
            { name: hostVethName('c1', 'eth0'), mac: hostVethMac('c1', 'eth0') },
            { name: 'eth0', mac: '0a:58:0a:63:00:02', ...(version === '1.1.0' ? { mtu: 1400 } : {}), sandbox: pod },
          ],
          ips: [{ ...(version === '0.4.0' ? { version: '4' } : {}), address: '10.99.0.2/24', gateway: '10.99.0.1', interface: 2 }],
          routes: [{ dst: '0.0.0.0/0', gw: '10.99.0.1' }],
          dns: {},
        });
      }));
  }
});
