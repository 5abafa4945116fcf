// Everything a benchmark run creates on the machine: the shared Lab of the tests and the e2e
// simulation (test/support/lab.ts: namespaces named with one per-run prefix, child processes, one
// temporary directory, undo steps; a synchronous cleanup() that a signal handler can call too).
// The benchmarks install their own SIGINT handlers (they stop their children and print first),
// so this Lab does not ask for cleanupOnSignals().
import { Lab as SharedLab } from '../../test/support/lab.ts';

export class Lab extends SharedLab {
  constructor(prefix = `bwbench${process.pid}`) {
    super(prefix);
  }
}
