// Issue 17's data-plane target, anti-spoofing on >= 0.97x off (also with 250 other attachments'
// elements in the table), measured so that the drift of a shared 2-CPU machine can neither fake
// nor hide 3%. What did not resolve it: the three variants in three clusters, compared by the
// medians of separate 3 s iperf3 runs (two runs moved the same ratio by up to 8%), nor by the
// per-round ratios of 2 s runs taking turns in rotating order (9 rounds under a load of 2-4:
// round ratios 0.6-1.7x): throughput on veth is CPU-bound, and the share of the CPUs other
// sessions leave changes within seconds.
// So, first, the three states take turns on ONE path and ONE running TCP connection, a second
// apart:
//   off   the table without its base chain: no hook in the bridge's prerouting, so frames pass
//         the bridge exactly as on a node whose pods all have "antiSpoofing": false (the sets
//         stay, but nothing looks them up);
//   on    as deployed: the base chain, the pods' own elements;
//   many  on, plus 250 other attachments' elements (1,500 more, over the six sets);
// switched with one `nft -f` per node (the path's data is judged on the sender's node, its ACKs
// on the receiver's), in an order rotated every round (off-on-many, on-many-off, many-off-on,
// ...), so each state comes first, middle and last equally often. Each window: switch, let TCP
// settle, then count the bytes the receiving pod's eth0 received (/proc/<iperf3 server>/net/dev:
// a file read, no process) over a fixed time, and the CPU time both iperf3 processes ran
// (/proc/<pid>/task/*/schedstat, ns). On this kernel (no CONFIG_IRQ_TIME_ACCOUNTING) softirq work
// is charged to the task it runs in, and a veth path runs its whole packet path (both bridges,
// routing, the switch) in the softirq of the sending task: bytes per CPU-second is what a
// CPU-bound path's throughput is at equal CPU, whatever share others leave. The figures are the
// ratios within each round and their median over the rounds with the spread (IQR and range).
// RTT the same way, without iperf3: each window one ping series.
// Second, where `perf` is installed, the filter's own cost: the share of the flow's CPU samples
// (perf record -p <both iperf3>, cpu-clock, call graphs) that fall in nft_do_chain_bridge, i.e.
// in our table's chains (the only bridge-family table on the node). Numerator and denominator
// are the same samples, so the share hardly moves with the CPU others leave (it does with their
// cache pressure: 1.3-2.2% between runs). At equal CPU, throughput with the filter is (1 - that
// share) of throughput without it; what it cannot see is a cost the filter causes elsewhere
// (cache lines it evicts), which the interleaved per-CPU ratios would. On a loaded machine those
// still spread by several percent; the profile resolves 3%, so the targets are judged on it when
// it is there.
import fs from 'node:fs';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { renderElements, renderTable } from '../../lib/antispoof/nft-text.ts';
import { ANTISPOOF_SETS, antispoofRuleset } from '../../lib/antispoof/ruleset.ts';
import type { SimNode } from '../../test/support/cluster.ts';
import { run } from '../../test/support/exec-in.ts';
import type { Lab } from '../support/lab.ts';
import { median, ratio, spread, ratioSpread, table, type Spread } from '../support/stats.ts';
import { otherAttachments, type Fabric } from './fabrics.ts';
import { IPERF3, pingTimes, type Endpoint } from './measure.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export const PERF = '/usr/bin/perf';
/** Seconds of perf record per state and path. */
export const PROFILE_SECONDS = 8;

/**
 * The shares of the CPU samples of `pids` (1,000 a second while they run, over `seconds`) with
 * each of `symbols` (kernel functions) on the call stack: perf report's "Children" column for
 * them, 0 for one no sample was in. Also bench:policy's profile (its table is inet family).
 */
export async function profileShares(lab: Lab, pids: readonly number[], label: string, symbols: readonly string[], seconds = PROFILE_SECONDS): Promise<number[]> {
  const data = path.join(lab.dir, `perf-${label.replace(/\W+/g, '-')}.data`);
  // Without a workload perf records until SIGINT; tracked by the lab, so an interrupted run
  // leaves no perf behind.
  const perf = spawn(PERF, ['record', '-q', '-e', 'cpu-clock', '-F', '1000', '-g', '-p', pids.join(','), '-o', data], { stdio: ['ignore', 'ignore', 'pipe'] });
  lab.track(perf);
  let stderr = '';
  perf.stderr!.on('data', (chunk) => (stderr += chunk));
  const exited = once(perf, 'exit');
  await sleep(seconds * 1000);
  perf.kill('SIGINT');
  // perf writes its file on SIGINT and then dies of it: that is success.
  const [code, signal] = await exited;
  if (code !== 0 && signal !== 'SIGINT') throw new Error(`perf record -p ${pids.join(',')} failed (${code ?? signal}): ${stderr}`);
  const { stdout } = await run([PERF, 'report', '-i', data, '--stdio', '--children', '--sort', 'sym', '-g', 'none'], { timeoutMs: 120_000 });
  fs.rmSync(data, { force: true });
  // `     1.84%     0.07%  [k] nft_do_chain_bridge`; absent: no sample in it.
  return symbols.map((symbol) => {
    const line = new RegExp(`^\\s*([\\d.]+)%\\s+[\\d.]+%\\s+\\[k\\] ${symbol}\\s*$`, 'm').exec(stdout);
    return line ? Number(line[1]) / 100 : 0;
  });
}

/** The share of the CPU samples of `pids` in our table's chains (nft_do_chain_bridge). */
async function filterShare(lab: Lab, pids: readonly number[], label: string): Promise<number> {
  return (await profileShares(lab, pids, label, ['nft_do_chain_bridge']))[0]!;
}

export type State = 'off' | 'on' | 'many';
export const STATES: readonly State[] = ['off', 'on', 'many'];

export interface AbOptions {
  rounds: number;
  /** Seconds each state is measured per round (after SETTLE_MS). */
  window: number;
  /** Pings per state and round (10 ms apart). */
  pings: number;
}

/** After a switch, before counting: the nft process's CPU and TCP's reaction to it are over. */
export const SETTLE_MS = 300;
/** Before the first window, once data flows: the connection past slow start. */
const WARM_UP_MS = 1500;

/** The order of round `round` (0-based): the list rotated left by `round`. */
export function rotation<T>(items: readonly T[], round: number): T[] {
  const shift = round % items.length;
  return [...items.slice(shift), ...items.slice(0, shift)];
}

/** Round by round `a[i] / b[i]`: each ratio of two figures measured a second apart. */
export function roundRatios(a: readonly number[], b: readonly number[]): number[] {
  if (a.length !== b.length) throw new Error(`roundRatios: ${a.length} against ${b.length} rounds`);
  return a.map((value, i) => value / b[i]!);
}

/** Switches the anti-spoofing table of every node between the states; starts at `on` (as ADD left it). */
export class FilterSwitch {
  private current: State = 'on';
  private readonly addChain: string;
  private readonly deleteChain: string;
  private readonly others: Map<SimNode, string>;
  private readonly removeOthers: Map<SimNode, string>;
  private readonly nodes: readonly SimNode[];

  constructor(nodes: readonly SimNode[], othersCount: number) {
    this.nodes = nodes;
    const ruleset = antispoofRuleset();
    const base = ruleset.chains.find((chain) => chain.hook)!;
    // A table block naming only the chain adds it (and its rules) to the existing table.
    this.addChain = renderTable({ ...ruleset, sets: [], chains: [base] });
    this.deleteChain = `delete chain ${ruleset.family} ${ruleset.table} ${base.name}\n`;
    this.others = new Map(nodes.map((node) => [node, renderElements(ANTISPOOF_SETS, 'add', otherAttachments(node, othersCount))]));
    this.removeOthers = new Map(nodes.map((node) => [node, renderElements(ANTISPOOF_SETS, 'delete', otherAttachments(node, othersCount))]));
  }

  async set(next: State): Promise<void> {
    if (next === this.current) return;
    const [chainNow, chainNext] = [this.current !== 'off', next !== 'off'];
    const [othersNow, othersNext] = [this.current === 'many', next === 'many'];
    await Promise.all(this.nodes.map((node) => {
      const text = (chainNow && !chainNext ? this.deleteChain : '') + (!chainNow && chainNext ? this.addChain : '')
        + (othersNext && !othersNow ? this.others.get(node)! : '') + (othersNow && !othersNext ? this.removeOthers.get(node)! : '');
      return run(['nsenter', `--net=${node.path}`, '--', 'nft', '-f', '-'], { input: text });
    }));
    this.current = next;
  }
}

/** Bytes received on eth0 in the network namespace of process `pid` (/proc/<pid>/net/dev). */
function receivedBytes(pid: number): number {
  const line = fs.readFileSync(`/proc/${pid}/net/dev`, 'utf8').split('\n').find((l) => l.trim().startsWith('eth0:'));
  if (!line) throw new Error(`no eth0 in /proc/${pid}/net/dev`);
  return Number(line.split(':')[1]!.trim().split(/\s+/)[0]);
}

/** CPU time in ns the process has run, all its threads (the first field of schedstat: sum_exec_runtime). */
function cpuNs(pid: number): number {
  let total = 0;
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) total += Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
  return total;
}

const inNetns = (netns: string, argv: string[]) => ['--net=' + netns, '--', ...argv];

/** What a running stream can be asked: bytes the receiver got, CPU ns both processes have run, their pids. */
export interface StreamCounters {
  received: () => number;
  cpu: () => number;
  pids: readonly number[];
}

/**
 * One iperf3 connection (`streams` parallel TCP streams) from `from` to `to` running for the
 * whole of `fn`. Both processes belong to the lab (an interrupted bench kills them) and are
 * killed when `fn` ends.
 */
export async function withStream<T>(lab: Lab, from: Endpoint, to: Endpoint, streams: number, seconds: number, fn: (counters: StreamCounters) => Promise<T>): Promise<T> {
  const started: ChildProcess[] = [];
  const start = (argv: string[]) => {
    // nsenter execs in place: the child's pid is iperf3's, in the pod's network namespace.
    const child = spawn('nsenter', argv, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (chunk) => (stderr += chunk));
    lab.track(child);
    started.push(child);
    return { child, stderr: () => stderr };
  };
  try {
    const server = start(inNetns(to.netns, [IPERF3, '-s', '-1', '-B', to.ip, '-p', '5202']));
    const received = () => receivedBytes(server.child.pid!);
    const client = async () => {
      const deadline = Date.now() + 30_000;
      const before = received();
      let next = start(clientArgv);
      for (;;) {
        await sleep(100);
        const exited = next.child.exitCode !== null || next.child.signalCode !== null;
        // Data flows: a megabyte is more than ARP and ND could bring.
        if (!exited && received() > before + 1e6) return next.child;
        if (Date.now() > deadline) throw new Error(`iperf3 ${from.ip} -> ${to.ip} does not run: ${next.stderr()} ${server.stderr()}`);
        // The server may not listen yet: a refused client exits at once, and is started again;
        // one that is connecting is waited for (a second one would find the server busy).
        if (exited) next = start(clientArgv);
      }
    };
    const clientArgv = inNetns(from.netns, [IPERF3, '-c', to.ip, '-p', '5202', '-t', String(seconds), '-P', String(streams)]);
    const running = await client();
    await sleep(WARM_UP_MS);
    const pids = [running.pid!, server.child.pid!];
    return await fn({ received, cpu: () => pids.reduce((sum, pid) => sum + cpuNs(pid), 0), pids });
  } finally {
    for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await Promise.all(started.map((child) => (child.exitCode === null && child.signalCode === null ? once(child, 'exit') : undefined)));
  }
}

/** One figure a measure reports per state and round. */
interface Metric {
  name: string;
  unit: 'Gbit/s' | 'Gbit per CPU-s' | 'ms';
  /** Throughput metrics: the path the target is judged for. */
  path?: string;
}

interface Measure {
  metrics: Metric[];
  /** Runs the rounds; per metric, per state, one figure per round; and the profile, when taken. */
  run: (filter: FilterSwitch, options: AbOptions, progress: (line: string) => void) => Promise<{ samples: AbSamples; profile?: Profile }>;
}

/** Per metric, per state: one figure per round, in round order. */
export type AbSamples = Map<string, Map<State, number[]>>;

/** Per path: the filter's share of the flow's CPU in the states that have it. */
export interface Profile {
  path: string;
  on: number;
  many: number;
}

/** Anything with states to switch between: the anti-spoofing tables here, the policy table in bench:policy. */
export interface Switch<S extends string> {
  set(state: S): Promise<void>;
}

/**
 * `rounds` rounds of `states` in rotated order; `sample` gives each window's figures by metric.
 * Per metric name, per state: one figure per round.
 */
export async function interleave<S extends string>(filter: Switch<S>, states: readonly S[], rounds: number, metrics: readonly { name: string }[], sample: () => Promise<number[]>): Promise<Map<string, Map<S, number[]>>> {
  const samples = new Map(metrics.map((m) => [m.name, new Map(states.map((s) => [s, [] as number[]]))]));
  for (let round = 0; round < rounds; round++) {
    for (const state of rotation(states, round)) {
      await filter.set(state);
      await sleep(SETTLE_MS);
      const figures = await sample();
      metrics.forEach((m, i) => samples.get(m.name)!.get(state)!.push(figures[i]!));
    }
  }
  return samples;
}

/** `rounds` rounds of the three states in rotated order; `sample` gives each window's figures by metric. */
function rounds(filter: FilterSwitch, options: AbOptions, metrics: readonly Metric[], sample: () => Promise<number[]>): Promise<AbSamples> {
  return interleave(filter, STATES, options.rounds, metrics, sample);
}

/** Bits a running stream delivered per CPU-second of both its processes, and per second, over `seconds`. */
export async function streamWindow({ received, cpu }: StreamCounters, seconds: number): Promise<[perCpuSecond: number, perSecond: number]> {
  const [bytes0, cpu0, t0] = [received(), cpu(), process.hrtime.bigint()];
  await sleep(seconds * 1000);
  const [bytes1, cpu1, t1] = [received(), cpu(), process.hrtime.bigint()];
  const gbits = ((bytes1 - bytes0) * 8) / 1e9;
  return [gbits / ((cpu1 - cpu0) / 1e9), gbits / (Number(t1 - t0) / 1e9)];
}

function throughputMeasure(lab: Lab, name: string, from: Endpoint, to: Endpoint, profile: boolean): Measure {
  const metrics: Metric[] = [
    { name: `${name}, per CPU-second`, unit: 'Gbit per CPU-s', path: name },
    { name, unit: 'Gbit/s', path: name },
  ];
  return {
    metrics,
    run: (filter, options, progress) => {
      progress(`anti-spoofing rounds: ${name}, ${options.rounds} rounds of ${STATES.length} windows of ${options.window} s on one connection${profile ? ', then perf' : ''}`);
      // Long enough for every window and the profiles, with room for the switches.
      const seconds = Math.ceil(options.rounds * STATES.length * (options.window + SETTLE_MS / 1000 + 1)) + 4 * PROFILE_SECONDS + 60;
      return withStream(lab, from, to, 1, seconds, async (counters) => {
        const { pids } = counters;
        const samples = await rounds(filter, options, metrics, () => streamWindow(counters, options.window));
        if (!profile) return { samples };
        const share = async (state: State) => {
          await filter.set(state);
          await sleep(SETTLE_MS);
          return filterShare(lab, pids, `${name} ${state}`);
        };
        return { samples, profile: { path: name, on: await share('on'), many: await share('many') } };
      });
    },
  };
}

function rttMeasure(name: string, from: Endpoint, to: Endpoint): Measure {
  const metrics: Metric[] = [{ name, unit: 'ms' }];
  return {
    metrics,
    run: async (filter, options, progress) => {
      progress(`anti-spoofing rounds: ${name}, ${options.rounds} rounds of ${STATES.length} series of ${options.pings} pings`);
      return { samples: await rounds(filter, options, metrics, async () => [median(await pingTimes(from, to, options.pings))]) };
    },
  };
}

/**
 * Every measure in turn, each with its own rounds of the three states; the table is left as ADD
 * made it (on) whatever happens, so a failure leaves the cluster as it found it. Pod -> pod with
 * one TCP stream: iperf3 3.12 serves every stream from one process, so more streams change
 * nothing the filter sees per packet (the main table has 4 streams).
 */
export async function runAb(lab: Lab, fabric: Fabric, othersCount: number, options: AbOptions, progress: (line: string) => void): Promise<AbResults> {
  if (!fabric.neighbour) throw new Error(`${fabric.name}: no second pod on the first node`);
  const [a, b] = fabric.pods;
  const profile = fs.existsSync(PERF);
  if (!profile) progress(`${PERF} is missing: the filter's share of the flow's CPU is not profiled (apt-get install linux-perf)`);
  const list = [
    rttMeasure('across nodes, RTT p50', a, b),
    rttMeasure('on one node, RTT p50', a, fabric.neighbour),
    throughputMeasure(lab, 'across nodes, 1 stream', a, b, profile),
    throughputMeasure(lab, 'on one node, 1 stream', a, fabric.neighbour, profile),
  ];
  const filter = new FilterSwitch(fabric.cluster.nodes, othersCount);
  const samples: AbSamples = new Map();
  const profiles: Profile[] = [];
  try {
    for (const measure of list) {
      const result = await measure.run(filter, options, progress);
      for (const [name, figures] of result.samples) samples.set(name, figures);
      if (result.profile) profiles.push(result.profile);
    }
  } finally {
    await filter.set('on');
  }
  return { samples, metrics: list.flatMap((m) => m.metrics), profiles };
}

export interface AbResults {
  samples: AbSamples;
  metrics: Metric[];
  profiles: Profile[];
}

export interface AbTarget {
  name: string;
  met: boolean;
  /** What it is judged on: the profile when taken, else the interleaved per-CPU-second ratio. */
  judged: string;
  /** The other figures for the same target. */
  also: string;
}

const LABEL: Record<State, string> = { off: 'off', on: 'on', many: 'on + 250' };
const x3 = (v: number) => `${v.toFixed(3)}x`;
const iqr = (s: Spread) => `${ratio(s.median)} (IQR ${s.q1.toFixed(2)}-${s.q3.toFixed(2)})`;

/**
 * The report: per metric the states' medians (for scale), every round's ratio to off and their
 * median with its spread, the profile; then the targets (on and on + 250 >= 0.97x off, per path).
 */
export function reportAb({ samples, metrics, profiles }: AbResults, options: AbOptions, othersCount: number): AbTarget[] {
  console.log(`\nanti-spoofing on vs off (issue 17), interleaved on one path: ${options.rounds} rounds; in each, the three states of the nodes' tables a second apart, the order rotated every round`);
  console.log(`(off: the table without its base chain, as with "antiSpoofing": false; on: as deployed; on + 250: on, with ${othersCount} other attachments' elements in each node's table)`);
  console.log(`throughput: bytes received in ${options.window} s windows of one iperf3 TCP connection per path, ${SETTLE_MS} ms after each switch, per second and per CPU-second both iperf3 processes ran`);
  console.log(`RTT: p50 of ${options.pings} pings 10 ms apart; ratios: state / off within each round\n`);
  const medians = metrics.map((m) => {
    const s = samples.get(m.name)!;
    return [`${m.name} (${m.unit})`, ...STATES.map((k) => median(s.get(k)!).toFixed(m.unit === 'ms' ? 3 : 2))];
  });
  console.log(table([['medians over the rounds', ...STATES.map((k) => LABEL[k])], ...medians], ['left']));

  const ratios = new Map<string, Spread>();
  const rows: string[][] = [];
  for (const m of metrics) {
    const s = samples.get(m.name)!;
    for (const key of ['on', 'many'] as const) {
      const perRound = roundRatios(s.get(key)!, s.get('off')!);
      const summary = spread(perRound);
      ratios.set(`${m.name}|${key}`, summary);
      rows.push([`${m.name}, ${LABEL[key]} / off`, perRound.map((r) => r.toFixed(2)).join(' '), ratioSpread(summary)]);
    }
  }
  console.log(`\n${table([['ratio', 'round by round', 'median (spread)'], ...rows], ['left', 'left', 'left'])}`);

  if (profiles.length > 0) {
    console.log(`\nthe filter's share of the flow's CPU (perf record -p <both iperf3>, cpu-clock, ${PROFILE_SECONDS} s per state: samples in nft_do_chain_bridge), and throughput at equal CPU`);
    console.log(table([['path', 'on', 'on + 250', 'on / off', 'on + 250 / off'],
      ...profiles.map((p) => [p.path, `${(p.on * 100).toFixed(2)}%`, `${(p.many * 100).toFixed(2)}%`, x3(1 - p.on), x3(1 - p.many)])], ['left']));
  }

  const targets: AbTarget[] = [];
  for (const m of metrics.filter((metric) => metric.path && metric.unit === 'Gbit/s')) {
    const path = m.path!;
    const profile = profiles.find((p) => p.path === path);
    for (const key of ['on', 'many'] as const) {
      const perCpu = ratios.get(`${path}, per CPU-second|${key}`)!;
      const raw = ratios.get(`${path}|${key}`)!;
      const interleaved = `interleaved: per CPU-s ${iqr(perCpu)}, raw ${iqr(raw)}`;
      const name = `anti-spoofing ${LABEL[key]}, ${path} >= 0.97x off`;
      targets.push(profile
        ? { name, met: 1 - profile[key] >= 0.97, judged: `profile ${x3(1 - profile[key])}`, also: interleaved }
        : { name, met: perCpu.median >= 0.97, judged: `per CPU-s ${iqr(perCpu)}`, also: `raw ${iqr(raw)}` });
    }
  }
  return targets;
}

export function printAbTargets(targets: readonly AbTarget[]): void {
  for (const t of targets) console.log(`  ${t.met ? 'PASS' : 'MISS'}  ${t.name.padEnd(58)} ${t.judged}; ${t.also}`);
}
