// The real agent on simulated dual-stack nodes (test/support/cluster.ts, dualStack): eth1 carries an
// IPv4 and an IPv6 address, every node an IPv4 and an IPv6 podCIDR, and the agent routes,
// forwards and masquerades both families.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { skipUnlessAgent } from './harness.ts';
import { AGENT, CLUSTER_CIDR_V6, eventually, OUTSIDE, sourceSeenBy, withCluster, type SimCluster, type SimNode } from '../support/cluster.ts';
import { createRunner } from '../../lib/exec.ts';
import { withKubeAgent } from '../fixtures/kube-agent.ts';
import { makeNode, startFakeApiServer, type JsonObject } from '../support/fake-apiserver.ts';
import { ETH1_ANNOTATION, ETH1_IPV6_ANNOTATION } from '../../lib/names.ts';
import { installKubeProxy, probeHairpin } from '../support/kube-proxy.ts';

const run = createRunner();
const dualStack = { dualStack: true };

async function startAll(cluster: SimCluster, nodes: SimNode[] = cluster.nodes) {
  for (const node of nodes) cluster.startAgent(node);
  for (const node of nodes) await eventually(async () => (await cluster.health(node, '/readyz')).status === 200, 20_000, `${node.name} ready`);
}

function expected(cluster: SimCluster, self: SimNode, family: 4 | 6, nodes = cluster.nodes): string[] {
  return nodes.filter((n) => n !== self).map((n) => (family === 4 ? `${n.podCIDR} via ${n.eth1IP}` : `${n.podCIDRv6} via ${n.eth1IPv6}`)).sort();
}

const ourChains = (save: string) => save.split('\n').filter((l) => l.includes('BRIDGEWAY')).join('\n');

/**
 * A pod wired by hand, not by the plugin: a netns whose eth0 is a veth into the node's cni0
 * (made here if missing, with both gateways), so the agent's datapath of both families is
 * tested on its own. Addresses: 10.244.<i+1>.<10+j>/24 and fd00:10:244:<i+1>::<10+j>/64.
 */
async function handWiredPod(cluster: SimCluster, node: SimNode, j: number): Promise<{ netns: string; ip: string; ipv6: string }> {
  // In the cluster's lab, so its cleanup removes it too.
  const name = await cluster.lab.addNamespace(`n${node.index}h${j}`);
  const netns = cluster.lab.netnsPath(name);
  node.podNetns.push(netns);
  const subnet = node.index + 1;
  const inNode = (...args: string[]) => run(['ip', '-n', node.netns, ...args]);
  const inPod = (...args: string[]) => run(['ip', '-n', name, ...args]);
  if (!(await node.ipJson(['link', 'show'])).some((l) => l.ifname === 'cni0')) {
    await inNode('link', 'add', 'cni0', 'type', 'bridge');
    await inNode('addr', 'add', `10.244.${subnet}.1/24`, 'dev', 'cni0');
    await inNode('addr', 'add', `fd00:10:244:${subnet}::1/64`, 'dev', 'cni0', 'nodad');
    await inNode('link', 'set', 'cni0', 'up');
  }
  await inNode('link', 'add', `hw${j}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns);
  await inNode('link', 'set', `hw${j}`, 'master', 'cni0', 'up');
  const ip = `10.244.${subnet}.${10 + j}`;
  const ipv6 = `fd00:10:244:${subnet}::${10 + j}`;
  for (const args of [['link', 'set', 'lo', 'up'], ['addr', 'add', `${ip}/24`, 'dev', 'eth0'], ['addr', 'add', `${ipv6}/64`, 'dev', 'eth0', 'nodad'], ['link', 'set', 'eth0', 'up'],
    ['route', 'add', 'default', 'via', `10.244.${subnet}.1`], ['-6', 'route', 'add', 'default', 'via', `fd00:10:244:${subnet}::1`]]) {
    await inPod(...args);
  }
  return { netns, ip, ipv6 };
}

describe('node agent, dual-stack', { skip: skipUnlessAgent }, () => {
  test('the agent\'s datapath with hand-wired pods: IPv6 across nodes, source addresses kept, pod -> outside masqueraded (reply only through it)', () =>
    withCluster(2, async (cluster) => {
      const [a, b] = cluster.nodes as [SimNode, SimNode];
      const outside = await cluster.outsideHost();
      await startAll(cluster);
      const podA = await handWiredPod(cluster, a, 0);
      const podB = await handWiredPod(cluster, b, 0);
      // The bridges are seconds old: their IPv6 link-local address may still be in DAD, and a node
      // cannot solicit its pod's neighbour before it ends (~2 s): the first answer may take a retry.
      await eventually(() => cluster.ping(podA.netns, podB.ipv6), 10_000, `${podA.ipv6} -> ${podB.ipv6}`);
      assert.ok(await cluster.ping(podB.netns, podA.ipv6), `${podB.ipv6} -> ${podA.ipv6}`);
      assert.equal(await sourceSeenBy(podB.netns, podB.ipv6, podA.netns), podA.ipv6, 'pod to pod over IPv6 keeps the source');
      assert.equal(await sourceSeenBy(podB.netns, podB.ip, podA.netns), podA.ip, 'pod to pod over IPv4 keeps the source');
      assert.ok(await cluster.ping(podA.netns, OUTSIDE.ipv6), 'pod -> outside over IPv6');
      assert.equal(await sourceSeenBy(outside, OUTSIDE.ipv6, podA.netns), OUTSIDE.nodeIpv6, 'the outside sees node-0, not the pod');
      // Without our masquerade chain the outside host cannot answer: it has no route to pods.
      await a.exec(['ip6tables-nft', '-t', 'nat', '-D', 'POSTROUTING', '-m', 'comment', '--comment', 'bridgeway: masquerade', '-j', 'BRIDGEWAY-POSTRTG']);
      // (Each ping process uses a new ICMP id, so no NAT entry of the pings above applies.)
      assert.equal(await cluster.ping(podA.netns, OUTSIDE.ipv6), false, 'no reply without masquerade');
    }, dualStack));


  test('routes, ip6tables chains, forwarding, a range per family in the conflist, readiness and metrics per family', () =>
    withCluster(3, async (cluster) => {
      await startAll(cluster);
      for (const node of cluster.nodes) {
        assert.deepEqual(await node.agentRoutes(4), expected(cluster, node, 4), `${node.name} IPv4`);
        assert.deepEqual(await node.agentRoutes(6), expected(cluster, node, 6), `${node.name} IPv6`);
        const save6 = await node.iptablesSave(6);
        assert.match(save6, /-A FORWARD -m comment --comment "bridgeway: pod forwarding" -j BRIDGEWAY-FORWARD/);
        assert.match(save6, /-A BRIDGEWAY-FORWARD -s fd00:10:244::\/56 -m comment --comment "bridgeway: from pods" -j ACCEPT/);
        assert.match(save6, /-A BRIDGEWAY-POSTRTG -s fd00:10:244::\/56 -d fd00:10:244::\/56 -m comment --comment "bridgeway: pod to pod keeps the source" -j RETURN/);
        assert.match(save6, /-A BRIDGEWAY-POSTRTG -s fd00:10:244::\/56 ! -d ff00::\/8 -m comment --comment "bridgeway: pod to outside" -j MASQUERADE/);
        assert.equal(ourChains(save6).split('\n').length, 2 + 2 + 5 + 2, 'the same two hooks, seven rules, two chains as IPv4');
        assert.doesNotMatch(ourChains(await node.iptablesSave(4)), /fd00/, 'no IPv6 CIDR in iptables');
        assert.equal((await node.exec(['cat', '/proc/sys/net/ipv6/conf/all/forwarding'])).stdout.trim(), '1');
        assert.equal((await node.exec(['cat', '/proc/sys/net/ipv4/ip_forward'])).stdout.trim(), '1');
        const conflist = JSON.parse(fs.readFileSync(node.conflistPath, 'utf8'));
        assert.deepEqual(conflist.plugins[0].ipam, { ranges: [[{ subnet: node.podCIDR }], [{ subnet: node.podCIDRv6 }]] });
      }
      const first = cluster.nodes[0]!;
      const ready = (await cluster.health(first, '/readyz')).body;
      assert.match(ready, /IPv4: podCIDR 10\.244\.1\.0\/24, 2 peer routes, 0 peers not routed, iptables-nft chains in place/);
      assert.match(ready, /IPv6: podCIDR fd00:10:244:1::\/64, 2 peer routes, 0 peers not routed, ip6tables-nft chains in place/);
      const metrics = (await cluster.health(first, '/metrics')).body;
      assert.match(metrics, /^bridgeway_family_routes_programmed\{family="ipv6"\} 2$/m);
      assert.match(metrics, /^bridgeway_family_routes_programmed\{family="ipv4"\} 2$/m);
      assert.match(metrics, /^bridgeway_family_ready\{family="ipv6"\} 1$/m);
      assert.match(metrics, /^bridgeway_routes_programmed 4$/m);
    }, dualStack));

  test('pods: IPv6 pings across nodes, the receiving pod sees the sender\'s own address in both families, pod -> outside is masqueraded', () =>
    withCluster(2, async (cluster) => {
      const [a, b] = cluster.nodes as [SimNode, SimNode];
      const outside = await cluster.outsideHost();
      await startAll(cluster);
      const podA = await cluster.addPod(a);
      const podB = await cluster.addPod(b);
      assert.ok(podA.ipv6 && podB.ipv6, `both pods have an IPv6 address: ${JSON.stringify([podA.result.ips, podB.result.ips])}`);
      // The first pods on new bridges answer the first ping: the bridge's link-local address,
      // which the node solicits forwarded packets' neighbours from, needs no DAD (cni/plan.ts).
      assert.ok(await cluster.ping(podA.netns, podB.ipv6!), `${podA.ipv6} -> ${podB.ipv6} on the first try`);
      assert.ok(await cluster.ping(podB.netns, podA.ipv6!), `${podB.ipv6} -> ${podA.ipv6}`);
      assert.ok(await cluster.ping(podA.netns, podB.ip), `${podA.ip} -> ${podB.ip}`);
      // Pod to pod across nodes is routed, never masqueraded: b's pod sees a's pod's address.
      assert.equal(await sourceSeenBy(podB.netns, podB.ipv6!, podA.netns), podA.ipv6);
      assert.equal(await sourceSeenBy(podB.netns, podB.ip, podA.netns), podA.ip);
      // The outside host has no route to any pod: its replies reach the pod only through node-0's
      // masquerade, and it sees node-0's address, not the pod's.
      assert.ok(await cluster.ping(podA.netns, OUTSIDE.ipv6), 'pod -> outside over IPv6');
      assert.ok(await cluster.ping(podA.netns, OUTSIDE.ipv4), 'pod -> outside over IPv4');
      assert.equal(await sourceSeenBy(outside, OUTSIDE.ipv6, podA.netns), OUTSIDE.nodeIpv6);
      assert.equal(await sourceSeenBy(outside, OUTSIDE.ipv4, podA.netns), OUTSIDE.nodeIpv4);
      const outsideRoutes = await a.ipJson(['-6', 'route', 'show'], outside);
      assert.ok(!outsideRoutes.some((r) => String(r.dst).startsWith('fd00:10:244')), 'the outside host has no route back to pods');
    }, dualStack));

  test('hairpin with the agent\'s conflist unchanged: a pod reaches itself through a kube-proxy-like Service (DNAT, masquerade mark), both families', () =>
    withCluster(1, async (cluster) => {
      const [a] = cluster.nodes as [SimNode];
      await startAll(cluster);
      assert.equal(JSON.parse(fs.readFileSync(a.conflistPath, 'utf8')).plugins[0].hairpinMode, true, 'the agent writes it');
      const pod = await cluster.addPod(a);
      const service = { ipv4: '10.96.0.10', ipv6: 'fd00:96::10' };
      await installKubeProxy(a.path, {
        ipv4: [{ name: 'SELF', clusterIp: service.ipv4, endpoint: pod.ip }],
        ipv6: [{ name: 'SELF', clusterIp: service.ipv6, endpoint: pod.ipv6! }],
      });
      // The pod's server sees the node's address on the bridge: kube-proxy's mark masqueraded it.
      assert.deepEqual(await probeHairpin(pod.netns, [[pod.ip, service.ipv4], [pod.ipv6!, service.ipv6]]), [
        { peer: '10.244.1.1', exchanged: 'pingpong' },
        { peer: 'fd00:10:244:1::1', exchanged: 'pingpong' },
      ]);
    }, dualStack));

  test('node removal, a peer with IPv4 only (routed for IPv4, reported for IPv6), drift repair of both families', () =>
    withCluster(3, async (cluster) => {
      const [a, b, c] = cluster.nodes as [SimNode, SimNode, SimNode];
      await startAll(cluster, [a]);
      // node-2 goes; node-1 loses its IPv6 podCIDR and address.
      cluster.writeNodesFile([
        { name: a.name, podCIDR: a.podCIDR, eth1IP: a.eth1IP, podCIDRv6: a.podCIDRv6, eth1IPv6: a.eth1IPv6 },
        { name: b.name, podCIDR: b.podCIDR, eth1IP: b.eth1IP },
      ]);
      await eventually(async () => (await a.agentRoutes(6)).length === 0 && (await a.agentRoutes(4)).join() === `${b.podCIDR} via ${b.eth1IP}`, 10_000, 'node-2 and node-1\'s IPv6 route removed');
      assert.ok(!(await a.agentRoutes(4)).some((r) => r.startsWith(c.podCIDR!)));
      await eventually(async () => /^bridgeway_family_peers_not_routed\{family="ipv6"\} 1$/m.test((await cluster.health(a, '/metrics')).body), 10_000, 'the missing family as a metric');
      assert.match(a.agentLog, /peer not routed: no IPv6 podCIDR in 10\.244\.2\.0\/24/);

      cluster.writeNodesFile();
      await eventually(async () => (await a.agentRoutes(6)).join() === expected(cluster, a, 6).join(), 10_000, 'IPv6 routes back');
      const chains6 = ourChains(await a.iptablesSave(6));
      await a.exec(['ip', '-6', 'route', 'del', b.podCIDRv6!]);
      await a.exec(['ip6tables-nft', '-t', 'nat', '-F', 'BRIDGEWAY-POSTRTG']);
      await a.exec(['ip6tables-nft', '-D', 'FORWARD', '-m', 'comment', '--comment', 'bridgeway: pod forwarding', '-j', 'BRIDGEWAY-FORWARD']);
      await eventually(async () => (await a.agentRoutes(6)).join() === expected(cluster, a, 6).join() && ourChains(await a.iptablesSave(6)) === chains6, 10_000, 'IPv6 drift repaired');
    }, dualStack));

  test('uninstall removes both families\' routes and chains', () =>
    withCluster(2, async (cluster) => {
      const [a] = cluster.nodes as [SimNode, SimNode];
      await a.exec(['ip', '-6', 'route', 'add', 'fd00:99::/64', 'via', 'fd00:50::99', 'proto', 'static']);
      await cluster.runAgentOnce(a);
      assert.equal((await a.agentRoutes(6)).length, 1);
      assert.match(await a.iptablesSave(6), /BRIDGEWAY/);
      await run(['nsenter', `--net=${a.path}`, '--', AGENT, 'uninstall', ...cluster.agentArgs(a)]);
      assert.deepEqual(await a.agentRoutes(6), []);
      assert.deepEqual(await a.agentRoutes(4), []);
      assert.doesNotMatch(await a.iptablesSave(6), /BRIDGEWAY/);
      assert.doesNotMatch(await a.iptablesSave(4), /BRIDGEWAY/);
      assert.ok((await a.ipJson(['-6', 'route', 'show'])).some((r) => r.dst === 'fd00:99::/64'), 'foreign IPv6 route kept');
    }, dualStack));

  test('IPv6-only: --cluster-cidr <v6> alone; IPv6 routes and ip6tables chains, nothing of ours in iptables, a plain IPv6 subnet in the conflist', () =>
    withCluster(2, async (cluster) => {
      const [a, b] = cluster.nodes as [SimNode, SimNode];
      cluster.writeNodesFile([a, b].map((n) => ({ name: n.name, podCIDR: n.podCIDRv6, eth1IP: n.eth1IPv6! })));
      await cluster.runAgentOnce(a, ['--cluster-cidr', CLUSTER_CIDR_V6]);
      assert.deepEqual(await a.agentRoutes(6), [`${b.podCIDRv6} via ${b.eth1IPv6}`]);
      assert.deepEqual(await a.agentRoutes(4), []);
      assert.match(await a.iptablesSave(6), /-A BRIDGEWAY-POSTRTG -s fd00:10:244::\/56 ! -d ff00::\/8/);
      assert.doesNotMatch(await a.iptablesSave(4), /BRIDGEWAY/);
      assert.deepEqual(JSON.parse(fs.readFileSync(a.conflistPath, 'utf8')).plugins[0].ipam, { subnet: a.podCIDRv6 });
      assert.equal((await a.exec(['cat', '/proc/sys/net/ipv6/conf/all/forwarding'])).stdout.trim(), '1');
    }, dualStack));

  test('doctor on a dual-stack node: IPv6 forwarding, eth1\'s IPv6 address and the IPv6 routes, all OK; a deleted IPv6 route is a FAIL with its fix', () =>
    withCluster(2, async (cluster) => {
      const [a, b] = cluster.nodes as [SimNode, SimNode];
      for (const node of [a, b]) cluster.startAgent(node, ['--resync', '10m']);
      for (const node of [a, b]) await eventually(async () => (await cluster.health(node, '/readyz')).status === 200, 20_000, `${node.name} ready`);
      const doctor = async () => {
        const result = await run(['nsenter', `--net=${a.path}`, '--', AGENT, 'doctor', '--json', ...cluster.agentArgs(a)]).then(
          (r) => ({ code: 0, stdout: r.stdout }),
          (e: { exitCode: number; stdout: string }) => ({ code: e.exitCode, stdout: e.stdout }),
        );
        const findings = (JSON.parse(result.stdout) as { findings: { severity: string; object: string; detail: string; fix?: string }[] }).findings;
        return { code: result.code, findings, of: (object: string) => findings.find((f) => f.object === object) };
      };
      const route = `route ${b.podCIDRv6} via ${b.eth1IPv6} dev eth1`;
      const healthy = await doctor();
      assert.equal(healthy.code, 0, JSON.stringify(healthy.findings.filter((f) => f.severity !== 'OK')));
      assert.equal(healthy.of('net.ipv6.conf.all.forwarding')?.severity, 'OK');
      assert.equal(healthy.of('eth1 IPv6 address')?.detail, `${a.eth1IPv6}/64`);
      assert.equal(healthy.of(route)?.severity, 'OK');
      assert.equal(healthy.of(`node ${a.name} podCIDR`)?.detail, `${a.podCIDR}, ${a.podCIDRv6}`);
      await a.exec(['ip', '-6', 'route', 'del', b.podCIDRv6!]);
      const broken = await doctor();
      assert.equal(broken.code, 1);
      assert.equal(broken.of(route)?.severity, 'FAIL');
      assert.match(broken.of(route)!.fix!, new RegExp(`ip route add ${b.podCIDRv6} via ${b.eth1IPv6} dev eth1 proto 77`));
    }, dualStack));

  test('ip6tables follows IPv4\'s backend choice: kube-proxy\'s KUBE-* chains in iptables-legacy put ours in ip6tables-legacy too; uninstall cleans it', () =>
    withCluster(2, async (cluster) => {
      const [a] = cluster.nodes as [SimNode, SimNode];
      await a.exec(['iptables-legacy', '-t', 'nat', '-N', 'KUBE-SERVICES']);
      await cluster.runAgentOnce(a);
      assert.match((await a.exec(['ip6tables-legacy-save'])).stdout, /-A POSTROUTING -m comment --comment "bridgeway: masquerade" -j BRIDGEWAY-POSTRTG/);
      assert.doesNotMatch((await a.exec(['ip6tables-nft-save'])).stdout, /BRIDGEWAY/);
      await run(['nsenter', `--net=${a.path}`, '--', AGENT, 'uninstall', ...cluster.agentArgs(a)]);
      assert.doesNotMatch((await a.exec(['ip6tables-legacy-save'])).stdout, /BRIDGEWAY/);
    }, dualStack));

  test('bad input is a clear error naming the setting: own podCIDRs of other families than the cluster CIDR', () =>
    withCluster(2, async (cluster) => {
      const [a, b] = cluster.nodes as [SimNode, SimNode];
      cluster.writeNodesFile([{ name: a.name, podCIDR: a.podCIDR, eth1IP: a.eth1IP }, { name: b.name, podCIDR: b.podCIDR, eth1IP: b.eth1IP }]);
      const once = await cluster.runAgentOnce(a).catch((e) => e);
      assert.equal(once.exitCode, 1);
      assert.match(once.stdout + once.stderr, /node node-0's podCIDRs \(10\.244\.1\.0\/24\) have no IPv6 CIDR but --cluster-cidr has fd00:10:244::\/56: the families must match/);
      assert.ok(!fs.existsSync(a.conflistPath), 'no conflist');
    }, dualStack));
});

describe('node agent in Kubernetes mode, dual-stack', { skip: skipUnlessAgent }, () => {
  test('publishes both eth1 annotations, routes peers from Node.spec.podCIDRs via annotations or InternalIPs of each family', () =>
    withCluster(3, async (cluster) => {
      const [a, b, c] = cluster.nodes as [SimNode, SimNode, SimNode];
      // node-1 is known by its two InternalIPs only; node-2 by our two annotations.
      const api = await startFakeApiServer([
        makeNode({ name: a.name, podCIDRs: [a.podCIDR!, a.podCIDRv6!], internalIP: '10.9.9.9' }),
        makeNode({ name: b.name, podCIDRs: [b.podCIDR!, b.podCIDRv6!], internalIPs: [b.eth1IP, b.eth1IPv6!] }),
        makeNode({ name: c.name, podCIDRs: [c.podCIDR!, c.podCIDRv6!], annotations: { [ETH1_ANNOTATION]: c.eth1IP, [ETH1_IPV6_ANNOTATION]: c.eth1IPv6! } }),
      ]);
      await withKubeAgent(cluster, a, api, [], async () => {
        await eventually(async () => (await cluster.health(a, '/readyz')).status === 200, 15_000, 'ready');
        const annotations = (api.node(a.name)!.metadata as JsonObject).annotations as JsonObject;
        assert.equal(annotations[ETH1_ANNOTATION], a.eth1IP);
        assert.equal(annotations[ETH1_IPV6_ANNOTATION], a.eth1IPv6);
        assert.deepEqual(await a.agentRoutes(6), expected(cluster, a, 6));
        assert.deepEqual(await a.agentRoutes(4), expected(cluster, a, 4));
        // A peer's IPv6 annotation that holds an IPv4 address: its IPv4 route stays, IPv6 is reported.
        api.modifyNode(c.name, (n) => {
          ((n.metadata as JsonObject).annotations as JsonObject)[ETH1_IPV6_ANNOTATION] = c.eth1IP;
        });
        await eventually(async () => !(await a.agentRoutes(6)).some((r) => r.startsWith(c.podCIDRv6!)), 10_000, 'the bad IPv6 route removed');
        assert.ok((await a.agentRoutes(4)).includes(`${c.podCIDR} via ${c.eth1IP}`));
        await eventually(async () => /its bridgeway\.io\/eth1-ipv6 annotation holds an IPv4 address \(192\.168\.50\.12\), not IPv6/.test(a.agentLog), 10_000, 'the reason logged');
      });
    }, dualStack));
});
