// Everything a benchmark run creates on the machine: the shared Lab of the tests and the e2e
// simulation (test/support/lab.ts: namespaces named with one per-run prefix, child processes, one
// temporary directory, undo steps; a synchronous cleanup() that a signal handler can call too).
// runInLab (below) is the benchmarks' own signal handling (it stops their children first), so
// this Lab does not ask for cleanupOnSignals().
import os from 'node:os';
import { Lab as SharedLab } from '../../test/support/lab.ts';

export class Lab extends SharedLab {
  constructor(prefix = `bwbench${process.pid}`) {
    super(prefix);
  }
}

/**
 * Runs a benchmark's body in its lab and cleans up exactly once, whatever ends it: success, a
 * failure, SIGINT/SIGTERM, the reader of stdout going away (`| head`), or any other exit.
 * `stop` runs before a signal's cleanup (e.g. kill plugins still in flight, which could recreate
 * files after it); `onExit` on every exit, before the cleanup.
 */
export async function runInLab(lab: Lab, body: () => Promise<void>, hooks: { report: (line: string) => void; stop?: () => Promise<void>; onExit?: () => void }): Promise<void> {
  const cleanup = (): void => {
    for (const problem of lab.cleanup()) hooks.report(problem);
  };
  const abort = (signal: NodeJS.Signals): void => {
    const exit = (): never => {
      cleanup();
      process.exit(128 + os.constants.signals[signal]);
    };
    // Without a stop hook, at once: a later listener for the same signal (the lab of a
    // SimCluster, test/support/lab.ts) cleans its own lab and re-raises the signal to die, and
    // this lab's children (iperf3 of bench:net) and directory would outlive the run.
    if (!hooks.stop) exit();
    else void hooks.stop().finally(exit);
  };
  process.once('SIGINT', abort);
  process.once('SIGTERM', abort);
  process.stdout.once('error', () => abort('SIGPIPE'));
  process.once('exit', () => {
    hooks.onExit?.();
    cleanup(); // synchronous, and a no-op once done
  });
  try {
    await body();
  } finally {
    cleanup();
  }
}
