// The one shape of a sync step, and which step of a sync failed and why: what /readyz and the
// log say (issue 8 item 7).
import { errorMessage } from '../../lib/errors.ts';

/**
 * One part of a sync. `name` is how /readyz and bridgeway_syncs_total{step} name the step when
 * it fails; `run` does its part, reading what the steps before it left in `sync` (loop/sync.ts)
 * and leaving what the steps after it, and /readyz, need.
 */
export interface SyncStep<Sync, Name extends string = string> {
  readonly name: Name;
  run(sync: Sync): void | Promise<void>;
}

export class SyncStepError extends Error {
  override name = 'SyncStepError';
  readonly step: string;
  override readonly cause: unknown;

  constructor(step: string, cause: unknown) {
    super(`step ${step}: ${errorMessage(cause)}`);
    this.step = step;
    this.cause = cause;
  }
}

/** Runs one step; its failure names the step. */
export async function runStep<T>(step: string, fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw error instanceof SyncStepError ? error : new SyncStepError(step, error);
  }
}
