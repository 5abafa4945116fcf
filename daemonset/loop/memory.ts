// The agent's memory on Bun. JavaScriptCore collects lazily: left alone, its heap grows across
// the pages of the Node list (~1.2 MB of JSON each, several times that parsed, garbage once
// slimmed) and across syncs (each reads and diffs the whole main table: 5,000 routes at 5,000
// nodes), and the process's peak is set by garbage, not by what the agent keeps: 5,000 nodes in
// Kubernetes mode peaked at 125-148 MiB. The agent works in bursts separated by idle time, so it
// collects right after each one (a list page, a nodes file parsed, a sync): peak 92-97 MiB, for ~0.7 s more CPU over a
// 5,000-node start (bench/AGENT.md). Measured and not kept, as they moved nothing next to that:
// Bun's --smol, a higher gcAggressionLevel, a JIT policy of 20 (JavaScriptCore compiling later,
// as Node's --no-opt does for V8). What did move it: JavaScriptCore without its optimizing tiers
// (bin/jsc-options.ts), and less garbage per sync (the route dump, the route plan); and one more
// collection in the middle of a sync, between the kernel read and the route step
// (loop/reconciler.ts betweenPhases). Node (the bench's comparison build) has its V8 flags (scripts/build.ts).
export interface BunMemory {
  gc(force: boolean): void;
  shrink?(): void;
  unsafe?: { gcAggressionLevel?(level?: number): number; setJITPolicy?(policy: unknown): void };
}

export interface MemoryTuning {
  /** Bun.unsafe.gcAggressionLevel at start (0: JavaScriptCore's default). */
  aggression: number;
  /** A full collection (and a heap shrink) after each burst. */
  collectAfterBurst: boolean;
  /** Bun.unsafe.setJITPolicy at start: > 1 makes JavaScriptCore that many times more reluctant to compile (1: its default). */
  jitPolicy: number;
}

export const MEMORY_TUNING: MemoryTuning = { aggression: 0, collectAfterBurst: true, jitPolicy: 1 };

function bun(): BunMemory | undefined {
  return (globalThis as { Bun?: BunMemory }).Bun;
}

/** Applies the start-up part of the tuning; returns what to call after each burst (nothing on Node). */
export function tuneMemory(tuning: MemoryTuning = MEMORY_TUNING, runtime: BunMemory | undefined = bun()): () => void {
  if (!runtime) return () => {};
  if (tuning.aggression) runtime.unsafe?.gcAggressionLevel?.(tuning.aggression);
  if (tuning.jitPolicy !== 1) runtime.unsafe?.setJITPolicy?.(tuning.jitPolicy);
  if (!tuning.collectAfterBurst) return () => {};
  return () => {
    runtime.gc(true);
    runtime.shrink?.();
  };
}

/**
 * A young-generation (eden) collection, at most once per `minIntervalMs` unless forced: for the middle of a
 * burst that makes much short-lived garbage (the policy compile at 1,000 policies: ~20 MiB in
 * ~50 ms, before JavaScriptCore's own trigger fires), so each step reuses the previous step's
 * memory. Bun.gc(false) is an eden collection: ~0.3 ms at the agent's heap, where the full
 * collection after a burst (tuneMemory) also throws away compiled code and costs tens of ms
 * (bench/AGENT.md). Returns a no-op on Node.
 */
export function youngCollector(minIntervalMs: number, runtime: BunMemory | undefined = bun(), now: () => number = () => performance.now()): (force?: boolean) => void {
  if (!runtime) return () => {};
  let last = -Infinity;
  return (force = false) => {
    const t = now();
    if (!force && t - last < minIntervalMs) return;
    runtime.gc(false);
    last = now();
  };
}
