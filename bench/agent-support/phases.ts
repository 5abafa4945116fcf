// Where a sync's time goes, piece by piece: the agent's pure steps run in-process on the same
// nodes file (first call = cold JIT, as in the agent's first sync; then the median of warm calls),
// and each external command the agent runs, timed in a scratch node namespace with the agent's
// own runner (lib/exec.ts). The agent runs these in sequence, so they add up.
import fs from 'node:fs';
import path from 'node:path';
import { parseCidr } from '../../lib/cidr.ts';
import { formatBatch } from '../../lib/iproute2/batch.ts';
import type { KernelRoute } from '../../lib/kernel/route.ts';
import { parseIptablesSave } from '../../lib/iptables/save.ts';
import { peersOf, podCidrOf } from '../../daemonset/nodes/peers.ts';
import { parseNodesFile } from '../../daemonset/nodes/file-source.ts';
import { planIptables, restorePayload } from '../../daemonset/iptables/plan.ts';
import { diffRoutes, planRoutes } from '../../daemonset/routes/plan.ts';
import { routeCommands } from '../../daemonset/routes/ip-batch.ts';
import { run, type AgentLab } from './lab.ts';
import { CLUSTER_CIDR, clusterOf, nodesYaml, SELF } from './nodes.ts';

export interface StepTiming {
  step: string;
  firstMs: number;
  medianMs: number;
  note?: string;
}

function median(samples: readonly number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted.length ? sorted[Math.floor((sorted.length - 1) / 2)]! : NaN;
}

function timeSync<T>(step: string, repeats: number, fn: () => T, note?: string): { timing: StepTiming; value: T } {
  let value!: T;
  const samples: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const started = performance.now();
    value = fn();
    samples.push(performance.now() - started);
  }
  return { timing: { step, firstMs: samples[0]!, medianMs: median(samples.slice(1)), note }, value };
}

async function timeAsync<T>(step: string, repeats: number, fn: () => Promise<T>, note?: string): Promise<{ timing: StepTiming; value: T }> {
  let value!: T;
  const samples: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const started = performance.now();
    value = await fn();
    samples.push(performance.now() - started);
  }
  return { timing: { step, firstMs: samples[0]!, medianMs: repeats > 1 ? median(samples.slice(1)) : samples[0]!, note }, value };
}

/** The pure steps of one sync at `count` nodes, plus the external commands, in the agent's order. */
export async function syncSteps(lab: AgentLab, count: number, agent: string): Promise<StepTiming[]> {
  const steps: StepTiming[] = [];
  const specs = clusterOf(count);
  const text = nodesYaml(specs);

  steps.push((await timeAsync('exec node -e 0 (the runtime alone, not a SEA)', 5, () => run([process.execPath, '-e', '0']))).timing);
  steps.push((await timeAsync('exec bridgeway-agent --help (the executable\'s start-up)', 5, () => run([agent, '--help']))).timing);

  const parsed = timeSync('parseNodesFile (js-yaml + validation)', 7, () => parseNodesFile(text), `${(text.length / 1024).toFixed(0)} KiB file`);
  steps.push(parsed.timing);
  const file = path.join(lab.mkdir('phases'), 'nodes.yaml');
  fs.writeFileSync(file, text);
  steps.push(timeSync('re-read + compare the file text (nodes(), every sync)', 7, () => fs.readFileSync(file, 'utf8') === text).timing);

  const node = await lab.addNode();
  try {
    const inNode = (argv: readonly string[], input?: string) => run(['nsenter', `--net=${node.path}`, '--', ...argv], { input });
    const addr = await timeAsync('ip -j addr show', 5, () => inNode(['ip', '-j', 'addr', 'show']));
    steps.push(addr.timing);

    const self = parsed.value.find((n) => n.name === SELF)!;
    const podCIDR = podCidrOf(self)!;
    const peers = timeSync('peersOf (parse CIDRs, sort by name)', 7, () => peersOf(parsed.value, SELF));
    steps.push(peers.timing);
    const plan = timeSync('planRoutes', 7, () => planRoutes(peers.value.peers, { name: 'eth1', addresses: [parseCidr('192.168.0.1/16')!] }, podCIDR));
    steps.push(plan.timing);

    const emptyList = await timeAsync('ip -4 -j route show table main (empty)', 5, () => inNode(['ip', '-4', '-j', 'route', 'show', 'table', 'main']));
    steps.push(emptyList.timing);
    const firstDiff = timeSync('diffRoutes (first sync: all adds)', 7, () => diffRoutes(plan.value.routes, []));
    steps.push(firstDiff.timing);
    const batch = timeSync('formatBatch', 7, () => formatBatch(routeCommands(firstDiff.value.changes)));
    steps.push(batch.timing);
    const apply = await timeAsync(`ip -force -batch - (${firstDiff.value.changes.length} route replace, new)`, 1, () => inNode(['ip', '-j', '-force', '-batch', '-'], batch.value));
    steps.push(apply.timing);

    const fullList = await timeAsync(`ip -4 -j route show table main (${plan.value.routes.length} routes)`, 5, () => inNode(['ip', '-4', '-j', 'route', 'show', 'table', 'main']));
    steps.push({ ...fullList.timing, note: `${(fullList.value.stdout.length / 1024).toFixed(0)} KiB of JSON` });
    const actual = timeSync('JSON.parse of that', 7, () => JSON.parse(fullList.value.stdout) as KernelRoute[]);
    steps.push(actual.timing);
    const withProto = actual.value.map((r) => ({ ...r, protocol: '77' }));
    const steadyDiff = timeSync('diffRoutes (steady state: nothing to do)', 7, () => diffRoutes(plan.value.routes, withProto));
    steps.push(steadyDiff.timing);
    const oneChange = plan.value.routes[0]!;
    const replaceOne = await timeAsync('ip -force -batch - (1 route replace)', 5, () =>
      inNode(['ip', '-j', '-force', '-batch', '-'], `route replace ${oneChange.dst} via 192.168.254.1 dev eth1 proto 77\n`));
    steps.push(replaceOne.timing);

    for (const mode of ['nft', 'legacy'] as const) {
      steps.push((await timeAsync(`iptables-${mode}-save (backend detection)`, 5, () => inNode([`iptables-${mode}-save`]))).timing);
    }
    steps.push((await timeAsync('iptables-nft -j MASQUERADE --help', 3, () => inNode(['iptables-nft', '-j', 'MASQUERADE', '--help']))).timing);
    const specsIpt = planIptables({ clusterCIDR: parseCidr(CLUSTER_CIDR)!, podCIDR, randomFully: true });
    const save = await inNode(['iptables-nft-save']);
    const payload = restorePayload(specsIpt, parseIptablesSave(save.stdout))!;
    steps.push((await timeAsync('iptables-nft-restore --noflush (first write)', 1, () => inNode(['iptables-nft-restore', '--noflush', '-w', '5'], payload))).timing);
    steps.push((await timeAsync('iptables-nft-save (every sync)', 5, () => inNode(['iptables-nft-save']))).timing);
  } finally {
    await lab.removeNode(node);
  }
  return steps;
}
