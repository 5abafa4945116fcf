// One collection of the API kept current: client-node's ListWatch over http.ts's transport,
// restarted by us when it stops on an error, every object slimmed before its cache sees it.
// The Node informer (informer.ts) and the policy informers (policy-source.ts) are each one of these.
//
// What client-node 2.x's informer (ListWatch, what makeInformer returns) does on its own:
// - a watch that ends cleanly (server timeout, dropped stream without error) is re-opened from the
//   last resourceVersion, after an internal delay (0, then 1 s doubling to 30 s; reset by any event);
// - 410 Gone, either as an HTTP status or as a watch ERROR event (which kube-apiserver sends before
//   closing the stream), clears the resourceVersion so the next round relists; the relist emits
//   `delete` for objects that vanished meanwhile and `update` for changed ones;
// - any other error (list failed, connection refused or reset, non-200 watch) is emitted as
//   `error` and the informer STOPS (rule 8): restarting it, with capped backoff (backoff.ts), is
//   done here.
// We build the ListWatch ourselves (makeInformer is `new ListWatch(path, new Watch(kc), list, false)`)
// to pass it a watch that refuses to open after stop() and reports when a stream is established,
// and a reconnect delay that stop() can cut short: ListWatch does not check `stopped` after its
// list or its delay, so a stop() at the wrong moment would leave a watch open (and the process up).
// Both waits, our restart and ListWatch's reconnect delay, run on the injected Clock.
import { ListWatch } from '@kubernetes/client-node/dist/cache.js';
import type { Watch } from '@kubernetes/client-node/dist/watch.js';
import type { Logger } from '../../lib/log.ts';
import { Backoff } from '../loop/backoff.ts';
import type { Clock } from '../loop/clock.ts';
import type { KubeConfig } from './config.ts';
import { summarize } from './errors.ts';
import { KubeWatch, REQUEST_TIMEOUT_MS, type QueryParams } from './http.ts';

export interface ListWatchOptions<T> {
  kc: KubeConfig;
  /** The collection, e.g. /api/v1/pods. */
  path: string;
  /** What the logs call it ("node", "pod", ...). */
  kind: string;
  /** One full list (paged), every object already slimmed. */
  list: (signal: () => AbortSignal) => Promise<{ metadata: { resourceVersion?: string }; items: T[] }>;
  /** Cuts a watched object down before the cache sees it. */
  slim: (object: any) => T;
  on: { upsert: (object: T) => void; remove: (object: T) => void };
  log: Logger;
  backoff: Backoff;
  clock: Clock;
  watchInactivityMs?: number;
  /** Listed and a watch stream open (true), or stopped on an error (false). */
  connected: (value: boolean) => void;
  /** Counts a restart after an error. */
  restarted: () => void;
}

export interface RunningListWatch<T> {
  stop(): void;
  /** The cache: every object as last seen. */
  list(): T[];
}

/** Starts one list-watch lifetime; its cache and resourceVersion survive our restarts. */
export function runListWatch<T>(options: ListWatchOptions<T>): RunningListWatch<T> {
  const { backoff, clock, log } = options;
  const abort = new AbortController();
  backoff.reset();
  let stopped = false;
  let listed = false;
  let restartTimer: unknown;
  const pendingDelays = new Set<{ timer: unknown; resolve: () => void }>();

  const list = async () => {
    const result = await options.list(() => AbortSignal.any([abort.signal, AbortSignal.timeout(REQUEST_TIMEOUT_MS)]));
    if (stopped) throw new Error(`${options.kind} source stopped`);
    listed = true;
    return result;
  };
  const watch = new GuardedWatch(new KubeWatch(options.kc, options.watchInactivityMs), options.slim, {
    active: () => !stopped,
    opened: () => {
      if (!listed) return;
      backoff.reset();
      options.connected(true);
    },
  });
  const delayFn = (ms: number) =>
    new Promise<void>((resolve) => {
      // ListWatch's own reconnect delay after clean closes, capped by our backoff; cut short by stop().
      const entry = {
        resolve,
        timer: clock.setTimeout(() => {
          pendingDelays.delete(entry);
          resolve();
        }, Math.min(ms, backoff.policy.maxMs)),
      };
      pendingDelays.add(entry);
    });
  // GuardedWatch keeps the contract of client-node's Watch, which ListWatch's type names.
  const lw = new ListWatch<any>(options.path, watch as unknown as Watch, list, false, undefined, undefined, { delayFn });
  lw.on('add', options.on.upsert);
  lw.on('update', options.on.upsert);
  lw.on('delete', options.on.remove);

  const failed = (error: unknown) => {
    if (stopped || restartTimer !== undefined) return; // errors after stop() are our own aborts
    options.connected(false);
    const delayMs = backoff.fail();
    log.warn({ error: summarize(error), failures: backoff.failures, restartInMs: delayMs }, `${options.kind} informer stopped on an error; restarting it`);
    restartTimer = clock.setTimeout(() => {
      restartTimer = undefined;
      options.restarted();
      launch();
    }, delayMs);
  };
  // start() resolves once a watch is open or the attempt failed (then `error` was emitted); it
  // rejects only on a bug-shaped failure, which gets the same treatment.
  const launch = () => void lw.start().catch(failed);
  lw.on('error', failed);
  launch();

  return {
    list: () => lw.list() as T[],
    stop() {
      stopped = true;
      if (restartTimer !== undefined) clock.clearTimeout(restartTimer);
      restartTimer = undefined;
      abort.abort();
      for (const entry of pendingDelays) {
        clock.clearTimeout(entry.timer);
        entry.resolve();
      }
      pendingDelays.clear();
      void lw.stop();
    },
  };
}

/**
 * The watch, made safe to stop: it opens nothing once the source is stopped, aborts a stream
 * that got established after stop(), reports established streams, and slims every object before
 * the informer's cache sees it.
 */
class GuardedWatch {
  private readonly inner: KubeWatch;
  private readonly slim: (object: any) => unknown;
  private readonly hooks: { active: () => boolean; opened: () => void };

  constructor(inner: KubeWatch, slim: (object: any) => unknown, hooks: { active: () => boolean; opened: () => void }) {
    this.inner = inner;
    this.slim = slim;
    this.hooks = hooks;
  }

  async watch(
    watchPath: string,
    queryParams: QueryParams,
    callback: (phase: string, apiObj: any, watchObj?: any) => void,
    done: (err: any) => void,
  ): Promise<AbortController> {
    let finished = false;
    const doneOnce = (err: unknown) => {
      if (finished) return;
      finished = true;
      done(err);
    };
    if (!this.hooks.active()) {
      const controller = new AbortController();
      controller.abort();
      doneOnce(null); // the informer sees its own `stopped` flag and ends there
      return controller;
    }
    // Objects are slimmed before the informer's cache sees them; ERROR carries a Status, BOOKMARK only a resourceVersion.
    const slimmed = (phase: string, apiObj: any, watchObj?: any) =>
      callback(phase, phase === 'ADDED' || phase === 'MODIFIED' || phase === 'DELETED' ? this.slim(apiObj) : apiObj, watchObj);
    // Bookmarks keep the resourceVersion current while nothing changes, so that reopening a quiet
    // watch resumes instead of finding its resourceVersion compacted (410) and relisting everything.
    const controller = await this.inner.watch(watchPath, { ...queryParams, allowWatchBookmarks: true }, slimmed, doneOnce);
    if (!this.hooks.active()) controller.abort();
    else if (!finished) this.hooks.opened();
    return controller;
  }
}
