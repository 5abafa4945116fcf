import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mapLimit, skipUnlessRoot, withNode } from './harness.ts';

describe('concurrent ADDs', { skip: skipUnlessRoot }, () => {
  test('32 ADDs at once on a node without a bridge: distinct addresses, full connectivity, clean DEL', () =>
    withNode(async (node) => {
      const pods = await mapLimit(Array.from({ length: 32 }), 8, () => node.pod());
      // All at once: they race to create cni0 and its gateway address.
      const results = await Promise.all(pods.map((pod, i) => node.add(pod, `pod${i}`)));
      const addresses = results.map((r) => r.ips[0].address.split('/')[0] as string);
      assert.equal(new Set(addresses).size, 32, 'every pod got its own address');
      assert.deepEqual(node.reservedAddresses(), [...addresses].sort());
      const ports = await node.ipJson(['link', 'show', 'master', 'cni0']);
      assert.equal(ports.length, 32);

      const toGateway = await mapLimit(pods, 8, (pod) => node.ping(pod, '10.99.0.1'));
      assert.ok(toGateway.every(Boolean), 'every pod reaches the gateway');
      // The full mesh, 8 source pods at a time. The kernel's ARP table is shared by all
      // namespaces (gc_thresh3, 1024 entries, settable only in the root namespace): 32x31
      // fresh entries at once overflow it ("sendmsg: No buffer space available"), so the
      // pods' neighbour caches are flushed between batches.
      const failed: string[] = [];
      for (let first = 0; first < pods.length; first += 8) {
        const pairs = pods.slice(first, first + 8).flatMap((pod, k) =>
          addresses.filter((_, j) => j !== first + k).map((address) => ({ pod, address })));
        const reached = await mapLimit(pairs, 16, (p) => node.ping(p.pod, p.address));
        failed.push(...pairs.filter((_, i) => !reached[i]).map((p) => `${p.pod} -> ${p.address}`));
        await mapLimit(pods, 8, (pod) => node.exec(['ip', 'neigh', 'flush', 'all'], pod));
      }
      assert.deepEqual(failed, [], 'every pod reaches every other pod');

      const dels = await Promise.all(pods.map((pod, i) => node.cni({ command: 'DEL', containerId: `pod${i}`, netns: pod, ifname: 'eth0', conf: node.conf() })));
      assert.ok(dels.every((d) => d.exitCode === 0));
      assert.deepEqual(node.reservedAddresses(), []);
      assert.deepEqual(await node.ipJson(['link', 'show', 'master', 'cni0']), []);
    }));
});
