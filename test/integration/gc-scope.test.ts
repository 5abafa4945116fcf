// GC is scoped to its own network (issue 8 item 3): two networks share one bridge, as with a
// second conflist, a Multus secondary network or a rename during an upgrade; GC of one of them
// with an empty valid list must remove exactly its own pod and leave the other one working.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { REFERENCE_PLUGINS, skipUnlessRoot, withNode, type TestNode } from './harness.ts';

const BRIDGE = 'brx';
const skipNoHostLocal = skipUnlessRoot || (!fs.existsSync(path.join(REFERENCE_PLUGINS, 'host-local')) && `${REFERENCE_PLUGINS}/host-local is missing`);

interface Net {
  name: string;
  subnet: string;
  gateway: string;
}
const NETA: Net = { name: 'neta', subnet: '10.97.0.0/24', gateway: '10.97.0.1' };
const NETB: Net = { name: 'netb', subnet: '10.98.0.0/24', gateway: '10.98.0.1' };

type IpamKind = 'builtin' | 'host-local';

function conf(node: TestNode, net: Net, ipam: IpamKind): Record<string, unknown> {
  // Debian's host-local stops at 1.0.0.
  const base = node.conf({ name: net.name, bridge: BRIDGE, ...(ipam === 'host-local' ? { cniVersion: '1.0.0' } : {}) }, net.subnet);
  if (ipam === 'builtin') return base;
  return { ...base, ipam: { type: 'host-local', subnet: net.subnet, gateway: net.gateway, dataDir: path.join(node.dir, 'host-local') } };
}

/** The addresses an IPAM holds for a network, by file name. */
function reservations(node: TestNode, net: Net, ipam: IpamKind): string[] {
  if (ipam === 'builtin') return node.reservedAddresses(net.name);
  const dir = path.join(node.dir, 'host-local', net.name);
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f)).sort() : [];
}

async function twoNetworksThenGc(node: TestNode, ipam: IpamKind) {
  const podA = await node.pod();
  const podB = await node.pod();
  const resultA = await node.add(podA, 'podA', conf(node, NETA, ipam));
  const resultB = await node.add(podB, 'podB', conf(node, NETB, ipam));
  const vethA = resultA.interfaces[1].name;
  const vethB = resultB.interfaces[1].name;
  const ports = (await node.ipJson(['link', 'show', 'master', BRIDGE])).map((l) => l.ifname).sort();
  assert.deepEqual(ports, [vethA, vethB].sort(), 'both pods on the one bridge');
  const addressB = resultB.ips[0].address;
  assert.deepEqual(reservations(node, NETA, ipam), [resultA.ips[0].address.split('/')[0]]);

  const gc = await node.cni({ command: 'GC', conf: { ...conf(node, NETA, ipam), 'cni.dev/valid-attachments': [] } });
  assert.equal(gc.exitCode, 0, gc.stdout);
  assert.equal(gc.stdout, '');

  // Pod A, of the collected network: veth and reservation gone.
  assert.ok(!(await node.links()).includes(vethA), 'pod A\'s veth is deleted');
  assert.deepEqual(reservations(node, NETA, ipam), [], 'pod A\'s address is released');
  // Pod B, of the other network: untouched and working.
  assert.ok((await node.links()).includes(vethB), 'pod B\'s veth is still there');
  const [eth0] = await node.ipJson(['addr', 'show', 'dev', 'eth0'], podB);
  assert.ok(eth0, 'pod B still has eth0');
  assert.deepEqual(eth0.addr_info.filter((a: any) => a.family === 'inet').map((a: any) => `${a.local}/${a.prefixlen}`), [addressB]);
  assert.deepEqual(reservations(node, NETB, ipam), [addressB.split('/')[0]], 'pod B keeps its reservation');
  assert.ok(await node.ping(podB, NETB.gateway), 'pod B pings its gateway');
  // And netb's own GC, told pod B is alive, keeps it.
  const gcB = await node.cni({ command: 'GC', conf: { ...conf(node, NETB, ipam), 'cni.dev/valid-attachments': [{ containerID: 'podB', ifname: 'eth0' }] } });
  assert.equal(gcB.exitCode, 0, gcB.stdout);
  assert.ok(await node.ping(podB, NETB.gateway));
}

describe('GC of one network on a shared bridge', { skip: skipUnlessRoot }, () => {
  test('built-in IPAM: GC neta removes pod A only; pod B of netb keeps eth0, its address and its gateway', () =>
    withNode((node) => twoNetworksThenGc(node, 'builtin')));

  test('delegated IPAM (host-local): the same, and pod A\'s host-local reservation is released too', { skip: skipNoHostLocal }, () =>
    withNode((node) => twoNetworksThenGc(node, 'host-local')));

  test('ADD marks the host veth with its network; CHECK refuses a veth marked for another network', () =>
    withNode(async (node) => {
      const pod = await node.pod();
      const result = await node.add(pod, 'c1', conf(node, NETA, 'builtin'));
      const veth = result.interfaces[1].name;
      const [link] = await node.ipJson(['link', 'show', 'dev', veth]);
      assert.equal(link.ifalias, 'bridgeway:neta:c1:eth0');
      const check = (c: object) => node.cni({ command: 'CHECK', containerId: 'c1', netns: pod, ifname: 'eth0', conf: { ...c, prevResult: result } });
      assert.equal((await check(conf(node, NETA, 'builtin'))).exitCode, 0);
      await node.exec(['ip', 'link', 'set', veth, 'alias', 'bridgeway:netb:c1:eth0']);
      const res = await check(conf(node, NETA, 'builtin'));
      assert.equal(res.json?.code, 101);
      assert.match(res.json?.msg, /has alias bridgeway:netb:c1:eth0, expected bridgeway:neta:c1:eth0/);
    }));

  test('a veth of ours with no alias (an older ADD) is collected only through this network\'s own reservations', () =>
    withNode(async (node) => {
      const podA = await node.pod();
      const podB = await node.pod();
      const vethA = (await node.add(podA, 'podA', conf(node, NETA, 'builtin'))).interfaces[1].name;
      const vethB = (await node.add(podB, 'podB', conf(node, NETB, 'builtin'))).interfaces[1].name;
      // As an ADD of a version before aliases would have left them.
      for (const veth of [vethA, vethB]) await node.exec(['ip', 'link', 'set', veth, 'alias', '']);
      const gc = await node.cni({ command: 'GC', conf: { ...conf(node, NETA, 'builtin'), 'cni.dev/valid-attachments': [] } });
      assert.equal(gc.exitCode, 0, gc.stdout);
      const links = await node.links();
      assert.ok(!links.includes(vethA), 'neta\'s store proves pod A\'s veth');
      assert.ok(links.includes(vethB), 'nothing proves pod B\'s veth is neta\'s: left alone');
      assert.ok(await node.ping(podB, NETB.gateway));
      assert.match(fs.readFileSync(node.logFile, 'utf8'), new RegExp(`"veth":"${vethB}".*cannot prove`));
    }));
});
