// The demo: a simulated 3-node cluster in network namespaces, the real agent on every node
// (standalone mode, peers from a nodes file), two pods per node wired by the real plugin with
// the conflist the agent wrote, and every pod pinging every other pod across nodes.
import fs from 'node:fs';
import { eventually, withCluster } from './cluster.ts';

const NODES = Number(process.env.DEMO_NODES ?? 3);
const PODS_PER_NODE = 2;
const bold = (text: string) => (process.stdout.isTTY ? `\x1b[1m${text}\x1b[0m` : text);
const step = (text: string) => console.log(`\n${bold(`== ${text}`)}`);

await withCluster(NODES, async (cluster) => {
  step(`${NODES} nodes joined by a switch on eth1 (192.168.50.0/24), nodes file:`);
  console.log(fs.readFileSync(cluster.nodesFile, 'utf8').trimEnd());

  step('starting bridgeway-agent on every node');
  for (const node of cluster.nodes) cluster.startAgent(node);
  for (const node of cluster.nodes) {
    await eventually(async () => (await cluster.health(node, '/readyz')).status === 200, 30_000, `${node.name} ready`);
    console.log(`${node.name}: ready; routes: ${(await node.agentRoutes()).join(', ')}`);
  }

  step('node-0: the conflist the agent wrote and its iptables chains');
  const first = cluster.nodes[0]!;
  console.log(fs.readFileSync(first.conflistPath, 'utf8').trimEnd());
  console.log((await first.iptablesSave()).split('\n').filter((l) => l.startsWith('-A') && l.includes('BRIDGEWAY')).join('\n'));

  step(`${PODS_PER_NODE} pods per node, wired by the plugin the agent installed`);
  const pods: { node: string; ip: string; netns: string }[] = [];
  for (const node of cluster.nodes) {
    for (let i = 0; i < PODS_PER_NODE; i++) {
      const pod = await cluster.addPod(node);
      pods.push({ node: node.name, ...pod });
      console.log(`${node.name}: pod ${pod.ip}`);
    }
  }

  step('every pod pings every other pod (x = same node, . = across nodes)');
  let failures = 0;
  for (const from of pods) {
    const marks: string[] = [];
    for (const to of pods) {
      if (from === to) {
        marks.push(' ');
        continue;
      }
      const ok = await cluster.ping(from.netns, to.ip);
      if (!ok) failures++;
      marks.push(ok ? (from.node === to.node ? 'x' : '.') : 'F');
    }
    console.log(`${from.ip.padEnd(12)} ${marks.join('')}`);
  }
  const metrics = (await cluster.health(first, '/metrics')).body.split('\n').filter((l) => /^bridgeway_(routes_programmed|peers|ready) /.test(l));
  step('node-0 /metrics (excerpt)');
  console.log(metrics.join('\n'));
  console.log(`\n${failures === 0 ? 'all pods reach each other' : `${failures} pings FAILED`}; cleaning up (namespaces ${cluster.prefix}-*)`);
  process.exitCode = failures === 0 ? 0 : 1;
});
