// The benchmark's report on stdout: the side-by-side table, throughput, the start-up floor, the
// spec'd targets as PASS/MISS lines, and the breakdown of where the time goes.
import fs from 'node:fs';
import os from 'node:os';
import { execFileSync } from 'node:child_process';
import type { Timings } from './exec.ts';
import type { PluginUnderTest } from './plugins.ts';
import type { Probe } from './probes.ts';
import { chunkSize, PHASES, podsPerSecond, type Phase, type Round } from './rounds.ts';
import { median, ms, percentile, ratio, table } from './stats.ts';
import type { Timeline } from './trace.ts';

export interface Target {
  name: string;
  met: boolean;
  detail: string;
}

export function loadAverage(): string {
  return os.loadavg().map((load) => load.toFixed(2)).join(' ');
}

function packageVersion(name: string): string {
  try {
    return execFileSync('dpkg-query', ['-W', '-f', '${Version}', name], { encoding: 'utf8' });
  } catch {
    return 'unknown version';
  }
}

export interface HeaderFacts {
  ours: PluginUnderTest;
  /** The executable the plugin under test was copied from. */
  oursSource: string;
  ref: PluginUnderTest;
  pods: number;
  concurrency: readonly number[];
}

export function printHeader({ ours, oursSource, ref, pods, concurrency }: HeaderFacts): void {
  const cpus = os.cpus();
  console.log(`bridgeway CNI benchmark, ${new Date().toISOString().slice(0, 16)}Z, ${cpus.length} CPUs (${cpus[0]?.model ?? '?'}), Linux ${os.release()}, Node ${process.versions.node}`);
  console.log(`ours:      ${oursSource} (built ${fs.statSync(oursSource).mtime.toISOString()}, run from a copy), cniVersion ${ours.cniVersion}, built-in IPAM`);
  console.log(`reference: ${ref.executable} + host-local (containernetworking-plugins ${packageVersion('containernetworking-plugins')}), cniVersion ${ref.cniVersion}`);
  console.log(`${pods} pods per plugin and round; the plugins take turns every ${concurrency.map((c) => `${chunkSize(c)} pods at c=${c}`).join(', ')}`);
  console.log('every process: nsenter --net=<node netns> -- <plugin>, config on stdin, CNI_* only in its environment');
  console.log(`load average at start: ${loadAverage()}\n`);
}

function roundOf(rounds: readonly Round[], plugin: string, concurrency: number): Round | undefined {
  return rounds.find((r) => r.plugin === plugin && r.concurrency === concurrency);
}

export function printRounds(rounds: readonly Round[], concurrency: readonly number[]): void {
  const rows: string[][] = [['op', 'c', 'ours p50', 'p99', 'cpu', 'ref p50', 'p99', 'cpu', 'ours/ref p50', 'p99', 'cpu']];
  for (const c of concurrency) {
    for (const op of PHASES) {
      const ours = roundOf(rounds, 'bridgeway', c)!.phases[op];
      const ref = roundOf(rounds, 'reference', c)!.phases[op];
      const [o50, o99, r50, r99] = [median(ours.samples), percentile(ours.samples, 99), median(ref.samples), percentile(ref.samples, 99)];
      rows.push([op, String(c), ms(o50), ms(o99), ms(ours.cpuMs), ms(r50), ms(r99), ms(ref.cpuMs), ratio(o50 / r50), ratio(o99 / r99), ratio(ours.cpuMs / ref.cpuMs)]);
    }
  }
  console.log(table(rows, ['left']));
  console.log('p50/p99: wall ms per invocation, spawn -> exit; cpu: mean user+sys CPU ms per invocation, child processes included\n');
  const throughput: string[][] = [['ADD throughput', 'ours pods/s', 'ref pods/s', 'ours/ref']];
  for (const c of concurrency) {
    const ours = podsPerSecond(roundOf(rounds, 'bridgeway', c)!.phases.ADD);
    const ref = podsPerSecond(roundOf(rounds, 'reference', c)!.phases.ADD);
    throughput.push([`c=${c}`, ours.toFixed(1), ref.toFixed(1), ratio(ours / ref)]);
  }
  console.log(table(throughput, ['left']));
}

export function printFloor(floor: Timings): void {
  const { samples, cpuMs } = floor;
  console.log(`\nstart-up floor (an executable built like the plugin that only exits), same wrapper: p50 ${ms(median(samples))} ms, p99 ${ms(percentile(samples, 99))} ms, cpu ${ms(cpuMs)} ms`);
}

/** The targets of the plugin-speed issue (9), each against the reference in the same run. */
export function targets(rounds: readonly Round[], floor: Timings): Target[] | string {
  const [ours1, ref1, ours8, ref8] = [roundOf(rounds, 'bridgeway', 1), roundOf(rounds, 'reference', 1), roundOf(rounds, 'bridgeway', 8), roundOf(rounds, 'reference', 8)];
  if (!ours1 || !ref1 || !ours8 || !ref8) return 'skipped: the targets are defined at concurrency 1 and 8';
  const p50 = (round: Round, phase: Phase): number => median(round.phases[phase].samples);
  const vsRef = (phase: Phase, limit: number): Target => {
    const [ours, ref] = [p50(ours1, phase), p50(ref1, phase)];
    return { name: `${phase} p50 <= ${limit}x reference (c=1)`, met: ours <= limit * ref, detail: `${ms(ours)} vs ${ms(ref)} ms = ${ratio(ours / ref)}` };
  };
  const [rateOurs, rateRef] = [podsPerSecond(ours8.phases.ADD), podsPerSecond(ref8.phases.ADD)];
  const [cpuOurs, cpuRef] = [ours1.phases.ADD.cpuMs, ref1.phases.ADD.cpuMs];
  const floorP50 = median(floor.samples);
  return [
    vsRef('ADD', 1.5),
    { name: 'ADD pods/s >= 1.0x reference (c=8)', met: rateOurs >= rateRef, detail: `${rateOurs.toFixed(1)} vs ${rateRef.toFixed(1)} pods/s = ${ratio(rateOurs / rateRef)}` },
    vsRef('DEL', 1.0),
    vsRef('CHECK', 1.5),
    { name: 'plugin CPU per ADD <= 1.5x reference (c=1)', met: cpuOurs <= 1.5 * cpuRef, detail: `${ms(cpuOurs)} vs ${ms(cpuRef)} ms = ${ratio(cpuOurs / cpuRef)}` },
    { name: '(stretch) ADD p50 <= 1.0x reference (c=1)', met: p50(ours1, 'ADD') <= p50(ref1, 'ADD'), detail: `${ratio(p50(ours1, 'ADD') / p50(ref1, 'ADD'))}; ADD p50 - floor p50 = ${ms(p50(ours1, 'ADD') - floorP50)} ms` },
  ];
}

export function printTargets(result: Target[] | string): void {
  console.log('\ntargets');
  if (typeof result === 'string') return console.log(`  ${result}`);
  for (const t of result) console.log(`  ${t.met ? 'PASS' : 'MISS'}  ${t.name.padEnd(44)} ${t.detail}`);
}

export function printProbes(probes: readonly Probe[], floor: Timings): void {
  console.log('\nwhere the time goes: single processes, one at a time');
  const rows = [['probe', 'p50 ms', 'p99 ms', 'cpu ms']];
  for (const p of [{ label: 'floor via the wrapper (from above)', ...floor }, ...probes]) {
    rows.push([p.label, ms(median(p.samples)), ms(percentile(p.samples, 99)), ms(p.cpuMs)]);
  }
  console.log(table(rows, ['left']));
}

export function printTimelines(label: string, timelines: Record<Phase, Timeline>): void {
  for (const command of PHASES) {
    const t = timelines[command];
    const rows = [[`${label} ${command}: ${t.children} child process(es), traced total ${ms(t.totalMs)} ms`, 'ms']];
    for (const segment of t.segments) rows.push([segment.label, ms(segment.ms)]);
    console.log(`\n${table(rows, ['left'])}`);
  }
}

/**
 * ADD with anti-spoofing (bridgeway's default) against the same executable with
 * "antiSpoofing": false, in the same rounds; issue 17's target: at most 1 ms more at p50.
 */
export function printAntiSpoofingCost(rounds: readonly Round[], concurrency: readonly number[], withoutLabel: string): void {
  const rows: string[][] = [['c', 'ADD p50 on', 'off', 'on - off', 'ADD cpu on', 'off', 'target ≤ 1 ms']];
  for (const c of concurrency) {
    const on = roundOf(rounds, 'bridgeway', c)?.phases.ADD;
    const off = roundOf(rounds, withoutLabel, c)?.phases.ADD;
    if (!on || !off) continue;
    const delta = median(on.samples) - median(off.samples);
    rows.push([String(c), ms(median(on.samples)), ms(median(off.samples)), ms(delta), ms(on.cpuMs), ms(off.cpuMs), delta <= 1 ? 'met' : 'MISSED']);
  }
  console.log('\nanti-spoofing: ADD with the port guarded vs "antiSpoofing": false (same executable, same rounds)');
  console.log(table(rows, ['left']));
}

/**
 * This build against another build of bridgeway (--baseline: e.g. the plugin before it became one
 * executable with the agent), in the same rounds, and their start-up alone (VERSION, interleaved):
 * what a change to the executable costs every pod's start.
 */
export function printBaseline(rounds: readonly Round[], concurrency: readonly number[], baselineLabel: string, version: { ours: Timings; baseline: Timings }, baselineFile: string): void {
  console.log(`\nthis build vs the baseline (${baselineFile}): same rounds, same node; VERSION alone, interleaved`);
  const rows: string[][] = [['op', 'c', 'ours p50', 'cpu', 'baseline p50', 'cpu', 'ours/baseline p50', 'cpu']];
  rows.push(['VERSION', '1', ms(median(version.ours.samples)), ms(version.ours.cpuMs), ms(median(version.baseline.samples)), ms(version.baseline.cpuMs),
    ratio(median(version.ours.samples) / median(version.baseline.samples)), ratio(version.ours.cpuMs / version.baseline.cpuMs)]);
  for (const c of concurrency) {
    for (const op of PHASES) {
      const ours = roundOf(rounds, 'bridgeway', c)?.phases[op];
      const base = roundOf(rounds, baselineLabel, c)?.phases[op];
      if (!ours || !base) continue;
      rows.push([op, String(c), ms(median(ours.samples)), ms(ours.cpuMs), ms(median(base.samples)), ms(base.cpuMs), ratio(median(ours.samples) / median(base.samples)), ratio(ours.cpuMs / base.cpuMs)]);
    }
  }
  console.log(table(rows, ['left']));
}
