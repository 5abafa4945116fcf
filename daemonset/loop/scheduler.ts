// Level-triggered sync loop: any number of triggers while a sync runs collapse into one more
// sync; success schedules the periodic resync (which repairs drift nobody told us about);
// failure retries with capped exponential backoff (backoff.ts), and triggers during backoff wait for it.
import { Backoff, type BackoffPolicy } from './backoff.ts';
import { realClock, type Clock } from './clock.ts';

export interface SchedulerOptions {
  sync: () => Promise<void>;
  clock?: Clock;
  resyncMs: number;
  /** Retries after a failed sync; default 1 s doubling to 30 s. */
  backoff?: BackoffPolicy;
  onError?: (error: unknown, attempt: number, retryInMs: number) => void;
}

export class SyncScheduler {
  private readonly options: SchedulerOptions;
  private readonly clock: Clock;
  private timer: unknown;
  private running = false;
  private pending = false;
  private readonly backoff: Backoff;
  private stopped = true;
  /** Resolves when the sync in flight (if any) has finished; for clean shutdown and tests. */
  idle: Promise<void> = Promise.resolve();

  constructor(options: SchedulerOptions) {
    this.options = options;
    this.clock = options.clock ?? realClock;
    this.backoff = new Backoff(options.backoff);
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
    else if (this.backoff.failures === 0) this.schedule(0);
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
      this.backoff.reset();
    } catch (error) {
      next = this.backoff.fail();
      this.options.onError?.(error, this.backoff.failures, next);
    } finally {
      this.running = false;
      done();
    }
    this.schedule(this.pending && this.backoff.failures === 0 ? 0 : next);
  }
}
