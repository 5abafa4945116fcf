// The real Bun plugin guards each pod's port (issue 17): after ADD the node's `bridge bridgeway`
// table holds exactly that pod's elements, spelled as lib/antispoof/nft-text.ts renders them (the
// expected table is loaded with `nft -f` into a namespace of its own and both listings compared);
// DEL removes them, and only them; a network with "antiSpoofing": false installs nothing. All in
// the harness's namespaces: the root namespace's ruleset must stay as it was.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { renderElements, renderInstall } from '../../lib/antispoof/nft-text.ts';
import { antispoofRuleset } from '../../lib/antispoof/ruleset.ts';
import { parseCidr } from '../../lib/cidr.ts';
import { podElements } from '../../cni/plan.ts';
import { hostVethName } from '../../lib/names.ts';
import { execIn, run } from '../support/exec-in.ts';
import { skipUnlessRoot, TestNode } from './harness.ts';

const ruleset = antispoofRuleset();

/** A listing with each set's elements sorted: the kernel lists a hash set in its own order. */
function normalize(listing: string): string {
  return listing.replace(/elements = \{([^}]*)\}/g, (_all, items: string) => `elements = { ${items.split(',').map((i) => i.replace(/\s+/g, ' ').trim()).sort().join(', ')} }`);
}

describe('the plugin\'s anti-spoofing table', { skip: skipUnlessRoot }, () => {
  let node: TestNode;
  let expected: TestNode;
  let rootRuleset = '';
  before(async () => {
    rootRuleset = (await run(['nft', 'list', 'ruleset'])).stdout;
    node = await TestNode.create();
    expected = await TestNode.create();
  });
  after(async () => {
    await node?.cleanup();
    await expected?.cleanup();
    assert.equal((await run(['nft', 'list', 'ruleset'])).stdout, rootRuleset, 'the root namespace\'s ruleset changed');
  });

  const listing = async (n: TestNode) => normalize((await n.exec(['nft', 'list', 'table', 'bridge', ruleset.table])).stdout);
  /** The table as the renderer spells it with these pods' elements, as the kernel lists it. */
  const expectedListing = async (pods: { containerId: string; ips: string[] }[]) => {
    await expected.exec(['nft', 'flush', 'ruleset']);
    const elements = pods.flatMap((p) => podElements(hostVethName(p.containerId, 'eth0'), p.ips.map((ip) => { const c = parseCidr(ip)!; return { family: c.family, value: c.address }; })));
    await execIn(expected.path, ['nft', '-f', '-'], renderInstall(ruleset) + renderElements(ruleset, 'add', elements));
    return listing(expected);
  };
  const ipsOf = (result: Record<string, any>) => result.ips.map((ip: { address: string }) => ip.address);

  test('ADD: exactly the pod\'s elements; a second pod adds its own; DEL of one leaves the other\'s', async () => {
    const conf = node.conf({ ipam: { ranges: [[{ subnet: '10.99.0.0/24' }], [{ subnet: 'fd00:99::/64' }]] } });
    const a = await node.add(await node.pod(), 'pod-a', conf);
    assert.equal(await listing(node), await expectedListing([{ containerId: 'pod-a', ips: ipsOf(a) }]));
    const b = await node.add(await node.pod(), 'pod-b', conf);
    assert.equal(await listing(node), await expectedListing([{ containerId: 'pod-a', ips: ipsOf(a) }, { containerId: 'pod-b', ips: ipsOf(b) }]));
    const del = await node.cni({ command: 'DEL', containerId: 'pod-a', netns: a.interfaces[2].sandbox, ifname: 'eth0', conf });
    assert.equal(del.exitCode, 0, del.stdout);
    assert.equal(await listing(node), await expectedListing([{ containerId: 'pod-b', ips: ipsOf(b) }]));
    const again = await node.cni({ command: 'DEL', containerId: 'pod-a', netns: a.interfaces[2].sandbox, ifname: 'eth0', conf });
    assert.equal(again.exitCode, 0, again.stdout);
    const last = await node.cni({ command: 'DEL', containerId: 'pod-b', netns: b.interfaces[2].sandbox, ifname: 'eth0', conf });
    assert.equal(last.exitCode, 0, last.stdout);
    assert.equal(await listing(node), await expectedListing([]), 'no element refers to a deleted port');
  });

  test('"antiSpoofing": false installs nothing', async () => {
    const other = await TestNode.create();
    try {
      const conf = other.conf({ antiSpoofing: false });
      const pod = await other.pod();
      await other.add(pod, 'pod-off', conf);
      assert.equal((await other.exec(['nft', 'list', 'ruleset'])).stdout, '');
      const del = await other.cni({ command: 'DEL', containerId: 'pod-off', netns: pod, ifname: 'eth0', conf });
      assert.equal(del.exitCode, 0, del.stdout);
    } finally {
      await other.cleanup();
    }
  });
});
