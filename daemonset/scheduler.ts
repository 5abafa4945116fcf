// Level-triggered sync loop: any number of triggers while a sync runs collapse into one more
// sync; success schedules the periodic resync (which repairs drift nobody told us about);
// failure retries with capped exponential backoff, and triggers during backoff wait for it.

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface SchedulerOptions {
  sync: () => Promise<void>;
  clock?: Clock;
  resyncMs: number;
  backoff?: { initialMs: number; maxMs: number };
  onError?: (error: unknown, attempt: number, retryInMs: number) => void;
}

export class SyncScheduler {
  private readonly options: SchedulerOptions;
  private readonly clock: Clock;
  private timer: unknown;
  private running = false;
  private pending = false;
  private failures = 0;
  private stopped = true;
  /** Resolves when the sync in flight (if any) has finished; for clean shutdown and tests. */
  idle: Promise<void> = Promise.resolve();

  constructor(options: SchedulerOptions) {
    this.options = options;
    this.clock = options.clock ?? realClock;
  }

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    this.clearTimer();
  }

  /** Something changed: sync soon (once, however often this is called). */
  trigger(): void {
    if (this.stopped) return;
    if (this.running) this.pending = true;
    else if (this.failures === 0) this.schedule(0);
  }

  private schedule(ms: number): void {
    this.clearTimer();
    if (!this.stopped) this.timer = this.clock.setTimeout(() => void this.run(), ms);
  }

  private clearTimer(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async run(): Promise<void> {
    this.timer = undefined;
    this.running = true;
    this.pending = false;
    let next = this.options.resyncMs;
    let done!: () => void;
    this.idle = new Promise((resolve) => (done = resolve));
    try {
      await this.options.sync();
      this.failures = 0;
    } catch (error) {
      this.failures++;
      const { initialMs, maxMs } = this.options.backoff ?? { initialMs: 1000, maxMs: 30_000 };
      next = Math.min(maxMs, initialMs * 2 ** (this.failures - 1));
      this.options.onError?.(error, this.failures, next);
    } finally {
      this.running = false;
      done();
    }
    this.schedule(this.pending && this.failures === 0 ? 0 : next);
  }
}
