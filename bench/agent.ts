// npm run bench:agent — the node agent (dist/bridgeway-agent) inside a throw-away node namespace
// whose eth1 is 192.168.0.1/16, at 10, 1,000 and 5,000 nodes, in two modes.
// Standalone mode (--nodes-file):
//   1. convergence: --once wall time, and a long-running agent's time to "routes changed"
//      (routes in the kernel) and to "wrote the CNI conflist" (ready); routes checked one by one;
//   2. single-change latency: one node's eth1IP changed by an atomic rename of the nodes file,
//      timed from the rename to the route's event in `ip monitor route` (--resync 10m, so this
//      is the fs.watch path, not the periodic resync);
//   3. peak RSS (VmHWM of the agent process);
//   4. iptables rules in the node namespace (must not grow with N);
// each with the plugin install cold (empty --cni-bin-dir: the agent copies the 111 MB plugin),
// warm (an identical copy already there) and, long-running, with a 1 KiB stand-in plugin (no
// install cost at all) and warm with the nodes file in JSON instead of YAML (what the YAML parser
// costs). Then where the time goes (the agent's log lines, and each step timed alone).
// Kubernetes mode (--kubeconfig; what real deployments run): the fake API server runs in this
// process with N Nodes shaped like kubelet's (~12 KB of JSON each, agent-support/kube-nodes.ts),
// relayed into the node namespace; the plugin already installed (warm). Convergence, peak RSS,
// one Node's bridgeway.io/eth1-ip changed (watch event -> route in `ip monitor`), and how many
// syncs status-only updates (kubelet heartbeats, image pulls) cause.
// A benchmark, not a test: exits 0 whether targets are met or missed, 1 when something failed
// (including wrong routes). Needs root; creates only namespaces, all removed on exit and SIGINT.
// Options: --sizes 10,1000,5000 (BENCH_AGENT_SIZES), --changes 10 (BENCH_AGENT_CHANGES: per
//          size; in kube mode also the number of status-only updates), --once-repeats 3
//          (BENCH_AGENT_ONCE_REPEATS: warm --once runs per size), --modes standalone,kube
//          (BENCH_AGENT_MODES: either alone, or both).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { AgentProcess, RouteMonitor, type LogLine, type MemoryStatus } from './agent-support/agent-process.ts';
import { AgentLab, run, type NodeNetns } from './agent-support/lab.ts';
import { sleep } from '../test/support/poll.ts';
import { kubeClusterOf, statusNoise } from './agent-support/kube-nodes.ts';
import { checkRoutes, CLUSTER_CIDR, clusterOf, movePeer, NodesFile, SELF, type KernelRouteJson, type NodeSpec } from './agent-support/nodes.ts';
import { syncSteps, type StepTiming } from './agent-support/phases.ts';
import { relayInto, type ApiRelay } from '../test/support/api-relay.ts';
import { startFakeApiServer, type JsonObject } from '../test/support/fake-apiserver.ts';
import { ETH1_ANNOTATION } from '../lib/names.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
// BENCH_AGENT_BINARY: another build of the agent to measure (e.g. a Bun one, bench/AGENT.md).
const DIST_AGENT = process.env.BENCH_AGENT_BINARY ?? path.join(ROOT, 'dist/bridgeway-agent');
const DIST_PLUGIN = path.join(ROOT, 'dist/bridgeway');
const SPAWN_PROBE = path.join(ROOT, 'bench/agent-support/spawn-probe.ts');
const CHANGE_TARGET_MS = 100;
const RSS_TARGET_MIB = 100;
const CONVERGE_TARGET_MS = 5000;
const HEALTH_ADDR = '127.0.0.1:9099';
const MODES = ['standalone', 'kube'] as const;
type Mode = (typeof MODES)[number];

interface Options {
  sizes: number[];
  changes: number;
  onceRepeats: number;
  modes: Mode[];
}

type Install = 'cold' | 'warm' | 'stub';
/** The nodes file's format: the same nodes as YAML (flow style, as the e2e harness writes) or JSON. */
type NodesFormat = 'yaml' | 'json';

interface RunResult {
  install: Install;
  format: NodesFormat;
  lines: LogLine[];
  /** --once: spawn to exit 0. */
  wallMs?: number;
  /** Long-running: spawn to the "routes changed" / "wrote the CNI conflist" log lines. */
  routesMs?: number;
  readyMs?: number;
  /** The first sync's "installed the bridgeway plugin" minus the line before it. */
  installMs?: number;
  peak?: MemoryStatus;
  afterChanges?: MemoryStatus;
  iptablesRules: number;
  routeProblems: string[];
  changes: ChangeSample[];
  exitCode: number | null;
}

interface ChangeSample {
  /** rename -> the route's event in ip monitor. */
  kernelMs: number;
  /** rename -> "nodes file loaded" (fs.watch delivery + read + YAML parse). */
  loadedMs: number;
  /** rename -> "routes changed" logged. */
  loggedMs: number;
}

/** Kubernetes mode at one size (warm plugin, long-running, --resync 10m). */
interface KubeResult {
  size: number;
  /** Average JSON size of one Node as the fake API server sends it, and the whole list. */
  nodeBytes: number;
  listBytes: number;
  lines: LogLine[];
  routesMs: number;
  readyMs: number;
  /** CPU time from spawn to ready: the agent's, and this process's (the fake API server, our end of the relay). */
  agentCpuMs?: number;
  benchCpuMs: number;
  /** VmHWM right after convergence. */
  peak?: MemoryStatus;
  afterChanges?: MemoryStatus;
  afterNoise?: MemoryStatus;
  changes: ChangeSample[];
  /** bridgeway_syncs_total (all results) caused by the eth1-ip changes; undefined if /metrics was unreachable. */
  changeSyncs?: number;
  noise: NoiseResult;
  iptablesRules: number;
  routeProblems: string[];
}

interface NoiseResult {
  updates: number;
  /** bridgeway_syncs_total after minus before; undefined if /metrics was unreachable. */
  syncs?: number;
  /** "routes changed" lines logged meanwhile (must be 0: nothing routable changed). */
  routesLogged: number;
  /** Every agent log line meanwhile. */
  logLines: number;
  /** The agent's CPU time (utime+stime) meanwhile. */
  cpuMs?: number;
}

interface SizeResult {
  size: number;
  onceCold: RunResult;
  onceWarm: RunResult[];
  longCold: RunResult;
  longWarm: RunResult;
  longStub: RunResult;
  /** warm, with a JSON nodes file: what the YAML parser costs. */
  longWarmJson: RunResult;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: { sizes: { type: 'string' }, changes: { type: 'string' }, 'once-repeats': { type: 'string' }, modes: { type: 'string' } },
  });
  const env = process.env;
  const sizes = (values.sizes ?? env.BENCH_AGENT_SIZES ?? '10,1000,5000').split(',').map((s) => Number(s.trim()));
  if (sizes.some((n) => !Number.isInteger(n) || n < 2 || n > 65_000)) throw new Error('--sizes: integers between 2 and 65000');
  const changes = Number(values.changes ?? env.BENCH_AGENT_CHANGES ?? '10');
  const onceRepeats = Number(values['once-repeats'] ?? env.BENCH_AGENT_ONCE_REPEATS ?? '3');
  if (!Number.isInteger(changes) || changes < 0) throw new Error('--changes: a non-negative integer');
  if (!Number.isInteger(onceRepeats) || onceRepeats < 1) throw new Error('--once-repeats: a positive integer');
  const modes = (values.modes ?? env.BENCH_AGENT_MODES ?? MODES.join(',')).split(',').map((m) => m.trim()).filter(Boolean);
  const unknown = modes.filter((m) => !(MODES as readonly string[]).includes(m));
  if (unknown.length || modes.length === 0) throw new Error(`--modes: a comma-separated subset of ${MODES.join(',')} (got ${unknown.join(',') || 'nothing'})`);
  return { sizes, changes, onceRepeats, modes: MODES.filter((m) => modes.includes(m)) };
}

function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length))) - 1]!;
}

const fmt = (ms: number | undefined) => (ms === undefined || !Number.isFinite(ms) ? '-' : ms >= 100 ? ms.toFixed(0) : ms.toFixed(1));
const mib = (kib: number | undefined) => (kib === undefined || !Number.isFinite(kib) ? '-' : (kib / 1024).toFixed(0));

function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  const render = (row: readonly string[]) => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  return [render(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(render)].join('\n');
}

/** Builds dist/ when missing; warns (without rebuilding: others may be using dist/) when stale. */
function ensureBuilt(): void {
  if (!fs.existsSync(DIST_AGENT) || !fs.existsSync(DIST_PLUGIN)) {
    process.stderr.write('dist/ is missing: npm run build\n');
    execFileSync(process.execPath, [path.join(ROOT, 'scripts/build.ts')], { stdio: 'inherit', cwd: ROOT });
    return;
  }
  const built = fs.statSync(DIST_AGENT).mtimeMs;
  const newer = ['daemonset', 'lib']
    .flatMap((dir) => fs.readdirSync(path.join(ROOT, dir), { recursive: true, encoding: 'utf8' }).map((f) => path.join(dir, f)))
    .filter((f) => f.endsWith('.ts') && fs.statSync(path.join(ROOT, f)).mtimeMs > built);
  if (newer.length) process.stderr.write(`warning: dist/bridgeway-agent is older than ${newer.join(', ')}: run npm run build for current numbers\n`);
}

class Bench {
  private readonly lab: AgentLab;
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

  constructor(lab: AgentLab) {
    this.lab = lab;
    const dir = lab.mkdir('dist');
    this.agent = path.join(dir, 'bridgeway-agent');
    fs.copyFileSync(DIST_AGENT, this.agent);
    this.plugin = path.join(dir, 'bridgeway');
    fs.copyFileSync(DIST_PLUGIN, this.plugin);
    this.template = path.join(dir, 'bridgeway-copy');
    fs.copyFileSync(this.plugin, this.template);
    this.stub = path.join(dir, 'stub');
    fs.writeFileSync(this.stub, `#!/bin/sh\n# stand-in plugin\n${'#'.repeat(1000)}\n`, { mode: 0o755 });
  }

  /** Without `kubeconfig`: standalone mode with a nodes file in the run's dir. */
  private prepare(install: Install, kubeconfig?: string, format: NodesFormat = 'yaml'): { dir: string; nodes: NodesFile; args: (extra: string[]) => string[]; env: Record<string, string> } {
    const dir = this.lab.mkdir(`run-${install}`);
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
  private async routeProblems(node: NodeNetns, specs: readonly NodeSpec[]): Promise<string[]> {
    const routes = JSON.parse((await this.lab.inNetns(node, ['ip', '-4', '-j', 'route', 'show', 'proto', '77'])).stdout || '[]') as KernelRouteJson[];
    return checkRoutes(specs, routes);
  }

  private async check(node: NodeNetns, specs: readonly NodeSpec[], lines: readonly LogLine[]): Promise<{ iptablesRules: number; routeProblems: string[] }> {
    const mode = /^using iptables-(\w+)$/.exec(lines.find((l) => l.msg.startsWith('using iptables-'))?.msg ?? '')?.[1] ?? 'nft';
    const saved = (await this.lab.inNetns(node, [`iptables-${mode}-save`])).stdout;
    return { iptablesRules: saved.split('\n').filter((l) => l.startsWith('-A')).length, routeProblems: await this.routeProblems(node, specs) };
  }

  async once(specs: readonly NodeSpec[], install: Install): Promise<RunResult> {
    const node = await this.lab.addNode();
    const { dir, nodes, args, env } = this.prepare(install);
    try {
      nodes.write(specs);
      const agent =  new AgentProcess(this.lab, node, this.agent, args(['--once']), env);
      agent.pollPeak(5);
      const timeout = setTimeout(() => agent.child.kill('SIGKILL'), 120_000);
      const { code, t } = await agent.exited;
      clearTimeout(timeout);
      if (code !== 0) throw new Error(`--once at ${specs.length} nodes exited ${code}:\n${agent.logText()}`);
      const lines = agent.log.lines;
      return { install, format: 'yaml', lines, wallMs: t, installMs: installTime(lines), peak: agent.polledPeak(), changes: [], exitCode: code, ...(await this.check(node, specs, lines)) };
    } finally {
      await this.lab.removeNode(node);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  async longRunning(specs: readonly NodeSpec[], install: Install, changes: number, format: NodesFormat = 'yaml'): Promise<RunResult> {
    const node = await this.lab.addNode();
    const { dir, nodes, args, env } = this.prepare(install, undefined, format);
    let agent: AgentProcess | undefined;
    let monitor: RouteMonitor | undefined;
    try {
      nodes.write(specs);
      agent =  new AgentProcess(this.lab, node, this.agent, args([]), env);
      const routes = await agent.waitForLog((l) => l.msg === 'routes changed', 'routes changed', { timeoutMs: 120_000 });
      const ready = await agent.waitForLog((l) => l.msg === 'wrote the CNI conflist', 'wrote the CNI conflist', { timeoutMs: 120_000 });
      const peak = agent.memory();
      const checked = await this.check(node, specs, agent.log.lines);
      const result: RunResult = {
        install, format, lines: [...agent.log.lines], routesMs: routes.t, readyMs: ready.t, installMs: installTime(agent.log.lines),
        peak, changes: [], exitCode: null, ...checked,
      };
      if (checked.routeProblems.length || changes === 0) return result;

      monitor = new RouteMonitor(this.lab, node);
      await monitor.ready(this.lab, node);
      const current = specs.map((s) => ({ ...s }));
      for (let rep = 0; rep < changes; rep++) {
        const changed = movePeer(current, rep);
        const rename = nodes.stage(current);
        await sleep(50); // let the staging write settle; the agent does not watch that directory
        const t0 = rename();
        const event = await monitor.waitFor((l) => l.text.startsWith(`${changed.podCIDR} via ${changed.eth1IP} `), `${changed.podCIDR} via ${changed.eth1IP}`, { since: t0, timeoutMs: 10_000 });
        const logged = await agent.waitForLog((l) => l.msg === 'routes changed', 'routes changed', { since: t0, timeoutMs: 10_000 });
        const loaded = await agent.waitForLog((l) => l.msg === 'nodes file loaded', 'nodes file loaded', { since: t0, timeoutMs: 10_000 });
        result.changes.push({ kernelMs: event.at - t0, loadedMs: loaded.at - t0, loggedMs: logged.at - t0 });
        await sleep(400); // the rest of the sync (iptables-save, conflist check) finishes
      }
      result.afterChanges = agent.memory();
      result.routeProblems = (await this.routeProblems(node, current)).map((p) => `after the changes: ${p}`);
      return result;
    } finally {
      monitor?.stop();
      await stopAgent(agent);
      await this.lab.removeNode(node);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  async size(size: number, options: Options): Promise<SizeResult> {
    const specs = clusterOf(size);
    const onceCold = await this.once(specs, 'cold');
    const onceWarm: RunResult[] = [];
    for (let i = 0; i < options.onceRepeats; i++) onceWarm.push(await this.once(specs, 'warm'));
    const longCold = await this.longRunning(specs, 'cold', 0);
    const longWarm = await this.longRunning(specs, 'warm', options.changes);
    const longStub = await this.longRunning(specs, 'stub', options.changes);
    const longWarmJson = await this.longRunning(specs, 'warm', options.changes, 'json');
    return { size, onceCold, onceWarm, longCold, longWarm, longStub, longWarmJson };
  }

  /** bridgeway_syncs_total (summed over results) from the agent's /metrics inside the node namespace. */
  private async syncCount(node: NodeNetns): Promise<number | undefined> {
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
  private async quietSyncCount(node: NodeNetns): Promise<number | undefined> {
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

  /**
   * Kubernetes mode: the fake API server in this process with the N Nodes, relayed into a fresh
   * node namespace; the agent with --kubeconfig and the real plugin already installed (warm).
   */
  async kube(specs: readonly NodeSpec[], changes: number): Promise<KubeResult> {
    const objects = kubeClusterOf(specs);
    const sizes = objects.map((o) => Buffer.byteLength(JSON.stringify(o)));
    const api = await startFakeApiServer(objects);
    const forgetApiDir = this.lab.onCleanup(() => fs.rmSync(path.dirname(api.kubeconfig), { recursive: true, force: true }));
    let node: NodeNetns | undefined;
    let relay: ApiRelay | undefined;
    let dir: string | undefined;
    let agent: AgentProcess | undefined;
    let monitor: RouteMonitor | undefined;
    try {
      node = await this.lab.addNode();
      relay = await relayInto(node.path, this.lab.mkdir('api'), api, (child) => this.lab.track(child));
      const prepared = this.prepare('warm', api.kubeconfig);
      dir = prepared.dir;
      const benchCpu = process.cpuUsage();
      agent = new AgentProcess(this.lab, node, this.agent, prepared.args([]), prepared.env);
      const routes = await agent.waitForLog((l) => l.msg === 'routes changed', 'routes changed', { timeoutMs: 120_000 });
      const ready = await agent.waitForLog((l) => l.msg === 'wrote the CNI conflist', 'wrote the CNI conflist', { timeoutMs: 120_000 });
      const peak = agent.memory();
      const agentPid = agent.agentPid();
      const agentCpuMs = agentPid === undefined ? undefined : cpuMsOf(agentPid);
      const benchCpuUsed = process.cpuUsage(benchCpu);
      const checked = await this.check(node, specs, agent.log.lines);
      const result: KubeResult = {
        agentCpuMs, benchCpuMs: (benchCpuUsed.user + benchCpuUsed.system) / 1000,
        size: specs.length, nodeBytes: sizes.reduce((a, b) => a + b, 0) / sizes.length, listBytes: sizes.reduce((a, b) => a + b, 0),
        lines: agent.log.lines, routesMs: routes.t, readyMs: ready.t, peak, changes: [],
        noise: { updates: 0, routesLogged: 0, logLines: 0 }, ...checked,
      };
      if (checked.routeProblems.length || changes === 0) return result;

      // Changes go out as watch events: wait for the watch, and for the syncs of the start-up
      // (the agent's own writes to its Node come back as events) to be over.
      const deadline = performance.now() + 10_000;
      while (api.openWatches() === 0 && performance.now() < deadline) await sleep(20);
      if (api.openWatches() === 0) throw new Error(`kube, ${specs.length} nodes: the agent opened no watch:\n${agent.logText()}`);
      const syncsBefore = await this.quietSyncCount(node);
      monitor = new RouteMonitor(this.lab, node);
      await monitor.ready(this.lab, node);

      const current = specs.map((s) => ({ ...s }));
      for (let rep = 0; rep < changes; rep++) {
        const changed = movePeer(current, rep);
        const ip = changed.eth1IP;
        const t0 = performance.now();
        api.modifyNode(changed.name, (n) => {
          ((n.metadata as JsonObject).annotations as JsonObject)[ETH1_ANNOTATION] = ip;
        });
        const event = await monitor.waitFor((l) => l.text.startsWith(`${changed.podCIDR} via ${ip} `), `${changed.podCIDR} via ${ip}`, { since: t0, timeoutMs: 10_000 });
        const logged = await agent.waitForLog((l) => l.msg === 'routes changed', 'routes changed', { since: t0, timeoutMs: 10_000 });
        result.changes.push({ kernelMs: event.at - t0, loadedMs: NaN, loggedMs: logged.at - t0 });
        await sleep(400); // the rest of the sync (iptables-save, conflist check) finishes
      }
      result.afterChanges = agent.memory();
      const syncsAfterChanges = await this.quietSyncCount(node);
      if (syncsBefore !== undefined && syncsAfterChanges !== undefined) result.changeSyncs = syncsAfterChanges - syncsBefore;

      // Status-only updates, what kubelets send all the time: nothing the agent routes by changes.
      const pid = agent.agentPid();
      const cpuBefore = pid === undefined ? undefined : cpuMsOf(pid);
      const noiseStart = performance.now();
      for (let rep = 0; rep < changes; rep++) {
        const k = 1 + ((rep * 104_729 + 7) % (current.length - 1));
        api.modifyNode(current[k]!.name, (n) => void statusNoise(n, rep));
        await sleep(300);
      }
      const syncsAfterNoise = await this.quietSyncCount(node);
      const cpuAfter = pid === undefined ? undefined : cpuMsOf(pid);
      const during = agent.log.lines.filter((l) => l.at >= noiseStart);
      result.noise = {
        updates: changes,
        syncs: syncsAfterChanges !== undefined && syncsAfterNoise !== undefined ? syncsAfterNoise - syncsAfterChanges : undefined,
        routesLogged: during.filter((l) => l.msg === 'routes changed').length,
        logLines: during.length,
        cpuMs: cpuBefore !== undefined && cpuAfter !== undefined ? cpuAfter - cpuBefore : undefined,
      };
      result.afterNoise = agent.memory();
      result.routeProblems = (await this.routeProblems(node, current)).map((p) => `after the changes: ${p}`);
      return result;
    } finally {
      monitor?.stop();
      await stopAgent(agent);
      relay?.close();
      await api.close();
      forgetApiDir();
      if (node) await this.lab.removeNode(node);
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    }
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
function cpuMsOf(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

/** SIGTERM, and a warning if the agent did not exit cleanly (it must: routes and rules stay). */
async function stopAgent(agent: AgentProcess | undefined): Promise<void> {
  const code = await agent?.stop();
  if (agent && code !== 0) process.stderr.write(`warning: the agent exited ${code} on SIGTERM\n`);
}

function installTime(lines: readonly LogLine[]): number | undefined {
  const i = lines.findIndex((l) => l.msg === 'installed the bridgeway plugin');
  return i > 0 ? lines[i]!.t - lines[i - 1]!.t : undefined;
}

function medianRun(runs: readonly RunResult[]): RunResult {
  return [...runs].sort((a, b) => a.wallMs! - b.wallMs!)[Math.floor((runs.length - 1) / 2)]!;
}

/** ms between consecutive log lines of a run, keyed by the line that ends the step. */
function logSteps(result: { lines: readonly LogLine[]; wallMs?: number }): Map<string, number> {
  const steps = new Map<string, number>();
  let previous = 0;
  for (const line of result.lines) {
    const key = line.msg.startsWith('using iptables-') ? 'using iptables-<mode>' : line.msg;
    steps.set(key, (steps.get(key) ?? 0) + line.t - previous);
    previous = line.t;
  }
  if (result.wallMs !== undefined) steps.set('(process exit)', result.wallMs - previous);
  return steps;
}

type SpawnRow = { heldMiB: number; medianMs: number };

const out = (text = '') => process.stdout.write(text + '\n');

/** Tables 1-6; returns its lines for the "Targets:" summary. */
function reportStandalone(options: Options, results: SizeResult[], steps: StepTiming[], spawns: SpawnRow[]): { failures: string[]; targets: string[] } {
  const failures: string[] = [];
  const targets: string[] = [];
  const all = (r: SizeResult) => [r.onceCold, ...r.onceWarm, r.longCold, r.longWarm, r.longStub, r.longWarmJson];
  for (const r of results) {
    for (const run of all(r)) for (const p of run.routeProblems) failures.push(`${r.size} nodes, ${run.install}: ${p}`);
  }

  out(`\nbridgeway-agent, standalone (--nodes-file), one node namespace per run; ${os.cpus().length} CPUs, 1-min load ${loadAtStart.toFixed(2)} at the start, ${os.loadavg()[0]!.toFixed(2)} at the end.`);
  out('cold = empty --cni-bin-dir (the agent copies the 111 MB plugin); warm = an identical copy is there; stub = a 1 KiB plugin;');
  out('warm JSON = warm, with the nodes file in JSON instead of YAML.\n');
  out('1. Convergence (ms from spawn). --once: to exit 0. Long-running: to the "routes changed" log line (routes are in the kernel) / to "wrote the CNI conflist" (ready).');
  out(table([
    ['nodes', 'routes', 'once cold', '(copy)', `once warm (med of ${options.onceRepeats})`, 'long cold', '(copy)', 'long warm', 'long stub', 'warm JSON', 'iptables -A'],
    ...results.map((r) => {
      const warm = r.onceWarm.map((w) => w.wallMs!);
      return [
        String(r.size),
        all(r).every((x) => x.routeProblems.length === 0) ? `${r.size - 1} ok` : 'WRONG',
        fmt(r.onceCold.wallMs), fmt(r.onceCold.installMs),
        `${fmt(percentile(warm, 50))} [${fmt(Math.min(...warm))}-${fmt(Math.max(...warm))}]`,
        `${fmt(r.longCold.routesMs)} / ${fmt(r.longCold.readyMs)}`, fmt(r.longCold.installMs),
        `${fmt(r.longWarm.routesMs)} / ${fmt(r.longWarm.readyMs)}`,
        `${fmt(r.longStub.routesMs)} / ${fmt(r.longStub.readyMs)}`,
        `${fmt(r.longWarmJson.routesMs)} / ${fmt(r.longWarmJson.readyMs)}`,
        [...new Set(all(r).map((x) => x.iptablesRules))].join('/'),
      ];
    }),
  ]));

  const withChanges = results.filter((r) => r.longWarm.changes.length > 0);
  if (withChanges.length) {
    out(`\n2. One node's eth1IP changed (atomic rename of the nodes file; ms from the rename; ${options.changes} changes; --resync 10m). Target: < ${CHANGE_TARGET_MS} ms.`);
    out('   warm = the real plugin, already installed; stub = a 1 KiB stand-in plugin; JSON = the nodes file in JSON (YAML otherwise).');
    out(table([
      ['nodes', 'plugin', 'kernel p50', 'kernel max', 'file loaded p50', 'logged p50', 'logged max'],
      ...withChanges.flatMap((r) => [r.longWarm, r.longStub, r.longWarmJson].filter((x) => x.changes.length).map((x) => {
        const c = x.changes;
        return [String(r.size), x.format === 'json' ? `${x.install}, JSON` : x.install, fmt(percentile(c.map((y) => y.kernelMs), 50)), fmt(Math.max(...c.map((y) => y.kernelMs))),
          fmt(percentile(c.map((y) => y.loadedMs), 50)), fmt(percentile(c.map((y) => y.loggedMs), 50)), fmt(Math.max(...c.map((y) => y.loggedMs)))];
      })),
    ]));
  }

  out(`\n3. Peak RSS of the agent process (VmHWM, MiB; --once polled every 5 ms). Target: < ${RSS_TARGET_MIB} MiB at 5,000 nodes.`);
  out(table([
    ['nodes', 'once cold', 'once warm', 'long cold', 'long warm', 'long stub', 'warm JSON', 'warm RSS after changes (anon+file)'],
    ...results.map((r) => [
      String(r.size), mib(r.onceCold.peak?.hwmKiB), mib(Math.max(...r.onceWarm.map((w) => w.peak?.hwmKiB ?? NaN))),
      mib(r.longCold.peak?.hwmKiB), mib(r.longWarm.peak?.hwmKiB), mib(r.longStub.peak?.hwmKiB), mib(r.longWarmJson.peak?.hwmKiB),
      (() => {
        const m = r.longWarm.afterChanges ?? r.longWarm.peak;
        return m ? `${mib(m.rssKiB)} (${mib(m.anonKiB)}+${mib(m.fileKiB)}), peak ${mib(m.hwmKiB)}` : '-';
      })(),
    ]),
  ]));

  out('\n4. Where the time goes, from the agent\'s log lines (ms since the previous line; --once runs: median warm run, and cold).');
  const columns = results.flatMap((r) => [{ label: `${r.size} warm`, steps: logSteps(medianRun(r.onceWarm)) }, { label: `${r.size} cold`, steps: logSteps(r.onceCold) }]);
  const keys = [...new Set(columns.flatMap((c) => [...c.steps.keys()]))];
  out(table([['step ending with the log line', ...columns.map((c) => c.label)], ...keys.map((k) => [k, ...columns.map((c) => fmt(c.steps.get(k)))])]));

  const biggest = Math.max(...options.sizes);
  out(`\n5. Each step alone at ${biggest} nodes (in-process: first call = cold JIT, then median; commands in a scratch node namespace).`);
  out(table([['step', 'first', 'median', 'note'], ...steps.map((s) => [s.step, fmt(s.firstMs), fmt(s.medianMs), s.note ?? ''])]));


  out('\n6. Spawning /bin/true from a Node process holding big buffers (libuv forks: the cost grows with the parent\'s memory; bench/agent-support/spawn-probe.ts).');
  out(table([['held MiB', 'spawn median ms'], ...spawns.map((s) => [s.heldMiB.toFixed(0), fmt(s.medianMs)])]));

  const big = results.find((r) => r.size === 5000) ?? results.at(-1)!;
  for (const r of withChanges) {
    const c = r.longWarm.changes.map((x) => x.kernelMs);
    const stub = r.longStub.changes.map((x) => x.kernelMs);
    const json = r.longWarmJson.changes.map((x) => x.kernelMs);
    const verdict = (samples: number[]) => (Math.max(...samples) < CHANGE_TARGET_MS ? 'met' : percentile(samples, 50) < CHANGE_TARGET_MS ? 'p50 met, max missed' : 'MISSED');
    targets.push(`change latency at ${r.size} nodes < ${CHANGE_TARGET_MS} ms: YAML nodes file p50 ${fmt(percentile(c, 50))}, max ${fmt(Math.max(...c))} -> ${verdict(c)}` +
      (json.length ? `; JSON nodes file p50 ${fmt(percentile(json, 50))}, max ${fmt(Math.max(...json))} -> ${verdict(json)}` : '') +
      (stub.length ? ` (stand-in plugin, YAML: p50 ${fmt(percentile(stub, 50))}, max ${fmt(Math.max(...stub))})` : ''));
  }
  const peaks = [big.onceCold.peak?.hwmKiB, ...big.onceWarm.map((w) => w.peak?.hwmKiB), big.longCold.peak?.hwmKiB, big.longWarm.peak?.hwmKiB].map((k) => k ?? NaN);
  const worst = Math.max(...peaks) / 1024;
  targets.push(`peak RSS at ${big.size} nodes < ${RSS_TARGET_MIB} MiB: worst ${worst.toFixed(0)} MiB with the real plugin, ${mib(big.longStub.peak?.hwmKiB)} MiB with the stand-in, ` +
    `${mib(big.longWarmJson.peak?.hwmKiB)} MiB with a JSON nodes file -> ${worst < RSS_TARGET_MIB ? 'met' : 'MISSED'}`);
  const rules = new Set(results.flatMap((r) => all(r).map((x) => x.iptablesRules)));
  targets.push(`iptables rules independent of N: ${[...rules].join(', ')} -> ${rules.size === 1 ? 'met' : 'MISSED'}`);
  targets.push(`routes exactly N-1 with the right gateways at every size: ${failures.length ? 'NO' : 'yes'}`);
  for (const f of failures) targets.push(`  ${f}`);
  return { failures, targets };
}

const verdict = (p50: number, max: number, target: number) => (max < target ? 'met' : p50 < target ? 'p50 met, max missed' : 'MISSED');
const kib = (bytes: number) => (bytes / 1024).toFixed(1);

/** Tables K1-K4 (Kubernetes mode); returns its lines for the "Targets:" summary. */
function reportKube(options: Options, results: KubeResult[]): { failures: string[]; targets: string[] } {
  const failures = results.flatMap((r) => r.routeProblems.map((p) => `kube, ${r.size} nodes: ${p}`));
  const targets: string[] = [];
  const avgNode = results.reduce((a, r) => a + r.nodeBytes * r.size, 0) / results.reduce((a, r) => a + r.size, 0);
  out(`\nbridgeway-agent, Kubernetes mode (--kubeconfig): the fake API server runs in the benchmark process and is relayed into the node namespace`);
  out(`(127.0.0.1:<port> -> Unix socket -> here); Nodes shaped like kubelet's (labels, annotations, managedFields, conditions, 25 images):`);
  out(`${kib(avgNode)} KiB of JSON per Node on average. Real plugin already installed (warm); --resync 10m. ${os.cpus().length} CPUs, 1-min load ${os.loadavg()[0]!.toFixed(2)} now.\n`);
  out('K1. Convergence (ms from spawn): to the "routes changed" log line (routes are in the kernel) / to "wrote the CNI conflist" (ready).');
  out('    CPU time from spawn to ready: the agent\'s, and the benchmark process\'s (the fake API server encoding the list, our end of the relay),');
  out('    which competes with the agent for the same CPUs (a real API server runs elsewhere).');
  out(table([
    ['nodes', 'routes', 'KiB per Node', 'list MiB', 'routes changed', 'conflist', 'agent CPU ms', 'bench CPU ms', 'iptables -A'],
    ...results.map((r) => [String(r.size), r.routeProblems.length ? 'WRONG' : `${r.size - 1} ok`, kib(r.nodeBytes), (r.listBytes / 1048576).toFixed(1),
      fmt(r.routesMs), fmt(r.readyMs), r.agentCpuMs === undefined ? '-' : r.agentCpuMs.toFixed(0), r.benchCpuMs.toFixed(0), String(r.iptablesRules)]),
  ]));
  const withChanges = results.filter((r) => r.changes.length);
  if (withChanges.length) {
    out(`\nK2. One Node's ${ETH1_ANNOTATION} changed (the fake API server writes the MODIFIED watch event; ms from just before that; ${options.changes} changes). Target: < ${CHANGE_TARGET_MS} ms.`);
    out(table([
      ['nodes', 'kernel p50', 'kernel max', 'logged p50', 'logged max', `syncs for ${options.changes} changes`],
      ...withChanges.map((r) => {
        const k = r.changes.map((c) => c.kernelMs);
        const l = r.changes.map((c) => c.loggedMs);
        return [String(r.size), fmt(percentile(k, 50)), fmt(Math.max(...k)), fmt(percentile(l, 50)), fmt(Math.max(...l)), r.changeSyncs === undefined ? '-' : String(r.changeSyncs)];
      }),
    ]));
  }
  out(`\nK3. Memory of the agent process (MiB). Target: < ${RSS_TARGET_MIB} MiB at 5,000 nodes.`);
  const rss = (m: MemoryStatus | undefined) => (m ? `${mib(m.rssKiB)} (${mib(m.anonKiB)}+${mib(m.fileKiB)})` : '-');
  out(table([
    ['nodes', 'peak at convergence (VmHWM)', 'RSS after the changes (anon+file)', 'RSS after the status updates', 'peak overall (VmHWM)'],
    ...results.map((r) => [String(r.size), mib(r.peak?.hwmKiB), rss(r.afterChanges), rss(r.afterNoise), mib((r.afterNoise ?? r.afterChanges ?? r.peak)?.hwmKiB)]),
  ]));
  const withNoise = results.filter((r) => r.noise.updates);
  if (withNoise.length) {
    out(`\nK4. Status-only updates (kubelet heartbeats: every condition's lastHeartbeatTime; image pulls: status.images), alternating, 300 ms apart, one Node each.`);
    out('   Nothing routable changes: ideally no sync. syncs = bridgeway_syncs_total from the agent\'s /metrics, after minus before.');
    out(table([
      ['nodes', 'updates', 'syncs caused', '"routes changed" logged', 'agent log lines', 'agent CPU ms'],
      ...withNoise.map((r) => [String(r.size), String(r.noise.updates), r.noise.syncs === undefined ? '? (/metrics unreachable)' : String(r.noise.syncs),
        String(r.noise.routesLogged), String(r.noise.logLines), r.noise.cpuMs === undefined ? '-' : r.noise.cpuMs.toFixed(0)]),
    ]));
  }

  out('\nK5. Where the start-up goes, from the agent\'s log lines up to "wrote the CNI conflist" (ms since the previous line). The Node list is fetched');
  out('    while the first lines are logged; "own podCIDR known" comes from the first sync that sees it.');
  const columns = results.map((r) => ({ label: `${r.size}`, steps: logSteps({ lines: r.lines.filter((l) => l.t <= r.readyMs) }) }));
  const keys = [...new Set(columns.flatMap((c) => [...c.steps.keys()]))];
  out(table([['step ending with the log line', ...columns.map((c) => c.label)], ...keys.map((k) => [k, ...columns.map((c) => fmt(c.steps.get(k)))])]));

  for (const r of results) {
    targets.push(`kube: ${r.size} nodes converge in < ${CONVERGE_TARGET_MS} ms: ${fmt(r.routesMs)} ms to the routes, ${fmt(r.readyMs)} ms to ready -> ${r.readyMs < CONVERGE_TARGET_MS ? 'met' : 'MISSED'}`);
  }
  for (const r of withChanges) {
    const k = r.changes.map((c) => c.kernelMs);
    targets.push(`kube: change latency at ${r.size} nodes < ${CHANGE_TARGET_MS} ms: p50 ${fmt(percentile(k, 50))}, max ${fmt(Math.max(...k))} -> ${verdict(percentile(k, 50), Math.max(...k), CHANGE_TARGET_MS)}`);
  }
  const big = results.find((r) => r.size === 5000) ?? results.at(-1)!;
  const peakMiB = ((big.afterNoise ?? big.afterChanges ?? big.peak)?.hwmKiB ?? NaN) / 1024;
  const after = big.afterNoise ?? big.afterChanges;
  targets.push(`kube: RSS at ${big.size} nodes < ${RSS_TARGET_MIB} MiB: peak ${peakMiB.toFixed(0)} MiB (at convergence ${mib(big.peak?.hwmKiB)}), ` +
    `${after ? `${mib(after.rssKiB)} MiB after the updates` : 'no updates run'} -> ${peakMiB < RSS_TARGET_MIB ? 'met' : 'MISSED'}`);
  for (const r of withNoise) {
    targets.push(`kube: syncs caused by ${r.noise.updates} status-only updates at ${r.size} nodes: ${r.noise.syncs ?? '? (/metrics unreachable)'}` +
      ` (${r.noise.routesLogged} "routes changed"; ideally 0 syncs)` + (r.changeSyncs !== undefined ? `; ${r.changeSyncs} for ${r.changes.length} eth1-ip changes` : ''));
  }
  targets.push(`kube: routes exactly N-1 with the right gateways at every size: ${failures.length ? 'NO' : 'yes'}`);
  for (const f of failures) targets.push(`  ${f}`);
  return { failures, targets };
}

const loadAtStart = os.loadavg()[0]!;

async function main(): Promise<number> {
  const options = parseOptions();
  if (process.getuid?.() !== 0) {
    process.stderr.write('bench:agent needs root (network namespaces, routes and iptables inside them)\n');
    return 1;
  }
  ensureBuilt();
  const started = performance.now();
  const lab = await AgentLab.create();
  const onSignal = (signal: NodeJS.Signals) => {
    process.stderr.write(`\n${signal}: removing ${lab.prefix}-* namespaces and ${lab.dir}\n`);
    lab.cleanup();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const bench = new Bench(lab);
    const failures: string[] = [];
    const targets: string[] = [];
    if (options.modes.includes('standalone')) {
      const results: SizeResult[] = [];
      for (const size of options.sizes) {
        process.stderr.write(`${size} nodes: --once cold, ${options.onceRepeats}x warm; long-running cold, warm, stub and warm with a JSON file (+${options.changes} changes each) ...\n`);
        results.push(await bench.size(size, options));
      }
      process.stderr.write('timing each step alone, and the installer ...\n');
      const steps = await syncSteps(lab, Math.max(...options.sizes), bench.agent);
      const spawns = JSON.parse((await run([process.execPath, SPAWN_PROBE])).stdout) as SpawnRow[];
      const standalone = reportStandalone(options, results, steps, spawns);
      failures.push(...standalone.failures);
      targets.push(...standalone.targets);
    }
    if (options.modes.includes('kube')) {
      const results: KubeResult[] = [];
      for (const size of options.sizes) {
        process.stderr.write(`${size} nodes, Kubernetes mode: long-running warm (+${options.changes} changes, +${options.changes} status-only updates) ...\n`);
        results.push(await bench.kube(clusterOf(size), options.changes));
      }
      const kube = reportKube(options, results);
      failures.push(...kube.failures);
      targets.push(...kube.targets);
    }
    out('\nTargets:');
    for (const line of targets) out(`  ${line}`);
    out(`\n(${((performance.now() - started) / 1000).toFixed(0)} s)`);
    return failures.length ? 1 : 0;
  } finally {
    for (const problem of lab.cleanup()) process.stderr.write(`cleanup: ${problem}\n`);
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`bench:agent: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
