// The agent's view of the cluster's Nodes: a Node informer (client-node's ListWatch) that we
// restart ourselves, over http.ts's transport.
// Every Node is cut down to the few fields the agent reads before the informer caches it
// (node.ts), the list is read in pages (node-list.ts), and only changes to those fields wake the
// reconciler (nodes/view.ts). What client-node's ListWatch does by itself, and what we add to it
// (restarts, a stop that stops), is in list-watch.ts.
import type { Logger } from '../../lib/log.ts';
import { Backoff, DEFAULT_BACKOFF, type BackoffPolicy } from '../loop/backoff.ts';
import { realClock, type Clock } from '../loop/clock.ts';
import { loadKubeConfig, type KubeConfig } from './config.ts';
import { summarize } from './errors.ts';
import { runListWatch } from './list-watch.ts';
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
    const running = runListWatch<V1Node>({
      kc, path: NODES_PATH, kind: 'node', log, backoff, clock, watchInactivityMs: options.watchInactivityMs,
      list: (signal) => listAllNodes(kc, {
        signal,
        relisting: (attempt) => log.info({ attempt }, 'the node list snapshot expired between pages; listing again'),
        afterPage: options.afterPage,
      }),
      slim: slimNode,
      on: {
        upsert: (node) => {
          if (view.upsert(toClusterNode(node))) changed();
        },
        remove: (node) => {
          if (view.remove(node.metadata?.name ?? '')) changed();
        },
      },
      connected: setConnected,
      restarted: () => restarts.inc(),
    });
    return () => running.stop();
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
