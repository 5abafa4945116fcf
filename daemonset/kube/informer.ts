// The agent's view of the cluster's Nodes: a Node informer (client-node's ListWatch) that we
// restart ourselves, over http.ts's transport.
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
// Every Node is cut down to the few fields the agent reads before the informer caches it
// (node.ts), the list is read in pages (node-list.ts), and only changes to those fields wake the reconciler
// (nodes/view.ts).
// We build the ListWatch ourselves (makeInformer is `new ListWatch(path, new Watch(kc), list, false)`)
// to pass it a watch that refuses to open after stop() and reports when a stream is established,
// and a reconnect delay that stop() can cut short: ListWatch does not check `stopped` after its
// list or its delay, so a stop() at the wrong moment would leave a watch open (and the process up).
// Both waits, our restart and ListWatch's reconnect delay, run on the injected Clock.
import { ListWatch } from '@kubernetes/client-node/dist/cache.js';
import type { Watch } from '@kubernetes/client-node/dist/watch.js';
import type { Logger } from '../../lib/log.ts';
import { Backoff, DEFAULT_BACKOFF, type BackoffPolicy } from '../loop/backoff.ts';
import { realClock, type Clock } from '../loop/clock.ts';
import { loadKubeConfig, type KubeConfig } from './config.ts';
import { summarize } from './errors.ts';
import { KubeWatch, REQUEST_TIMEOUT_MS, type QueryParams } from './http.ts';
import { listAllNodes } from './node-list.ts';
import { NODES_PATH, slimNode, toClusterNode, type V1Node } from './node.ts';
import type { Metrics } from '../serve/metrics.ts';
import type { NodeSource } from '../nodes/source.ts';
import { NodeView } from '../nodes/view.ts';

export interface KubeOptions {
  /**
   * A kubeconfig path (default: in-cluster if KUBERNETES_SERVICE_HOST is set, else $KUBECONFIG,
   * else ~/.kube/config), or one already loaded, so the agent's two clients share it.
   */
  kubeconfig?: string | KubeConfig;
  log: Logger;
  metrics: Metrics;
  /** Called on every add/update/delete (including those found by a relist); the caller coalesces. */
  onChange: () => void;
  /** Delay before restarting a stopped informer, doubling per failure; default 1 s to 30 s. */
  backoff?: BackoffPolicy;
  /** Where the restart backoff and ListWatch's reconnect delay wait (default: the wall clock). */
  clock?: Clock;
  /** A watch silent this long is reopened (default 30 s, http.ts). */
  watchInactivityMs?: number;
  /** Called after each page of the Node list (loop/memory.ts: the agent collects its garbage there). */
  afterPage?: () => void;
}

export function createKubeNodeSource(options: KubeOptions): NodeSource {
  const kc = loadKubeConfig(options.kubeconfig);
  const backoff = new Backoff(options.backoff ?? DEFAULT_BACKOFF); // refuses a bad policy now, not at the first failure
  const clock = options.clock ?? realClock;
  const log = options.log.child({ component: 'kube' });
  const restarts = options.metrics.counter('bridgeway_informer_restarts_total', 'Times the Node informer stopped on an error and was restarted.');
  const connectedGauge = options.metrics.gauge('bridgeway_informer_connected', '1 when the Node list succeeded and the watch stream is open.');
  connectedGauge.set(0);

  let currentView = new NodeView();
  let stopRun: (() => void) | undefined;
  let isConnected = false;

  function setConnected(value: boolean): void {
    if (value && !isConnected) log.info({}, 'node watch established');
    isConnected = value;
    connectedGauge.set(value ? 1 : 0);
  }

  function changed(): void {
    try {
      options.onChange();
    } catch (error) {
      log.error({ error: summarize(error) }, 'onChange threw');
    }
  }

  /** One start()..stop() lifetime: one ListWatch (and view), restarted in place so its cache and resourceVersion survive. */
  function run(view: NodeView): () => void {
    const abort = new AbortController();
    backoff.reset();
    let stopped = false;
    let listed = false;
    let restartTimer: unknown;
    const pendingDelays = new Set<{ timer: unknown; resolve: () => void }>();

    const list = async () => {
      const result = await listAllNodes(kc, {
        signal: () => AbortSignal.any([abort.signal, AbortSignal.timeout(REQUEST_TIMEOUT_MS)]),
        relisting: (attempt) => log.info({ attempt }, 'the node list snapshot expired between pages; listing again'),
        afterPage: options.afterPage,
      });
      if (stopped) throw new Error('node source stopped');
      listed = true;
      return result;
    };
    const watch = new GuardedWatch(new KubeWatch(kc, options.watchInactivityMs), {
      active: () => !stopped,
      opened: () => {
        if (!listed) return;
        backoff.reset();
        setConnected(true);
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
    const lw = new ListWatch<V1Node>(NODES_PATH, watch as unknown as Watch, list, false, undefined, undefined, { delayFn });
    const upsert = (node: V1Node) => {
      if (view.upsert(toClusterNode(node))) changed();
    };
    lw.on('add', upsert);
    lw.on('update', upsert);
    lw.on('delete', (node: V1Node) => {
      if (view.remove(node.metadata?.name ?? '')) changed();
    });

    const failed = (error: unknown) => {
      if (stopped || restartTimer !== undefined) return; // errors after stop() are our own aborts
      setConnected(false);
      const delayMs = backoff.fail();
      log.warn({ error: summarize(error), failures: backoff.failures, restartInMs: delayMs }, 'node informer stopped on an error; restarting it');
      restartTimer = clock.setTimeout(() => {
        restartTimer = undefined;
        restarts.inc();
        launch();
      }, delayMs);
    };
    // start() resolves once a watch is open or the attempt failed (then `error` was emitted); it
    // rejects only on a bug-shaped failure, which gets the same treatment.
    const launch = () => void lw.start().catch(failed);
    lw.on('error', failed);
    launch();

    return () => {
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
    };
  }

  return {
    start() {
      if (stopRun) return;
      currentView = new NodeView(); // a new informer starts from an empty cache: so does the view
      stopRun = run(currentView);
    },
    stop() {
      stopRun?.();
      stopRun = undefined;
      setConnected(false);
    },
    nodes: () => currentView.list(),
    connected: () => isConnected,
  };
}

/**
 * The Node watch, made safe to stop: it opens nothing once the source is stopped, aborts a stream
 * that got established after stop(), reports established streams, and slims every Node before the
 * informer's cache sees it.
 */
class GuardedWatch {
  private readonly inner: KubeWatch;
  private readonly hooks: { active: () => boolean; opened: () => void };

  constructor(inner: KubeWatch, hooks: { active: () => boolean; opened: () => void }) {
    this.inner = inner;
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
      callback(phase, phase === 'ADDED' || phase === 'MODIFIED' || phase === 'DELETED' ? slimNode(apiObj as V1Node) : apiObj, watchObj);
    // Bookmarks keep the resourceVersion current while no Node changes, so that reopening a quiet
    // watch resumes instead of finding its resourceVersion compacted (410) and relisting every Node.
    const controller = await this.inner.watch(watchPath, { ...queryParams, allowWatchBookmarks: true }, slimmed, doneOnce);
    if (!this.hooks.active()) controller.abort();
    else if (!finished) this.hooks.opened();
    return controller;
  }
}
