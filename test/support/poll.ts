// The one way tests, the e2e simulation and the benchmarks wait for something: poll a probe until
// it yields a value, or race a promise against a deadline. No timer is left behind to hold the
// process open, and a timeout names what was awaited and the probe's last error.

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface PollOptions {
  /** Give up after this long (default 10 s). */
  timeoutMs?: number;
  /** Pause between probes (default 50 ms). */
  everyMs?: number;
  /** Named in the timeout error: "timed out after 10000 ms waiting for <what>". */
  what?: string;
  /**
   * A probe that throws: by default that ends the wait at once (the probe saw something that
   * will not get better, e.g. the process exited). With true it only means "not yet", and the
   * last error is quoted if the wait times out (e.g. an agent's port that does not answer yet).
   */
  retryErrors?: boolean;
}

/** Calls probe until it returns a truthy value, and returns that value. */
export async function poll<T>(probe: () => T | undefined | null | false | Promise<T | undefined | null | false>, options: PollOptions = {}): Promise<T> {
  const { timeoutMs = 10_000, everyMs = 50, what = 'condition', retryErrors = false } = options;
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (error) {
      if (!retryErrors) throw error;
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    }
    await sleep(everyMs);
  }
}

/** The promise's value, or undefined after ms. */
export async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(resolve, ms, undefined)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
