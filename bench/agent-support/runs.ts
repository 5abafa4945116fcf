// What every measured run shares: private snapshots of the executables, a fresh run directory
// with the agent's flags, the checks after a run (routes right, iptables rules counted), the
// agent's sync counter, and the agent process's CPU time and shutdown.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { sleep } from '../../test/support/poll.ts';
import type { AgentProcess, LogLine } from './agent-process.ts';
import { DIST_PLUGIN } from './dist.ts';
import type { AgentLab, NodeNetns } from './lab.ts';
import { checkRoutes, CLUSTER_CIDR, NodesFile, SELF, type KernelRouteJson, type NodeSpec } from './nodes.ts';
import type { Install, NodesFormat } from './results.ts';

const HEALTH_ADDR = '127.0.0.1:9099';

/** One per agent build measured: made once, then each measured run asks it for its directory, flags and checks. */
export class AgentRuns {
  readonly lab: AgentLab;
  /** The build's name in the reports (bun, node, ...). */
  readonly name: string;
  /**
   * Private snapshots of dist/: others may rebuild it while this runs, and a plugin that changes
   * between runs would turn "warm" runs into installs.
   */
  readonly agent: string;
  private readonly plugin: string;
  /** An identical copy of the plugin, hard-linked into --cni-bin-dir for "warm" runs. */
  private readonly template: string;
  /** A 1 KiB stand-in plugin: the agent's cost without any install. */
  private readonly stub: string;

  constructor(lab: AgentLab, name: string, executable: string) {
    this.lab = lab;
    this.name = name;
    const dir = lab.mkdir(`dist-${name}`);
    // The one executable runs as the agent under this name (bin/role.ts).
    this.agent = path.join(dir, 'bridgeway-agent');
    fs.copyFileSync(executable, this.agent);
    this.plugin = path.join(dir, 'bridgeway');
    fs.copyFileSync(DIST_PLUGIN, this.plugin);
    this.template = path.join(dir, 'bridgeway-copy');
    fs.copyFileSync(this.plugin, this.template);
    this.stub = path.join(dir, 'stub');
    fs.writeFileSync(this.stub, `#!/bin/sh\n# stand-in plugin\n${'#'.repeat(1000)}\n`, { mode: 0o755 });
  }

  /** Without `kubeconfig`: standalone mode with a nodes file in the run's dir. */
  prepare(install: Install, kubeconfig?: string, format: NodesFormat = 'yaml'): { dir: string; nodes: NodesFile; args: (extra: string[]) => string[]; env: Record<string, string> } {
    const dir = this.lab.mkdir(`run-${this.name}-${install}`);
    const bin = path.join(dir, 'bin');
    fs.mkdirSync(bin);
    if (install === 'warm') fs.linkSync(this.template, path.join(bin, 'bridgeway'));
    const env = {};
    const nodes = new NodesFile(dir, format);
    const args = (extra: string[]) => [
      '--node-name', SELF, ...(kubeconfig ? ['--kubeconfig', kubeconfig] : ['--nodes-file', nodes.file]), '--cluster-cidr', CLUSTER_CIDR,
      '--cni-bin-dir', bin, '--cni-conf-dir', path.join(dir, 'conf'),
      '--plugin-binary', install.startsWith('stub') ? this.stub : this.plugin,
      '--data-dir', path.join(dir, 'ipam'), '--cni-log-file', path.join(dir, 'cni.log'),
      '--health-addr', HEALTH_ADDR, '--resync', '10m', '--log-level', 'info', ...extra,
    ];
    return { dir, nodes, args, env };
  }

  /** The agent's routes (proto 77) in the node namespace against the nodes; [] when right. */
  async routeProblems(node: NodeNetns, specs: readonly NodeSpec[]): Promise<string[]> {
    const routes = JSON.parse((await this.lab.inNetns(node, ['ip', '-4', '-j', 'route', 'show', 'proto', '77'])).stdout || '[]') as KernelRouteJson[];
    return checkRoutes(specs, routes);
  }

  async check(node: NodeNetns, specs: readonly NodeSpec[], lines: readonly LogLine[]): Promise<{ iptablesRules: number; routeProblems: string[] }> {
    const mode = /^using iptables-(\w+)$/.exec(lines.find((l) => l.msg.startsWith('using iptables-'))?.msg ?? '')?.[1] ?? 'nft';
    const saved = (await this.lab.inNetns(node, [`iptables-${mode}-save`])).stdout;
    return { iptablesRules: saved.split('\n').filter((l) => l.startsWith('-A')).length, routeProblems: await this.routeProblems(node, specs) };
  }

  /** bridgeway_syncs_total (summed over results) from the agent's /metrics inside the node namespace. */
  async syncCount(node: NodeNetns): Promise<number | undefined> {
    const script = `fetch('http://${HEALTH_ADDR}/metrics').then(r=>r.text()).then(t=>process.stdout.write(t),()=>process.exit(3))`;
    try {
      const { stdout } = await this.lab.inNetns(node, [process.execPath, '-e', script]);
      const values = [...stdout.matchAll(/^bridgeway_syncs_total(?:\{[^}]*\})? (\d+(?:\.\d+)?)$/gm)].map((m) => Number(m[1]));
      return values.length ? values.reduce((a, b) => a + b, 0) : undefined;
    } catch {
      return undefined;
    }
  }

  /** The sync count once it stopped moving (two reads 300 ms apart agree; at most 10 s). */
  async quietSyncCount(node: NodeNetns): Promise<number | undefined> {
    let last = await this.syncCount(node);
    const deadline = performance.now() + 10_000;
    while (performance.now() < deadline) {
      await sleep(300);
      const now = await this.syncCount(node);
      if (now === last) return now;
      last = now;
    }
    return last;
  }
}

const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** utime + stime of a process, in ms (clock-tick resolution, usually 10 ms). */
export function cpuMsOf(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

/** SIGTERM, and a warning if the agent did not exit cleanly (it must: routes and rules stay). */
export async function stopAgent(agent: AgentProcess | undefined): Promise<void> {
  const code = await agent?.stop();
  if (agent && code !== 0) process.stderr.write(`warning: the agent exited ${code} on SIGTERM\n`);
}

export function installTime(lines: readonly LogLine[]): number | undefined {
  const i = lines.findIndex((l) => l.msg === 'installed the bridgeway plugin');
  return i > 0 ? lines[i]!.t - lines[i - 1]!.t : undefined;
}
