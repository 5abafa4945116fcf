// bench:agent's command line: which sizes, how many changes, how many --once repeats, which
// modes; each also from its BENCH_AGENT_* environment variable.
import { parseArgs } from 'node:util';
import { parseVariants, type PolicyVariant } from './kube-policies.ts';

export const MODES = ['standalone', 'kube'] as const;
export type Mode = (typeof MODES)[number];

/** An agent build to measure: `bun` (dist/bridgeway, what the image ships), `node` (the bench-only Node build), or name=path. */
export interface AgentBuild {
  name: string;
  file?: string;
}

export interface Options {
  sizes: number[];
  changes: number;
  /** Kubernetes mode: Pods per node the fake API server serves (the policy informers list them all). */
  podsPerNode: number;
  /**
   * Kubernetes mode: the NetworkPolicy variants, each run as its own agent beside the builds
   * (alternating at every size): a count served and enforced, or `off` (BRIDGEWAY_NETWORK_POLICY=false).
   */
  policies: PolicyVariant[];
  onceRepeats: number;
  modes: Mode[];
  /** Measured side by side, in this order at every size. */
  agents: AgentBuild[];
}

export function parseOptions(): Options {
  const { values } = parseArgs({
    options: { sizes: { type: 'string' }, changes: { type: 'string' }, 'pods-per-node': { type: 'string' }, policies: { type: 'string' }, 'once-repeats': { type: 'string' }, modes: { type: 'string' }, agents: { type: 'string' } },
  });
  const env = process.env;
  const sizes = (values.sizes ?? env.BENCH_AGENT_SIZES ?? '10,1000,5000').split(',').map((s) => Number(s.trim()));
  if (sizes.some((n) => !Number.isInteger(n) || n < 2 || n > 65_000)) throw new Error('--sizes: integers between 2 and 65000');
  const changes = Number(values.changes ?? env.BENCH_AGENT_CHANGES ?? '10');
  const onceRepeats = Number(values['once-repeats'] ?? env.BENCH_AGENT_ONCE_REPEATS ?? '3');
  if (!Number.isInteger(changes) || changes < 0) throw new Error('--changes: a non-negative integer');
  const podsPerNode = Number(values['pods-per-node'] ?? env.BENCH_AGENT_PODS_PER_NODE ?? '1');
  if (!Number.isInteger(podsPerNode) || podsPerNode < 0 || podsPerNode > 250) throw new Error('--pods-per-node: an integer between 0 and 250');
  if (!Number.isInteger(onceRepeats) || onceRepeats < 1) throw new Error('--once-repeats: a positive integer');
  const modes = (values.modes ?? env.BENCH_AGENT_MODES ?? MODES.join(',')).split(',').map((m) => m.trim()).filter(Boolean);
  const unknown = modes.filter((m) => !(MODES as readonly string[]).includes(m));
  if (unknown.length || modes.length === 0) throw new Error(`--modes: a comma-separated subset of ${MODES.join(',')} (got ${unknown.join(',') || 'nothing'})`);
  const agents = (values.agents ?? env.BENCH_AGENT_AGENTS ?? 'bun,node').split(',').map((a) => a.trim()).filter(Boolean).map((spec): AgentBuild => {
    const [name, file] = spec.split('=', 2) as [string, string | undefined];
    if (!/^[\w.-]+$/.test(name) || (file === undefined && name !== 'bun' && name !== 'node')) throw new Error(`--agents: bun, node or name=path, comma-separated (got ${JSON.stringify(spec)})`);
    return file === undefined ? { name } : { name, file };
  });
  if (agents.length === 0 || new Set(agents.map((a) => a.name)).size !== agents.length) throw new Error('--agents: at least one, each name once');
  const policies = parseVariants(values.policies ?? env.BENCH_AGENT_POLICIES ?? '20');
  return { sizes, changes, podsPerNode, policies, onceRepeats, modes: MODES.filter((m) => modes.includes(m)), agents };
}
