// The real agent executable on simulated nodes (test/support/cluster.ts), in standalone mode.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { AGENT_JSC_OPTIONS } from '../../bin/jsc-options.ts';
import fs from 'node:fs';
import path from 'node:path';
import { skipUnlessAgent } from './harness.ts';
import { sameFileContent } from '../../daemonset/host/install.ts';
import { AGENT, eventually, PLUGIN, withCluster, type SimCluster, type SimNode } from '../support/cluster.ts';
import { createRunner } from '../../lib/exec.ts';

const run = createRunner();
const skip = skipUnlessAgent;

async function startAll(cluster: SimCluster, nodes: SimNode[] = cluster.nodes) {
  for (const node of nodes) cluster.startAgent(node);
  for (const node of nodes) await eventually(async () => (await cluster.health(node, '/readyz')).status === 200, 20_000, `${node.name} ready`);
}

function expectedRoutes(cluster: SimCluster, self: SimNode, nodes = cluster.nodes): string[] {
  return nodes.filter((n) => n !== self && n.podCIDR).map((n) => `${n.podCIDR} via ${n.eth1IP}`).sort();
}

const ourChains = (save: string) => save.split('\n').filter((l) => l.includes('BRIDGEWAY')).join('\n');

describe('node agent', { skip }, () => {
  test('programs exactly the expected routes and chains; pods on different nodes reach each other', () =>
    withCluster(3, async (cluster) => {
      await startAll(cluster);
      for (const node of cluster.nodes) {
        assert.deepEqual(await node.agentRoutes(), expectedRoutes(cluster, node), node.name);
        const save = await node.iptablesSave();
        assert.match(save, /-A FORWARD -m comment --comment "bridgeway: pod forwarding" -j BRIDGEWAY-FORWARD/);
        assert.match(save, /-A POSTROUTING -m comment --comment "bridgeway: masquerade" -j BRIDGEWAY-POSTRTG/);
        assert.equal(ourChains(save).split('\n').length, 2 + 2 + 5 + 2, 'two hooks, seven rules, two chain declarations');
        const conflist = JSON.parse(fs.readFileSync(node.conflistPath, 'utf8'));
        assert.equal(conflist.cniVersion, '1.0.0', 'standalone mode without --cni-version: 1.0.0, which every runtime speaks');
        assert.deepEqual(conflist.plugins[0].ipam, { subnet: node.podCIDR });
        assert.ok(sameFileContent(path.join(node.binDir, 'bridgeway'), PLUGIN), 'the agent installed its own file (the symlink\'s target) as the plugin');
        assert.equal((await node.exec(['cat', '/proc/sys/net/ipv4/ip_forward'])).stdout.trim(), '1');
      }
      const pods = [];
      for (const node of cluster.nodes) pods.push(await cluster.addPod(node));
      for (const from of pods) for (const to of pods) if (from !== to) assert.ok(await cluster.ping(from.netns, to.ip), `${from.ip} -> ${to.ip}`);
      const metrics = (await cluster.health(cluster.nodes[0]!, '/metrics')).body;
      assert.match(metrics, /^bridgeway_routes_programmed 2$/m);
      assert.match(metrics, /^bridgeway_peers_unreachable 0$/m);
      assert.equal((await cluster.health(cluster.nodes[0]!, '/healthz')).status, 200);
      // It re-executed itself once to run JavaScriptCore without its optimizing tiers (bin/jsc-options.ts): same pid, options in effect.
      const environ = fs.readFileSync(`/proc/${cluster.nodes[0]!.agent!.pid}/environ`, 'utf8').split('\0');
      for (const [name, value] of Object.entries(AGENT_JSC_OPTIONS)) assert.ok(environ.includes(`${name}=${value}`), `${name}=${value} in the agent's environment`);
      assert.equal(fs.readlinkSync(`/proc/${cluster.nodes[0]!.agent!.pid}/exe`), fs.realpathSync(AGENT), 'still the one executable');
    }));

  test('drift is repaired at the next resync; foreign routes and rules are never touched', () =>
    withCluster(2, async (cluster) => {
      const [a] = cluster.nodes as [SimNode, SimNode];
      await a.exec(['ip', 'route', 'add', '10.99.0.0/24', 'via', '192.168.50.99', 'proto', 'static']);
      await a.exec(['iptables-nft', '-A', 'FORWARD', '-s', '10.99.0.0/24', '-j', 'DROP']);
      await a.exec(['iptables-nft', '-t', 'nat', '-A', 'POSTROUTING', '-s', '10.99.0.0/24', '-j', 'RETURN']);
      await startAll(cluster);
      const routes = await a.agentRoutes();
      const chains = ourChains(await a.iptablesSave());

      await a.exec(['ip', 'route', 'del', cluster.nodes[1]!.podCIDR!]);
      await a.exec(['iptables-nft', '-t', 'nat', '-F', 'BRIDGEWAY-POSTRTG']);
      await a.exec(['iptables-nft', '-D', 'FORWARD', '-m', 'comment', '--comment', 'bridgeway: pod forwarding', '-j', 'BRIDGEWAY-FORWARD']);
      await eventually(async () => (await a.agentRoutes()).join() === routes.join() && ourChains(await a.iptablesSave()) === chains, 10_000, 'repair');

      const all = await a.ipJson(['-4', 'route', 'show']);
      assert.ok(all.some((r) => r.dst === '10.99.0.0/24' && r.protocol === 'static'), 'foreign route intact');
      const save = await a.iptablesSave();
      assert.match(save, /-A FORWARD -s 10\.99\.0\.0\/24 -j DROP/);
      assert.match(save, /-A POSTROUTING -s 10\.99\.0\.0\/24 -j RETURN/);
    }));

  test('an event: its change is applied first, drift is repaired in the same sync, a route someone added meanwhile is kept', () =>
    withCluster(3, async (cluster) => {
      const [a, b, c] = cluster.nodes as [SimNode, SimNode, SimNode];
      cluster.startAgent(a, ['--resync', '10m']); // every sync below is the event's, none a resync
      await eventually(async () => (await cluster.health(a, '/readyz')).status === 200, 20_000, 'ready');
      // Since the agent's last look at the kernel: our route to b was deleted, and someone routed
      // the prefix of a node that is about to join.
      await a.exec(['ip', 'route', 'del', b.podCIDR!]);
      await a.exec(['ip', 'route', 'add', '10.244.99.0/24', 'via', '192.168.50.99', 'dev', 'eth1', 'proto', 'static']);
      const entries = [a, b, c].map((n) => ({ name: n.name, podCIDR: n.podCIDR, eth1IP: n === c ? '192.168.50.77' : n.eth1IP }));
      const logBefore = a.agentLog.length;
      cluster.writeNodesFile([...entries, { name: 'node-99', podCIDR: '10.244.99.0/24', eth1IP: '192.168.50.98' }]);
      await eventually(
        async () => (await a.agentRoutes()).join() === [`${b.podCIDR} via ${b.eth1IP}`, `${c.podCIDR} via 192.168.50.77`].sort().join(),
        10_000, 'the change applied and the deleted route restored',
      );
      const foreign = (await a.ipJson(['-4', 'route', 'show', '10.244.99.0/24'])) as { gateway?: string; protocol?: string }[];
      assert.deepEqual(foreign.map((r) => [r.gateway, r.protocol]), [['192.168.50.99', 'static']], 'the foreign route is untouched');
      await eventually(async () => /^bridgeway_route_conflicts 1$/m.test((await cluster.health(a, '/metrics')).body), 5000, 'conflict counted');
      assert.match(a.agentLog, /a route we would add exists and is not ours/);
      // The order within the sync: the change (c re-addressed, node-99 tried) went in before the
      // kernel was read; the read then found b's route missing and restored it.
      const changes = a.agentLog.slice(logBefore).split('\n').filter((l) => l.includes('"routes changed"')).map((l) => JSON.parse(l));
      assert.deepEqual(changes.map((c) => [c.added, c.replaced, c.deleted]), [[1, 1, 0], [1, 0, 0]]);
    }));

  test('a removed node loses its route, a new node gains one, stale routes of an earlier run go', () =>
    withCluster(3, async (cluster) => {
      const [a, b, c] = cluster.nodes as [SimNode, SimNode, SimNode];
      // A route left by an earlier run for a node that no longer exists.
      await a.exec(['ip', 'route', 'add', '10.244.200.0/24', 'via', '192.168.50.200', 'proto', '77']);
      await startAll(cluster, [a]);
      assert.deepEqual(await a.agentRoutes(), expectedRoutes(cluster, a));
      cluster.writeNodesFile([a, b].map((n) => ({ name: n.name, podCIDR: n.podCIDR, eth1IP: n.eth1IP })));
      await eventually(async () => (await a.agentRoutes()).join() === expectedRoutes(cluster, a, [a, b]).join(), 10_000, 'route of node-2 removed');
      const d = await cluster.addNode();
      cluster.writeNodesFile([a, b, d].map((n) => ({ name: n.name, podCIDR: n.podCIDR, eth1IP: n.eth1IP })));
      await eventually(async () => (await a.agentRoutes()).includes(`${d.podCIDR} via ${d.eth1IP}`), 10_000, 'route of the new node');
      assert.ok(!(await a.agentRoutes()).some((r) => r.startsWith(c.podCIDR!)));
    }));

  test('a restart changes nothing and loses no ping; SIGTERM leaves routes and rules', () =>
    withCluster(2, async (cluster) => {
      const [a, b] = cluster.nodes as [SimNode, SimNode];
      await startAll(cluster);
      const podA = await cluster.addPod(a);
      const podB = await cluster.addPod(b);
      const before = { routes: await a.agentRoutes(), rules: ourChains(await a.iptablesSave()), conflist: fs.statSync(a.conflistPath).mtimeMs };

      const pinger = spawn('nsenter', [`--net=${podA.netns}`, '--', 'ping', '-i', '0.05', '-c', '80', '-W', '1', podB.ip], { stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      pinger.stdout.on('data', (d) => (output += d));
      const pinged = new Promise<number | null>((resolve) => pinger.on('exit', resolve));
      await eventually(async () => (output.match(/bytes from/g)?.length ?? 0) >= 3, 10_000, 'the first replies');
      assert.equal(await cluster.stopAgent(a), 0, 'SIGTERM exits cleanly');
      assert.deepEqual(await a.agentRoutes(), before.routes, 'routes stay while the agent is down');
      a.agentLog = '';
      await startAll(cluster, [a]);
      assert.equal(await pinged, 0, output);
      assert.match(output, / 0% packet loss/);

      assert.deepEqual(await a.agentRoutes(), before.routes);
      assert.equal(ourChains(await a.iptablesSave()), before.rules);
      assert.equal(fs.statSync(a.conflistPath).mtimeMs, before.conflist, 'conflist not rewritten');
      assert.doesNotMatch(a.agentLog, /routes changed|iptables chains written|wrote the CNI conflist/, 'the restarted agent changed nothing');
    }));

  test('waits for its own podCIDR without crash-looping: not ready, no conflist; then converges', () =>
    withCluster(2, async (cluster) => {
      const [a, b] = cluster.nodes as [SimNode, SimNode];
      cluster.writeNodesFile([{ name: a.name, eth1IP: a.eth1IP }, { name: b.name, podCIDR: b.podCIDR, eth1IP: b.eth1IP }]);
      cluster.startAgent(a);
      const notReady = await eventually(async () => {
        const r = await cluster.health(a, '/readyz');
        return r.status === 503 && /no IPv4 podCIDR yet/.test(r.body) ? r : undefined;
      }, 15_000, 'readyz to say why');
      assert.match(notReady.body, /node node-0 has no IPv4 podCIDR yet/);
      assert.ok(!fs.existsSync(a.conflistPath), 'no conflist while waiting');
      assert.equal(a.agent?.exitCode, null, 'still running');
      cluster.writeNodesFile();
      await eventually(async () => (await cluster.health(a, '/readyz')).status === 200, 15_000, 'ready');
      assert.ok(fs.existsSync(a.conflistPath));
    }));

  test('a peer off the eth1 subnet is reported in logs and metrics, not silently skipped', () =>
    withCluster(2, async (cluster) => {
      const [a, b] = cluster.nodes as [SimNode, SimNode];
      cluster.writeNodesFile([{ name: a.name, podCIDR: a.podCIDR, eth1IP: a.eth1IP }, { name: b.name, podCIDR: b.podCIDR, eth1IP: '172.30.0.5' }]);
      await startAll(cluster, [a]);
      assert.match((await cluster.health(a, '/metrics')).body, /^bridgeway_peers_unreachable 1$/m);
      assert.match(a.agentLog, /peer not routed: 172\.30\.0\.5 \(from its annotation\) is not on eth1's subnet 192\.168\.50\.10\/24: all nodes must share one L2 segment/);
      assert.deepEqual(await a.agentRoutes(), []);
    }));

  test('--once, and uninstall removing everything it owns and nothing else', () =>
    withCluster(2, async (cluster) => {
      const [a] = cluster.nodes as [SimNode, SimNode];
      await a.exec(['ip', 'route', 'add', '10.99.0.0/24', 'via', '192.168.50.99', 'proto', 'static']);
      await a.exec(['iptables-nft', '-A', 'FORWARD', '-s', '10.99.0.0/24', '-j', 'DROP']);
      await cluster.runAgentOnce(a);
      await cluster.addPod(a);
      assert.ok((await a.agentRoutes()).length === 1);
      const dataDir = path.join(a.dir, 'ipam');
      assert.equal(fs.readdirSync(path.join(dataDir, 'bridgeway', 'ips')).length, 1, 'the pod\'s reservation, in our network\'s folder');
      // Two other bridgeway networks on this node (a second conflist, a Multus secondary network),
      // one with a live pod's reservation: uninstall must not hand those addresses out again.
      for (const [network, ip] of [['netb', '10.245.0.2'], ['storage', '10.246.0.9']]) {
        fs.mkdirSync(path.join(dataDir, network!, 'ips'), { recursive: true });
        fs.writeFileSync(path.join(dataDir, network!, 'ips', ip!), 'c0ffee\neth1\n');
      }
      // The pod's ADD made the anti-spoofing table in the node's namespace.
      assert.match((await a.exec(['nft', 'list', 'tables'])).stdout, /bridge bridgeway/);
      const uninstall = () => run(['nsenter', `--net=${a.path}`, '--', AGENT, 'uninstall', ...cluster.agentArgs(a)]);
      const removed = await uninstall();
      assert.doesNotMatch((await a.exec(['nft', 'list', 'tables'])).stdout, /bridge bridgeway/, 'the anti-spoofing table removed');
      assert.deepEqual(await a.agentRoutes(), []);
      assert.doesNotMatch(await a.iptablesSave(), /BRIDGEWAY/);
      assert.ok(!fs.existsSync(a.conflistPath) && !fs.existsSync(path.join(a.binDir, 'bridgeway')));
      assert.ok(!(await a.ipJson(['link', 'show'])).some((l) => l.ifname === 'cni0'), 'bridge removed');
      assert.ok(!fs.existsSync(path.join(dataDir, 'bridgeway')), 'our network\'s IPAM state removed');
      assert.deepEqual(fs.readdirSync(dataDir).sort(), ['netb', 'storage'], 'the other networks\' state kept');
      assert.equal(fs.readFileSync(path.join(dataDir, 'netb', 'ips', '10.245.0.2'), 'utf8'), 'c0ffee\neth1\n');
      assert.ok(removed.stderr.includes(`left IPAM state of networks netb, storage in ${dataDir}`), removed.stderr);
      assert.ok((await a.ipJson(['-4', 'route', 'show'])).some((r) => r.dst === '10.99.0.0/24'), 'foreign route kept');
      assert.match(await a.iptablesSave(), /-A FORWARD -s 10\.99\.0\.0\/24 -j DROP/, 'foreign rule kept');
      // Once the other networks are gone too, a second uninstall (idempotent) removes the directory.
      for (const network of ['netb', 'storage']) fs.rmSync(path.join(dataDir, network), { recursive: true });
      const again = await uninstall();
      assert.ok(!fs.existsSync(dataDir), 'the empty data directory removed');
      assert.match(again.stderr, /no nftables table bridge bridgeway to remove/);
    }));

  test('iptables: follows kube-proxy to iptables-legacy when its KUBE-* chains are there, and says so', () =>
    withCluster(2, async (cluster) => {
      const [a] = cluster.nodes as [SimNode, SimNode];
      await a.exec(['iptables-legacy', '-t', 'nat', '-N', 'KUBE-SERVICES']);
      const once = await cluster.runAgentOnce(a);
      assert.match(once.stdout + once.stderr, /"mode":"legacy","why":"it holds kube-proxy's KUBE-\* chains","msg":"using iptables-legacy"/);
      assert.match((await a.exec(['iptables-legacy-save'])).stdout, /-A POSTROUTING -m comment --comment "bridgeway: masquerade" -j BRIDGEWAY-POSTRTG/);
      assert.doesNotMatch((await a.exec(['iptables-nft-save'])).stdout, /BRIDGEWAY/);
      await run(['nsenter', `--net=${a.path}`, '--', AGENT, 'uninstall', ...cluster.agentArgs(a)]);
      assert.doesNotMatch((await a.exec(['iptables-legacy-save'])).stdout, /BRIDGEWAY/, 'uninstall cleans the legacy tables too');
    }));

  test('invalid configuration is a clear error at start, naming the setting', async () => {
    const result = await run([AGENT, '--node-name', 'x', '--cluster-cidr', 'nope']).catch((e) => e);
    assert.equal(result.exitCode, 2);
    assert.match(result.stderr, /--cluster-cidr must be <v4>, <v6> or <v4>,<v6> CIDRs like 10\.244\.0\.0\/16,fd00:10:244::\/56; "nope" is not a CIDR/);
  });

  test('starts clean: nothing on stderr from Node or V8 (e.g. a code cache built under other V8 flags is rejected)', async () => {
    const { stdout, stderr } = await run([AGENT, '--help'], { env: {} });
    assert.match(stdout, /--node-name/);
    assert.equal(stderr, '');
  });
});
