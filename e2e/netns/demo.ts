// The demo: a simulated 3-node cluster in network namespaces, the real agent on every node
// (standalone mode, peers from a nodes file), two pods per node wired by the real plugin with
// the conflist the agent wrote, and every pod pinging every other pod across nodes, in each
// family. Dual-stack by default; DEMO_STACK=ipv4 runs the IPv4-only cluster. DEMO_BRIDGE=ovs puts
// every node's pods on an Open vSwitch bridge: each node runs its own ovsdb-server and
// ovs-vswitchd (the userspace datapath) and its agent with --bridge-type ovs.
import fs from 'node:fs';
import { CLUSTER_CIDR, CLUSTER_CIDR_V6, eventually, withCluster } from '../../test/support/cluster.ts';

const NODES = Number(process.env.DEMO_NODES ?? 3);
const PODS_PER_NODE = 2;
const stack = process.env.DEMO_STACK ?? 'dual';
if (stack !== 'dual' && stack !== 'ipv4') throw new Error(`DEMO_STACK must be dual or ipv4, got ${JSON.stringify(stack)}`);
const dualStack = stack === 'dual';
const bridge = process.env.DEMO_BRIDGE ?? 'linux';
if (bridge !== 'linux' && bridge !== 'ovs') throw new Error(`DEMO_BRIDGE must be linux or ovs, got ${JSON.stringify(bridge)}`);
const families: (4 | 6)[] = dualStack ? [4, 6] : [4];
const bold = (text: string) => (process.stdout.isTTY ? `\x1b[1m${text}\x1b[0m` : text);
const step = (text: string) => console.log(`\n${bold(`== ${text}`)}`);

await withCluster(NODES, async (cluster) => {
  const segment = dualStack ? '192.168.50.0/24 and fd00:50::/64' : '192.168.50.0/24';
  const switchText = bridge === 'ovs' ? 'an Open vSwitch bridge (userspace datapath, one ovsdb-server and ovs-vswitchd per node)' : 'a Linux bridge';
  step(`${NODES} nodes, pods on ${switchText}, joined by a switch on eth1 (${segment}), cluster CIDR ${dualStack ? `${CLUSTER_CIDR},${CLUSTER_CIDR_V6}` : CLUSTER_CIDR}; nodes file:`);
  console.log(fs.readFileSync(cluster.nodesFile, 'utf8').trimEnd());

  step('starting bridgeway-agent on every node');
  for (const node of cluster.nodes) cluster.startAgent(node);
  for (const node of cluster.nodes) {
    await eventually(async () => (await cluster.health(node, '/readyz')).status === 200, 30_000, `${node.name} ready`);
    console.log(`${node.name}: ready`);
    for (const family of families) console.log(`  IPv${family} routes: ${(await node.agentRoutes(family)).join(', ')}`);
  }

  step('node-0: the conflist the agent wrote and its chains');
  const first = cluster.nodes[0]!;
  console.log(fs.readFileSync(first.conflistPath, 'utf8').trimEnd());
  for (const family of families) {
    console.log(`${family === 6 ? 'ip6tables' : 'iptables'}:`);
    console.log((await first.iptablesSave(family)).split('\n').filter((l) => l.startsWith('-A') && l.includes('BRIDGEWAY')).map((l) => `  ${l}`).join('\n'));
  }

  step(`${PODS_PER_NODE} pods per node, wired by the plugin the agent installed`);
  const pods: { node: string; ip: string; ipv6?: string; netns: string }[] = [];
  for (const node of cluster.nodes) {
    for (let i = 0; i < PODS_PER_NODE; i++) {
      const pod = await cluster.addPod(node);
      pods.push({ node: node.name, ...pod });
      console.log(`${node.name}: pod ${[pod.ip, pod.ipv6].filter(Boolean).join(', ')}`);
    }
  }

  if (first.ovs) {
    step('node-0: its Open vSwitch (ovs-vsctl show)');
    console.log(await first.ovs.vsctl(['show']));
  }

  let failures = 0;
  for (const family of families) {
    step(`IPv${family}: every pod pings every other pod (x = same node, . = across nodes)`);
    const address = (pod: (typeof pods)[number]) => (family === 6 ? pod.ipv6 : pod.ip);
    for (const from of pods) {
      const marks: string[] = [];
      for (const to of pods) {
        if (from === to) {
          marks.push(' ');
          continue;
        }
        const target = address(to);
        const ok = target !== undefined && (await cluster.ping(from.netns, target));
        if (!ok) failures++;
        marks.push(ok ? (from.node === to.node ? 'x' : '.') : 'F');
      }
      console.log(`${(address(from) ?? '(none)').padEnd(family === 6 ? 22 : 12)} ${marks.join('')}`);
    }
  }
  const metrics = (await cluster.health(first, '/metrics')).body.split('\n').filter((l) => /^bridgeway_(routes_programmed|peers|ready|family_routes_programmed|family_ready)[ {]/.test(l));
  step('node-0 /metrics (excerpt)');
  console.log(metrics.join('\n'));
  console.log(`\n${failures === 0 ? 'all pods reach each other' : `${failures} pings FAILED`}; cleaning up (namespaces ${cluster.prefix}-*)`);
  process.exitCode = failures === 0 ? 0 : 1;
}, { dualStack, bridge });
