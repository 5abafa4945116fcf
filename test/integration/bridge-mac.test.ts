// A bridge that bridgeway did not create gets its MAC pinned (issue 8 item 4). Without that,
// the kernel gives it the lowest MAC among its ports and changes it whenever that port leaves;
// every pod's cached gateway MAC is then wrong until ARP re-resolves, and an idle pod cannot
// reach its gateway for seconds right after another pod on the node went away.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mapLimit, run, skipUnlessRoot, withNode, type TestNode } from './harness.ts';

const GATEWAY = '10.99.0.1';
const PINNED = '0a:58:0a:63:00:01';

/** addr_assign_type as the kernel sees it: `ip netns exec` mounts a sysfs of the node's own netns. */
async function addrAssignType(node: TestNode, link: string): Promise<number> {
  const { stdout } = await run(['ip', 'netns', 'exec', node.name, 'cat', `/sys/class/net/${link}/addr_assign_type`]);
  return Number(stdout.trim());
}

async function bridgeMac(node: TestNode): Promise<string> {
  return (await node.ipJson(['link', 'show', 'dev', 'cni0']))[0].address;
}

/** One ping, one second: a stale gateway MAC in the pod's ARP cache makes this fail. */
async function pingsFirstTry(node: TestNode, pod: string): Promise<boolean> {
  return node.exec(['ping', '-c1', '-W1', GATEWAY], pod).then(() => true, () => false);
}

describe('a pre-existing bridge with a kernel-assigned MAC', { skip: skipUnlessRoot }, () => {
  test('is pinned on the first ADD, and keeps its MAC when the lowest-MAC port leaves', () =>
    withNode(async (node) => {
      await node.exec(['ip', 'link', 'add', 'cni0', 'type', 'bridge']);
      assert.equal(await addrAssignType(node, 'cni0'), 1, 'the kernel reports a bridge made without an address as random (1)');
      const pods: { netns: string; id: string; veth: string; result: Record<string, any> }[] = [];
      for (let i = 0; i < 3; i++) {
        const netns = await node.pod();
        const result = await node.add(netns, `c${i}`);
        pods.push({ netns, id: `c${i}`, veth: result.interfaces[1].name, result });
        assert.equal(result.interfaces[0].mac, PINNED, 'the result reports the pinned MAC');
      }
      assert.equal(await bridgeMac(node), PINNED);
      assert.equal(await addrAssignType(node, 'cni0'), 3, 'pinned: set (3), no longer following its ports');
      // Every pod talks to its gateway, so each has the gateway's MAC in its ARP cache.
      for (const pod of pods) assert.ok(await pingsFirstTry(node, pod.netns));

      const ports = await node.ipJson(['link', 'show', 'master', 'cni0']);
      const lowest = ports.reduce((a, b) => (a.address < b.address ? a : b));
      const victim = pods.find((p) => p.veth === lowest.ifname)!;
      const del = await node.cni({ command: 'DEL', containerId: victim.id, netns: victim.netns, ifname: 'eth0', conf: node.conf() });
      assert.equal(del.exitCode, 0, del.stdout);

      assert.equal(await bridgeMac(node), PINNED, 'the bridge MAC did not change');
      for (const pod of pods.filter((p) => p !== victim)) {
        assert.ok(await pingsFirstTry(node, pod.netns), `${pod.id} pings its gateway on the first try`);
      }
    }));

  test('pods attached before the pin learn the new gateway MAC at once (gratuitous ARP)', () =>
    withNode(async (node) => {
      // A bridge with pods from before bridgeway pinned anything, e.g. an upgrade.
      await node.exec(['ip', 'link', 'add', 'cni0', 'type', 'bridge']);
      await node.exec(['ip', 'addr', 'add', `${GATEWAY}/24`, 'dev', 'cni0']);
      await node.exec(['ip', 'link', 'set', 'cni0', 'up']);
      const old: string[] = [];
      for (const i of [1, 2]) {
        const netns = await node.pod();
        await node.exec(['ip', 'link', 'add', `old${i}`, 'address', `02:00:00:00:00:0${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns]);
        await node.exec(['ip', 'link', 'set', `old${i}`, 'master', 'cni0', 'up']);
        await node.exec(['ip', 'addr', 'add', `10.99.0.20${i}/24`, 'dev', 'eth0'], netns);
        await node.exec(['ip', 'link', 'set', 'eth0', 'up'], netns);
        old.push(netns);
      }
      for (const netns of old) assert.ok(await node.ping(netns, GATEWAY));
      assert.equal(await bridgeMac(node), '02:00:00:00:00:01', 'the kernel gave the bridge its lowest port\'s MAC');

      await node.add(await node.pod(), 'c1');
      assert.equal(await bridgeMac(node), PINNED);
      // The port whose MAC the old pods had cached leaves: only the announcement saves them now.
      await node.exec(['ip', 'link', 'del', 'old1']);
      assert.ok(await pingsFirstTry(node, old[1]!), 'an old pod pings its gateway on the first try');
    }));

  test('concurrent first ADDs all pin the same MAC and all report it', () =>
    withNode(async (node) => {
      await node.exec(['ip', 'link', 'add', 'cni0', 'type', 'bridge']);
      const netns = await Promise.all(Array.from({ length: 6 }, () => node.pod()));
      const results = await mapLimit(netns, 6, (pod, i) => node.add(pod, `c${i}`));
      assert.deepEqual(results.map((r) => r.interfaces[0].mac), Array(6).fill(PINNED));
      assert.equal(await bridgeMac(node), PINNED);
      assert.equal(await addrAssignType(node, 'cni0'), 3);
      for (const pod of netns) assert.ok(await pingsFirstTry(node, pod));
    }));

  test('a bridge MAC an admin set is left alone, and the result reports it', () =>
    withNode(async (node: TestNode) => {
      await node.exec(['ip', 'link', 'add', 'cni0', 'address', '52:54:00:12:34:56', 'type', 'bridge']);
      const result = await node.add(await node.pod(), 'c1');
      assert.equal(result.interfaces[0].mac, '52:54:00:12:34:56');
      assert.equal(await bridgeMac(node), '52:54:00:12:34:56');
    }));
});
