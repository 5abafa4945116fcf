// Which step of a sync failed, and why: what /readyz and the log say (issue 8 item 7).
import { errorMessage } from '../../lib/errors.ts';

/** The sync's steps, in the order the reconciler runs them. */
export type SyncStepName = 'node-view' | 'read-node-interface' | 'publish-address' | 'sysctls' | 'install' | 'routes' | 'iptables' | 'conflist' | 'status';

export class SyncStepError extends Error {
  override name = 'SyncStepError';
  readonly step: SyncStepName;
  override readonly cause: unknown;

  constructor(step: SyncStepName, cause: unknown) {
    super(`step ${step}: ${errorMessage(cause)}`);
    this.step = step;
    this.cause = cause;
  }
}

/** Runs one step; its failure names the step. */
export async function runStep<T>(step: SyncStepName, fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw error instanceof SyncStepError ? error : new SyncStepError(step, error);
  }
}
