// npm run bench:cni — bridgeway (dist/bridgeway) against the reference plugins (bridge +
// host-local), side by side: N pods through ADD, CHECK (prevResult = the ADD result) and DEL at
// each concurrency, every process exec'd as a runtime does (config on stdin, only CNI_* in the
// environment) inside a throw-away "node" namespace. Also times the start-up floor (an executable
// built like the plugin that only exits), checks the spec'd targets, and shows where our time goes.
// bridgeway also runs with "antiSpoofing": false in the same rounds: ADD p50 with and without;
// and, where Open vSwitch is installed, with "bridgeType": "ovs" (bench/support/ovs.ts).
// A benchmark, not a test: exits 0 whether targets are met or missed, 1 when anything failed.
// Options: --pods N (BENCH_PODS, 100), --concurrency 1,8 (BENCH_CONCURRENCY),
//          --samples N (BENCH_SAMPLES, 20: runs of each breakdown probe),
//          --traces N (BENCH_TRACES, 3: strace'd ADD/CHECK/DEL cycles per plugin; 0 skips them),
//          --baseline FILE (BENCH_BASELINE: another bridgeway build in the same rounds, and its
//          VERSION start-up interleaved with ours: what a change to the executable costs).
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { bunBinary, buildBunExecutable } from '../scripts/bun.ts';
import { IP, killAll, NSENTER, stopAll, STRACE, timeRepeatedly, type Timings } from './support/exec.ts';
import { Lab, runInLab } from './support/lab.ts';
import { bridgeway, cniInvocation, CNI_PATH, inNode, MAX_PODS, negotiateVersion, reference, REFERENCE_BRIDGE, WITHOUT_ANTISPOOFING, withoutAntiSpoofing, type PluginUnderTest } from './support/plugins.ts';
import { runProbes } from './support/probes.ts';
import { loadAverage, printAntiSpoofingCost, printBaseline, printFloor, printHeader, printProbes, printRounds, printTargets, printTimelines, targets } from './support/report.ts';
import { runRounds, type Contender, type Round } from './support/rounds.ts';
import { dualStack } from './support/dual-stack.ts';
import { traceCycles } from './support/trace.ts';
import { idleCpuRate, onOvs, printOvsCost, processesCpuMs, type DaemonCpu } from './support/ovs.ts';
import { ovsMissing } from '../test/support/ovs.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const OURS = path.join(ROOT, 'dist/bridgeway');
const FLOOR_ENTRY = path.join(ROOT, 'bench/floor.ts');
const FLOOR = path.join(ROOT, 'bench/.work/floor');
const WARMUP_PODS = 3;
const BASELINE = 'bridgeway-baseline'; // also part of the container IDs: no spaces

/** VERSION through the same wrapper as the rounds, the two executables alternating. */
async function versionInterleaved(count: number, ours: PluginUnderTest, baseline: PluginUnderTest): Promise<{ ours: Timings; baseline: Timings }> {
  const make = (plugin: PluginUnderTest) => () => cniInvocation(plugin, 'VERSION');
  const samples = { ours: [] as number[], baseline: [] as number[] };
  const cpu = { ours: 0, baseline: 0 };
  for (let i = 0; i < count; i++) {
    for (const [key, plugin] of [['ours', ours], ['baseline', baseline]] as const) {
      const t = await timeRepeatedly(1, make(plugin));
      samples[key].push(...t.samples);
      cpu[key] += t.cpuMs;
    }
  }
  return { ours: { samples: samples.ours, cpuMs: cpu.ours / count }, baseline: { samples: samples.baseline, cpuMs: cpu.baseline / count } };
}

interface Options {
  baseline?: string;
  pods: number;
  concurrency: number[];
  samples: number;
  traces: number;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: { pods: { type: 'string' }, concurrency: { type: 'string' }, samples: { type: 'string' }, traces: { type: 'string' }, baseline: { type: 'string' } },
  });
  const int = (text: string, name: string, min: number, max: number): number => {
    const value = Number(text);
    if (!Number.isInteger(value) || value < min || value > max) throw new Error(`${name} must be an integer from ${min} to ${max}, got ${text}`);
    return value;
  };
  const pods = int(values.pods ?? process.env.BENCH_PODS ?? '100', 'pods', WARMUP_PODS, MAX_PODS);
  const baseline = values.baseline ?? process.env.BENCH_BASELINE;
  if (baseline && !fs.existsSync(baseline)) throw new Error(`--baseline ${baseline} does not exist`);
  return {
    ...(baseline && { baseline: path.resolve(baseline) }),
    pods,
    concurrency: (values.concurrency ?? process.env.BENCH_CONCURRENCY ?? '1,8').split(',').map((c) => int(c, 'concurrency', 1, 64)),
    samples: int(values.samples ?? process.env.BENCH_SAMPLES ?? '20', 'samples', 1, 1000),
    traces: int(values.traces ?? process.env.BENCH_TRACES ?? '3', 'traces', 0, pods),
  };
}

function preflight(): void {
  if (process.getuid?.() !== 0) throw new Error('the benchmark creates network namespaces: run it as root');
  if (!fs.existsSync(OURS)) throw new Error(`${OURS} is missing: run npm run build first`);
  for (const file of [REFERENCE_BRIDGE, `${CNI_PATH}/host-local`, NSENTER, IP]) {
    if (!fs.existsSync(file)) throw new Error(`${file} is missing (apt-get install containernetworking-plugins iproute2 util-linux)`);
  }
}

/** The floor executable, rebuilt when its entry or the Bun binary is newer. */
async function ensureFloor(): Promise<string> {
  const built = fs.existsSync(FLOOR) ? fs.statSync(FLOOR).mtimeMs : 0;
  if (built < Math.max(fs.statSync(FLOOR_ENTRY).mtimeMs, fs.statSync(bunBinary()).mtimeMs)) {
    progress('building the floor executable (bench/.work/floor)');
    await buildBunExecutable({ entry: FLOOR_ENTRY, output: FLOOR });
  }
  return FLOOR;
}

function progress(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}

/** Namespaces for one plugin: its node, and one per pod. */
async function contender(lab: Lab, key: string, pods: number, make: (nodeNetns: string) => Promise<PluginUnderTest>): Promise<Contender> {
  const [node, ...podNames] = await lab.addNamespaces([`${key}-node`, ...Array.from({ length: pods }, (_, i) => `${key}-p${i}`)]);
  return { plugin: await make(lab.netnsPath(node!)), podNetns: podNames.map((name) => lab.netnsPath(name)) };
}

function firstPods(c: Contender, count: number): Contender {
  return { plugin: c.plugin, podNetns: c.podNetns.slice(0, count) };
}

async function run(options: Options, lab: Lab): Promise<void> {
  const floor = await ensureFloor();
  // A private copy: others may rebuild dist/ while the bench runs.
  const oursCopy = path.join(lab.dir, 'bridgeway');
  fs.copyFileSync(OURS, oursCopy);
  fs.chmodSync(oursCopy, 0o755);
  const ours = await contender(lab, 'ours', options.pods, async (node) => bridgeway(oursCopy, node, lab.subdir('ours')));
  const oursOff = await contender(lab, 'off', options.pods, async (node) => withoutAntiSpoofing(bridgeway(oursCopy, node, lab.subdir('off'))));
  const ref = await contender(lab, 'ref', options.pods, async (node) =>
    reference(node, lab.subdir('ref'), await negotiateVersion(REFERENCE_BRIDGE, node)),
  );
  // The baseline build under the plugin's name (the one executable picks its role by it).
  const baselineCopy = options.baseline && path.join(lab.subdir('baseline-bin'), 'bridgeway');
  if (options.baseline && baselineCopy) fs.copyFileSync(options.baseline, baselineCopy);
  if (baselineCopy) fs.chmodSync(baselineCopy, 0o755);
  const base = baselineCopy
    ? await contender(lab, 'base', options.pods, async (node) => ({ ...bridgeway(baselineCopy, node, lab.subdir('base')), label: BASELINE }))
    : undefined;
  // The OVS round, where Open vSwitch is installed (scripts/install-deps.sh).
  let ovsd: Awaited<ReturnType<typeof onOvs>>['ovs'] | undefined;
  const ovsLane = ovsMissing ? undefined : await contender(lab, 'ovs', options.pods, async (node) => {
    const made = await onOvs(lab, bridgeway(oursCopy, node, lab.subdir('ovsp')));
    ovsd = made.ovs;
    return made.plugin;
  });
  const ovsGuardLane = ovsMissing ? undefined : await contender(lab, 'ovsg', options.pods, async (node) => (await onOvs(lab, bridgeway(oursCopy, node, lab.subdir('ovsg')), { guarded: true })).plugin);
  if (ovsMissing) progress(`no OVS round: ${ovsMissing}`);
  const [scratch] = await lab.addNamespaces(['scratch']);
  printHeader({ ours: ours.plugin, oursSource: OURS, ref: ref.plugin, pods: options.pods, concurrency: options.concurrency });

  progress('warming up');
  // Also makes the anti-spoofing table in ours' node: the rounds time the steady state.
  const contenders = [ours, oursOff, ref, ...(base ? [base] : []), ...(ovsLane ? [ovsLane] : []), ...(ovsGuardLane ? [ovsGuardLane] : [])];
  await runRounds(contenders.map((c) => firstPods(c, WARMUP_PODS)), 1, 'warm');
  const ovsIdleRate = ovsd && (progress('OVS daemons at rest (5 s)'), await idleCpuRate(ovsd, 5));
  const ovsCpuBefore = ovsd && { cpu: processesCpuMs(ovsd.pids()), at: performance.now() };
  progress(`timing the floor (${options.pods} runs)`);
  const floorTimings = await timeRepeatedly(options.pods, () => ({ argv: inNode(ours.plugin.nodeNetns, [floor]), env: {} }));
  const rounds: Round[] = [];
  for (const c of options.concurrency) {
    progress(`${options.pods} pods per plugin, ADD -> CHECK -> DEL at concurrency ${c}`);
    rounds.push(...(await runRounds(contenders, c, `c${c}`)));
  }
  const daemons: DaemonCpu | undefined = ovsd && ovsCpuBefore && ovsIdleRate !== undefined
    ? { roundsMs: processesCpuMs(ovsd.pids()) - ovsCpuBefore.cpu, roundsSeconds: (performance.now() - ovsCpuBefore.at) / 1000, idleRate: ovsIdleRate, cycles: options.pods * options.concurrency.length }
    : undefined;
  progress(`dual-stack: ${options.pods} pods per plugin, ADD -> CHECK -> DEL at concurrency 1`);
  const oursDual = await contender(lab, 'ours6', options.pods, async (node) => dualStack(bridgeway(oursCopy, node, lab.subdir('ours6'))));
  const refDual = await contender(lab, 'ref6', options.pods, async (node) => dualStack(reference(node, lab.subdir('ref6'), ref.plugin.cniVersion)));
  const dualRounds = await runRounds([oursDual, refDual], 1, 'ds');
  printRounds(rounds, options.concurrency);
  printFloor(floorTimings);
  printTargets(targets(rounds, floorTimings));
  printAntiSpoofingCost(rounds, options.concurrency, WITHOUT_ANTISPOOFING);
  if (daemons) printOvsCost(rounds, options.concurrency, { guarded: 'bridgeway', unguarded: WITHOUT_ANTISPOOFING }, daemons);
  if (base && options.baseline) {
    progress(`VERSION, ours and the baseline interleaved (${options.pods * 2} runs each)`);
    const version = await versionInterleaved(options.pods * 2, ours.plugin, base.plugin);
    printBaseline(rounds, options.concurrency, BASELINE, version, options.baseline);
  }
  console.log(`\ndual-stack: one IPv4 and one IPv6 address per pod, both default routes (${options.pods} pods)`);
  printRounds(dualRounds, [1]);

  progress(`breakdown probes (${options.samples} runs each)`);
  const probes = await runProbes({ count: options.samples, floor, ours: ours.plugin, reference: ref.plugin, scratch: scratch!, scratchPath: lab.netnsPath(scratch!) });
  printProbes(probes, floorTimings);
  if (options.traces > 0 && fs.existsSync(STRACE)) {
    progress(`strace timelines (${options.traces} cycles per plugin)`);
    console.log(`\ntimelines under strace (execve only, seccomp-filtered), the median of ${options.traces}; strace inflates the totals: compare shapes`);
    for (const c of [ours, ref]) {
      printTimelines(c.plugin.label, await traceCycles(c.plugin, c.podNetns.slice(0, options.traces), path.join(lab.dir, 'trace')));
    }
  } else if (options.traces > 0) {
    console.log(`\ntimelines skipped: ${STRACE} is not installed`);
  }
  console.log(`\nload average at end: ${loadAverage()}`);
}

async function main(): Promise<void> {
  const options = parseOptions();
  preflight();
  const lab = new Lab();
  // Stop the plugins in flight before a signal's cleanup; killAll is the last resort on any exit.
  await runInLab(lab, () => run(options, lab), { report: progress, stop: stopAll, onExit: killAll });
}

main().catch((error: unknown) => {
  progress(`FAILED: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
