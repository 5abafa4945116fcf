// Capped exponential backoff, the one policy for everything the agent retries: a failed sync
// (scheduler.ts) and a stopped Node informer (kube/informer.ts). The first retry waits initialMs,
// each further failure doubles the wait up to maxMs, and one success starts over.

export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
}

/** 1 s doubling to 30 s; client-go's reflector restarts its list/watch from 800 ms to the same 30 s cap. */
export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 1000, maxMs: 30_000 };

/** Pure: the wait before the retry that follows `failures` earlier failures in a row (0: the first). */
export function backoffDelay(policy: BackoffPolicy, failures: number): number {
  return Math.min(policy.maxMs, policy.initialMs * 2 ** failures); // 2 ** 1100 is Infinity: still capped
}

/** The failures in a row of one retried thing, and the wait each one earns. */
export class Backoff {
  readonly policy: BackoffPolicy;
  private count = 0;

  constructor(policy: BackoffPolicy = DEFAULT_BACKOFF) {
    if (!(policy.initialMs > 0 && policy.maxMs >= policy.initialMs)) {
      throw new RangeError(`backoff needs 0 < initialMs <= maxMs, got ${JSON.stringify(policy)}`);
    }
    this.policy = policy;
  }

  /** Failures since the last success. */
  get failures(): number {
    return this.count;
  }

  /** Records a failure; returns how long to wait before the next attempt. */
  fail(): number {
    return backoffDelay(this.policy, this.count++);
  }

  /** A success: the next failure waits initialMs again. */
  reset(): void {
    this.count = 0;
  }
}
