// Dual-stack and IPv6-only pods with the built executable in real namespaces: both addresses,
// both default routes, the IPv6 address usable (not tentative) the moment ADD returns, IPv6
// pings to the gateway and between pods, CHECK, DEL, GC and exhaustion of the IPv6 range.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { REFERENCE_PLUGINS, skipUnlessRoot, withNode, type TestNode } from './harness.ts';

const V4 = '10.98.0.0/24';
const V6 = 'fd00:98::/64';
const dual = (node: TestNode, v6 = V6, extra: Record<string, unknown> = {}) =>
  node.conf({ ipam: { ranges: [[{ subnet: V4 }], [{ subnet: v6 }]] }, ...extra });
const ipv6Reserved = (node: TestNode) => {
  try {
    return fs.readdirSync(path.join(node.dataDir, 'testnet', 'ipv6', 'ips')).filter((f) => !f.endsWith('.tmp')).sort();
  } catch {
    return [];
  }
};
/** The global IPv6 addresses of a link with their flags, as the kernel reports them. */
async function ipv6Addresses(node: TestNode, dev: string, netns?: string): Promise<{ local: string; prefixlen: number; tentative?: boolean; dadfailed?: boolean }[]> {
  const [link] = await node.ipJson(['-6', 'addr', 'show', 'dev', dev], netns);
  return (link?.addr_info ?? []).filter((a: any) => a.scope === 'global');
}

describe('dual-stack pods', { skip: skipUnlessRoot }, () => {
  test('ADD: both addresses and default routes, IPv6 not tentative on return, the bridge refuses RAs, pings over IPv6', () =>
    withNode(async (node) => {
      const pod = await node.pod();
      const result = await node.add(pod, 'c1', dual(node));
      // Read before anything else: "usable when ADD returns" means no DAD in progress now.
      const podV6 = await ipv6Addresses(node, 'eth0', pod);
      const bridgeV6 = await ipv6Addresses(node, 'cni0');
      assert.deepEqual(podV6.map((a) => [a.local, a.prefixlen, a.tentative ?? false, a.dadfailed ?? false]), [['fd00:98::2', 64, false, false]]);
      assert.deepEqual(bridgeV6.map((a) => [a.local, a.prefixlen, a.tentative ?? false]), [['fd00:98::1', 64, false]]);
      // The node solicits neighbours for forwarded packets from the bridge's link-local address:
      // one must be valid already, or packets from other nodes to these pods wait out its DAD.
      const [bridgeLink] = await node.ipJson(['-6', 'addr', 'show', 'dev', 'cni0']);
      const usableLinkLocal = (bridgeLink?.addr_info ?? []).filter((a: any) => a.scope === 'link' && !a.tentative).map((a: any) => a.local);
      assert.ok(usableLinkLocal.includes('fe80::1'), `a link-local address out of DAD on cni0: ${JSON.stringify(bridgeLink?.addr_info)}`);

      assert.deepEqual(result.ips, [
        { address: '10.98.0.2/24', gateway: '10.98.0.1', interface: 2 },
        { address: 'fd00:98::2/64', gateway: 'fd00:98::1', interface: 2 },
      ]);
      assert.deepEqual(result.routes, [{ dst: '0.0.0.0/0', gw: '10.98.0.1' }, { dst: '::/0', gw: 'fd00:98::1' }]);
      assert.equal(result.interfaces[2].mac, '0a:58:0a:62:00:02', 'the MAC stays IPv4-derived');

      const [eth0] = await node.ipJson(['-4', 'addr', 'show', 'dev', 'eth0'], pod);
      assert.ok(eth0.addr_info.some((a: any) => a.local === '10.98.0.2' && a.prefixlen === 24));
      assert.ok((await node.ipJson(['-4', 'route', 'show'], pod)).some((r) => r.dst === 'default' && r.gateway === '10.98.0.1'));
      assert.ok((await node.ipJson(['-6', 'route', 'show'], pod)).some((r) => r.dst === 'default' && r.gateway === 'fd00:98::1' && r.dev === 'eth0'));

      const acceptRa = await node.exec(['cat', '/proc/sys/net/ipv6/conf/cni0/accept_ra']);
      assert.equal(acceptRa.stdout.trim(), '0');

      const other = await node.pod();
      const second = await node.add(other, 'c2', dual(node));
      assert.equal(second.ips[1].address, 'fd00:98::3/64');
      assert.ok(await node.ping(pod, 'fd00:98::1'), 'pod -> gateway over IPv6');
      assert.ok(await node.ping(pod, 'fd00:98::3'), 'pod -> pod over IPv6');
      assert.ok(await node.ping(other, 'fd00:98::2'), 'and back');
      assert.ok(await node.ping(pod, '10.98.0.3'), 'IPv4 still works beside it');
      assert.deepEqual(node.reservedAddresses(), ['10.98.0.2', '10.98.0.3']);
      assert.deepEqual(ipv6Reserved(node), ['fd00-98--2', 'fd00-98--3']);
    }));

  test('an IPv6-only pod: one address, its default route, a MAC from the address, no IPv4', () =>
    withNode(async (node) => {
      const pod = await node.pod();
      const result = await node.add(pod, 'c1', node.conf({}, 'fd00:97::/120'));
      assert.deepEqual((await ipv6Addresses(node, 'eth0', pod)).map((a) => [a.local, a.tentative ?? false]), [['fd00:97::2', false]]);
      assert.deepEqual(result.ips, [{ address: 'fd00:97::2/120', gateway: 'fd00:97::1', interface: 2 }]);
      assert.deepEqual(result.routes, [{ dst: '::/0', gw: 'fd00:97::1' }]);
      assert.equal(result.interfaces[2].mac, '0a:58:00:00:00:02');
      const [eth0] = await node.ipJson(['-4', 'addr', 'show', 'dev', 'eth0'], pod);
      assert.deepEqual(eth0?.addr_info ?? [], []);
      assert.ok(await node.ping(pod, 'fd00:97::1'));
      assert.deepEqual(node.reservedAddresses(), []);
      assert.deepEqual(ipv6Reserved(node), ['fd00-97--2']);
    }));

  test('CHECK passes on a dual-stack pod and fails once its IPv6 address is removed', () =>
    withNode(async (node) => {
      const pod = await node.pod();
      const conf = dual(node);
      const result = await node.add(pod, 'c1', conf);
      const check = () => node.cni({ command: 'CHECK', containerId: 'c1', netns: pod, ifname: 'eth0', conf: { ...conf, prevResult: result } });
      const ok = await check();
      assert.equal(ok.exitCode, 0, ok.stdout);
      await node.exec(['ip', 'addr', 'del', 'fd00:98::2/64', 'dev', 'eth0'], pod);
      const broken = await check();
      assert.equal(broken.exitCode, 1);
      assert.equal(broken.json?.code, 101);
      assert.match(broken.json?.msg, /lacks address fd00:98::2\/64/);
    }));

  test('CHECK fails when the IPv6 default route is gone', () =>
    withNode(async (node) => {
      const pod = await node.pod();
      const conf = dual(node);
      const result = await node.add(pod, 'c1', conf);
      await node.exec(['ip', '-6', 'route', 'del', 'default'], pod);
      const res = await node.cni({ command: 'CHECK', containerId: 'c1', netns: pod, ifname: 'eth0', conf: { ...conf, prevResult: result } });
      assert.equal(res.json?.code, 101);
      assert.match(res.json?.msg, /route to ::\/0 via fd00:98::1 is missing/);
    }));

  test('DEL and GC release both families', () =>
    withNode(async (node) => {
      const conf = dual(node);
      const pods = [await node.pod(), await node.pod(), await node.pod()];
      for (const [i, pod] of pods.entries()) await node.add(pod, `c${i}`, conf);
      assert.equal(ipv6Reserved(node).length, 3);
      const del = await node.cni({ command: 'DEL', containerId: 'c0', netns: pods[0], ifname: 'eth0', conf });
      assert.equal(del.exitCode, 0, del.stdout);
      assert.deepEqual(node.reservedAddresses(), ['10.98.0.3', '10.98.0.4']);
      assert.deepEqual(ipv6Reserved(node), ['fd00-98--3', 'fd00-98--4']);
      const gc = await node.cni({ command: 'GC', conf: { ...conf, 'cni.dev/valid-attachments': [{ containerID: 'c2', ifname: 'eth0' }] } });
      assert.equal(gc.exitCode, 0, gc.stdout);
      assert.deepEqual(node.reservedAddresses(), ['10.98.0.4']);
      assert.deepEqual(ipv6Reserved(node), ['fd00-98--4']);
    }));

  test('a full IPv6 range: ADD fails naming IPv6, keeps no IPv4 address and no veth; STATUS is 50', () =>
    withNode(async (node) => {
      const conf = dual(node, 'fd00:98::/126');
      for (const id of ['a', 'b']) await node.add(await node.pod(), id, conf);
      const linksBefore = (await node.links()).sort();
      const res = await node.cni({ command: 'ADD', containerId: 'c', netns: await node.pod(), ifname: 'eth0', conf });
      assert.equal(res.exitCode, 1);
      assert.equal(res.json?.code, 102);
      assert.match(res.json?.msg, /^no free IPv6 address in fd00:98::1-fd00:98::3: all 2 are reserved/);
      assert.deepEqual(node.reservedAddresses(), ['10.98.0.2', '10.98.0.3']);
      assert.deepEqual((await node.links()).sort(), linksBefore);
      const status = await node.cni({ command: 'STATUS', conf });
      assert.equal(status.json?.code, 50);
      assert.match(status.json?.msg, /no free IPv6 pod addresses left in fd00:98::1-fd00:98::3/);
    }));

  test('an IPv6 prefix the plugin cannot serve is code 7 naming it, and nothing is made', () =>
    withNode(async (node) => {
      const res = await node.cni({ command: 'ADD', containerId: 'c1', netns: await node.pod(), ifname: 'eth0', conf: dual(node, 'fd00:98::/127') });
      assert.equal(res.exitCode, 1);
      assert.equal(res.json?.code, 7);
      assert.match(res.json?.msg, /"ipam.ranges\[1\]\[0\].subnet": subnet fd00:98::\/127 is too small/);
      assert.ok(!(await node.links()).includes('cni0'));
    }));

  test('delegated to host-local with one range per family: both addresses from it, both default routes', { skip: !fs.existsSync(path.join(REFERENCE_PLUGINS, 'host-local')) && 'host-local is missing' }, () =>
    withNode(async (node) => {
      const pod = await node.pod();
      // Debian's reference plugins speak CNI up to 1.0.0.
      const conf = node.conf({
        cniVersion: '1.0.0',
        ipam: { type: 'host-local', ranges: [[{ subnet: V4 }], [{ subnet: 'fd00:98::/120' }]], routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0' }], dataDir: path.join(node.dir, 'host-local') },
      });
      const result = await node.add(pod, 'c1', conf);
      assert.deepEqual(result.ips, [
        { address: '10.98.0.2/24', gateway: '10.98.0.1', interface: 2 },
        { address: 'fd00:98::2/120', gateway: 'fd00:98::1', interface: 2 },
      ]);
      assert.deepEqual(result.routes, [{ dst: '0.0.0.0/0', gw: '10.98.0.1' }, { dst: '::/0', gw: 'fd00:98::1' }]);
      assert.deepEqual((await ipv6Addresses(node, 'eth0', pod)).map((a) => [a.local, a.tentative ?? false]), [['fd00:98::2', false]]);
      assert.ok(await node.ping(pod, 'fd00:98::1'));
      const del = await node.cni({ command: 'DEL', containerId: 'c1', netns: pod, ifname: 'eth0', conf });
      assert.equal(del.exitCode, 0, del.stdout);
      assert.deepEqual(fs.readdirSync(path.join(node.dir, 'host-local', 'testnet')).filter((f) => /^[\d.]+$|:/.test(f)), []);
    }));
});
