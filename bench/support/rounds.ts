// One round: every pod through ADD, then CHECK (prevResult = its ADD result), then DEL (with
// prevResult too, as libcni sends it), at a fixed concurrency. The plugins take turns in chunks
// of pods, so that on a shared machine both see the same background load; every invocation and
// the end state of each phase are checked, and any failure stops the benchmark.
import { childrenCpuMs, timedRun, type Timings } from './exec.ts';
import {
  bridgePorts,
  cniInvocation,
  expectAddResult,
  expectSuccess,
  ipamReservations,
  type AddResult,
  type Pod,
  type PluginUnderTest,
} from './plugins.ts';

export const PHASES = ['ADD', 'CHECK', 'DEL'] as const;
export type Phase = (typeof PHASES)[number];

export interface PhaseResult extends Timings {
  /** Sum over the chunks of first spawn -> last exit: the basis of pods/s. */
  wallMs: number;
}

export interface Round {
  plugin: string;
  concurrency: number;
  phases: Record<Phase, PhaseResult>;
}

export interface Contender {
  plugin: PluginUnderTest;
  /** One namespace per pod, for this plugin alone (both plugins create eth0 in their pods). */
  podNetns: readonly string[];
}

interface Lane {
  plugin: PluginUnderTest;
  pods: Pod[];
  results: AddResult[];
  phases: Record<Phase, { samples: number[]; wallMs: number; cpuTotalMs: number }>;
}

/** Pods per turn: long enough to keep `concurrency` processes busy, short enough to interleave. */
export function chunkSize(concurrency: number): number {
  return Math.max(10, 4 * concurrency);
}

export async function runRounds(contenders: readonly Contender[], concurrency: number, tag: string): Promise<Round[]> {
  const lanes = contenders.map((c) => newLane(c, tag));
  const count = Math.min(...lanes.map((lane) => lane.pods.length));
  const chunk = chunkSize(concurrency);
  for (const phase of PHASES) {
    for (let start = 0; start < count; start += chunk) {
      const indices = Array.from({ length: Math.min(chunk, count - start) }, (_, i) => start + i);
      for (const lane of lanes) await runChunk(lane, phase, indices, concurrency);
    }
    for (const lane of lanes) {
      if (phase === 'ADD') await verifyAdded(lane, count);
      if (phase === 'DEL') await verifyDeleted(lane.plugin);
    }
  }
  return lanes.map((lane) => ({ plugin: lane.plugin.label, concurrency, phases: finish(lane, count) }));
}

/** Pods in the given namespaces, with container IDs unique to the tag and the plugin. */
export function podsIn(podNetns: readonly string[], tag: string, plugin: PluginUnderTest): Pod[] {
  return podNetns.map((netns, i) => ({ containerId: `bench-${tag}-${plugin.label}-${i}`, netns, podName: `pod-${i}` }));
}

function newLane(contender: Contender, tag: string): Lane {
  const pods = podsIn(contender.podNetns, tag, contender.plugin);
  const empty = () => ({ samples: [], wallMs: 0, cpuTotalMs: 0 });
  return { plugin: contender.plugin, pods, results: [], phases: { ADD: empty(), CHECK: empty(), DEL: empty() } };
}

async function runChunk(lane: Lane, phase: Phase, indices: readonly number[], concurrency: number): Promise<void> {
  const acc = lane.phases[phase];
  const cpu = childrenCpuMs();
  acc.wallMs += await runConcurrently(indices, concurrency, async (index) => {
    acc.samples.push(await invoke(lane, phase, index));
  });
  acc.cpuTotalMs += childrenCpuMs() - cpu;
}

async function invoke(lane: Lane, phase: Phase, index: number): Promise<number> {
  const prevResult = phase === 'ADD' ? undefined : lane.results[index]!.json;
  const invocation = cniInvocation(lane.plugin, phase, lane.pods[index]!, prevResult);
  const outcome = await timedRun(invocation);
  if (phase === 'ADD') lane.results[index] = expectAddResult(invocation, outcome);
  else expectSuccess(invocation, outcome);
  return outcome.ms;
}

function finish(lane: Lane, count: number): Record<Phase, PhaseResult> {
  const result = (phase: Phase): PhaseResult => {
    const { samples, wallMs, cpuTotalMs } = lane.phases[phase];
    return { samples, wallMs, cpuMs: cpuTotalMs / count };
  };
  return { ADD: result('ADD'), CHECK: result('CHECK'), DEL: result('DEL') };
}

async function verifyAdded(lane: Lane, count: number): Promise<void> {
  const addresses = new Set(lane.results.map((r) => r.address));
  if (addresses.size !== count) throw new Error(`${lane.plugin.label}: ${count} ADDs handed out ${addresses.size} distinct addresses`);
  const ports = await bridgePorts(lane.plugin);
  if (ports.length !== count) throw new Error(`${lane.plugin.label}: ${ports.length} ports on the bridge after ${count} ADDs`);
}

async function verifyDeleted(plugin: PluginUnderTest): Promise<void> {
  const ports = await bridgePorts(plugin);
  if (ports.length > 0) throw new Error(`${plugin.label}: ports left on the bridge after DEL: ${ports.join(' ')}`);
  const reservations = ipamReservations(plugin);
  if (reservations.length > 0) throw new Error(`${plugin.label}: IPAM reservations left after DEL: ${reservations.join(' ')}`);
}

/**
 * Runs fn over items with at most `concurrency` in flight; returns the wall time in ms. After a
 * failure no new item starts, and the ones in flight finish before the first error is thrown.
 */
export async function runConcurrently<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<number> {
  const start = process.hrtime.bigint();
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  const settled = await Promise.allSettled(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  const failure = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failure) throw failure.reason;
  return Number(process.hrtime.bigint() - start) / 1e6;
}

export function podsPerSecond(result: PhaseResult): number {
  return (result.samples.length / result.wallMs) * 1000;
}
