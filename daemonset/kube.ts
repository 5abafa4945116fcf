// The agent's only door to the Kubernetes API (with kube-http.ts, its transport, the only module
// importing @kubernetes/client-node):
// a Node informer that we restart ourselves, and the two writes the agent makes to its own Node.
//
// What client-node 2.x's informer (ListWatch, what makeInformer returns) does on its own:
// - a watch that ends cleanly (server timeout, dropped stream without error) is re-opened from the
//   last resourceVersion, after an internal delay (0, then 1 s doubling to 30 s; reset by any event);
// - 410 Gone, either as an HTTP status or as a watch ERROR event (which kube-apiserver sends before
//   closing the stream), clears the resourceVersion so the next round relists; the relist emits
//   `delete` for objects that vanished meanwhile and `update` for changed ones;
// - any other error (list failed, connection refused or reset, non-200 watch) is emitted as
//   `error` and the informer STOPS (rule 8): restarting it, with capped backoff, is done here.
// Every Node is cut down to the few fields routing reads before the informer caches it, the list
// is read in pages, and only changes to those fields wake the reconciler (node-view.ts).
// We build the ListWatch ourselves (makeInformer is `new ListWatch(path, new Watch(kc), list, false)`)
// to pass it a watch that refuses to open after stop() and reports when a stream is established,
// and a reconnect delay that stop() can cut short: ListWatch does not check `stopped` after its
// list or its delay, so a stop() at the wrong moment would leave a watch open (and the process up).
// Requests go over node:http(s) (kube-http.ts); client-node supplies the kubeconfig and the informer.
import os from 'node:os';
import path from 'node:path';
// client-node's modules by path: its index also loads exec, attach, cp and port-forward (ws, tar).
import { ListWatch } from '@kubernetes/client-node/dist/cache.js';
import { KubeConfig } from '@kubernetes/client-node/dist/config.js';
import type { V1Node } from '@kubernetes/client-node/dist/gen/models/V1Node.js';
import type { V1NodeSystemInfo } from '@kubernetes/client-node/dist/gen/models/V1NodeSystemInfo.js';
import type { Watch } from '@kubernetes/client-node/dist/watch.js';
import type { Logger } from '../lib/log.ts';
import { KubeWatch, kubeRequest, type QueryParams } from './kube-http.ts';
import type { Metrics } from './metrics.ts';
import { ETH1_ANNOTATION, type ClusterNode } from './node-info.ts';
import type { NodeSource, NodeStatusApi } from './node-source.ts';
import { NodeView } from './node-view.ts';

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
  backoff?: { initialMs: number; maxMs: number };
  /** A watch silent this long is reopened (default 30 s, kube-http.ts). */
  watchInactivityMs?: number;
}

const NODES_PATH = '/api/v1/nodes';
/**
 * The Node list is read in pages (a consistent snapshot, as client-go's pager does): a real Node is
 * ~11 KB of JSON (images, managedFields), so one 5,000-node response is ~56 MB of text and several
 * times that once parsed. Pages of 100 kept the agent's peak RSS ~40 MiB lower than pages of 500
 * (bench/AGENT.md), for ~50 small requests instead of 10.
 */
const LIST_PAGE_SIZE = 100;
/** A continue token can expire mid-list (410); the list then starts over, this many times at most. */
const LIST_ATTEMPTS = 3;
const DEFAULT_BACKOFF = { initialMs: 1000, maxMs: 30_000 };
/** No request but the watch may hang forever (the watch ends after 30 s of silence, kube-http.ts). */
const REQUEST_TIMEOUT_MS = 30_000;

/** Pure: the parts of a Node the agent uses. */
export function toClusterNode(node: V1Node): ClusterNode {
  const spec = node.spec ?? {};
  const podCIDRs = spec.podCIDRs?.length ? [...spec.podCIDRs] : spec.podCIDR ? [spec.podCIDR] : [];
  const eth1 = node.metadata?.annotations?.[ETH1_ANNOTATION];
  const runtime = node.status?.nodeInfo?.containerRuntimeVersion || undefined;
  return {
    name: node.metadata?.name ?? '',
    podCIDRs,
    internalIPs: (node.status?.addresses ?? []).filter((a) => a.type === 'InternalIP').map((a) => a.address),
    annotations: eth1 === undefined ? {} : { [ETH1_ANNOTATION]: eth1 },
    ...(runtime !== undefined && { containerRuntimeVersion: runtime }),
  };
}

/**
 * Pure: a Node cut down to what the agent reads plus what the informer's cache needs (name,
 * resourceVersion). Applied to every object before the cache sees it, so 5,000 Nodes cost a few
 * MB instead of their images, conditions and managedFields.
 */
export function slimNode(node: V1Node): V1Node {
  const metadata = node.metadata ?? {};
  const eth1 = metadata.annotations?.[ETH1_ANNOTATION];
  const runtime = node.status?.nodeInfo?.containerRuntimeVersion;
  return {
    metadata: { name: metadata.name, resourceVersion: metadata.resourceVersion, ...(eth1 !== undefined && { annotations: { [ETH1_ANNOTATION]: eth1 } }) },
    spec: { podCIDR: node.spec?.podCIDR, podCIDRs: node.spec?.podCIDRs },
    status: {
      addresses: node.status?.addresses?.filter((a) => a.type === 'InternalIP'),
      ...(runtime && { nodeInfo: { containerRuntimeVersion: runtime } as V1NodeSystemInfo }),
    },
  };
}

export function createKubeNodeSource(options: KubeOptions): NodeSource {
  const kc = loadKubeConfig(options.kubeconfig);
  const backoff = options.backoff ?? DEFAULT_BACKOFF;
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
    let stopped = false;
    let listed = false;
    let failures = 0;
    let restartTimer: NodeJS.Timeout | undefined;
    const pendingDelays = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();

    const list = async () => {
      const result = await listAllNodes(() => AbortSignal.any([abort.signal, AbortSignal.timeout(REQUEST_TIMEOUT_MS)]));
      if (stopped) throw new Error('node source stopped');
      listed = true;
      return result;
    };
    const watch = new GuardedWatch(new KubeWatch(kc, options.watchInactivityMs), {
      active: () => !stopped,
      opened: () => {
        if (!listed) return;
        failures = 0;
        setConnected(true);
      },
    });
    const delayFn = (ms: number) =>
      new Promise<void>((resolve) => {
        // ListWatch's own reconnect delay after clean closes, capped by our backoff; cut short by stop().
        const entry = {
          resolve,
          timer: setTimeout(() => {
            pendingDelays.delete(entry);
            resolve();
          }, Math.min(ms, backoff.maxMs)),
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
      if (stopped || restartTimer) return; // errors after stop() are our own aborts
      setConnected(false);
      const delayMs = Math.min(backoff.initialMs * 2 ** failures, backoff.maxMs);
      failures += 1;
      log.warn({ error: summarize(error), failures, restartInMs: delayMs }, 'node informer stopped on an error; restarting it');
      restartTimer = setTimeout(() => {
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
      clearTimeout(restartTimer);
      abort.abort();
      for (const entry of pendingDelays) {
        clearTimeout(entry.timer);
        entry.resolve();
      }
      pendingDelays.clear();
      void lw.stop();
    };
  }

  /** Every Node, slimmed page by page; restarted from the first page if a continue token expires. */
  async function listAllNodes(signal: () => AbortSignal): Promise<{ metadata: { resourceVersion?: string }; items: V1Node[] }> {
    for (let attempt = 1; ; attempt++) {
      const items: V1Node[] = [];
      let resourceVersion: string | undefined;
      let token: string | undefined;
      try {
        do {
          const page = await listNodePage(kc, token, signal());
          for (const node of page.items ?? []) items.push(slimNode(node));
          resourceVersion = page.metadata?.resourceVersion;
          token = page.metadata?.continue || undefined;
        } while (token);
        return { metadata: { resourceVersion }, items };
      } catch (error) {
        if (!(token !== undefined && httpCode(error) === 410 && attempt < LIST_ATTEMPTS)) throw error; // only a continued page expires
        log.info({ attempt }, 'the node list snapshot expired between pages; listing again');
      }
    }
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
 * One page of the Node list as plain JSON. Not CoreV1Api.listNode: its model deserialization copies
 * every field of every Node, which slimNode then drops: at 5,000 kubelet-shaped Nodes that cost
 * ~0.6 s and ~50 MiB of peak RSS (bench:agent).
 */
async function listNodePage(kc: KubeConfig, token: string | undefined, signal: AbortSignal): Promise<{ items?: V1Node[]; metadata?: { resourceVersion?: string; continue?: string } }> {
  const text = await kubeRequest(kc, { method: 'GET', path: NODES_PATH, query: { limit: LIST_PAGE_SIZE, continue: token }, signal });
  return JSON.parse(text) as { items?: V1Node[]; metadata?: { resourceVersion?: string; continue?: string } };
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

export function createKubeNodeApi(options: { kubeconfig?: KubeOptions['kubeconfig']; log: Logger }): NodeStatusApi {
  const kc = loadKubeConfig(options.kubeconfig);
  const log = options.log.child({ component: 'kube' });
  const nodePath = (name: string) => `${NODES_PATH}/${encodeURIComponent(name)}`;
  const readNode = async (name: string) => JSON.parse(await kubeRequest(kc, { method: 'GET', path: nodePath(name), signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })) as V1Node;
  const patch = (path: string, contentType: string, json: unknown) => kubeRequest(kc, { method: 'PATCH', path, body: { contentType, json }, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });

  return {
    async publishEth1Address(nodeName, ip) {
      try {
        const node = await readNode(nodeName);
        if (node.metadata?.annotations?.[ETH1_ANNOTATION] === ip) return;
        // A JSON merge patch touches this one annotation and leaves the others alone.
        await patch(nodePath(nodeName), 'application/merge-patch+json', { metadata: { annotations: { [ETH1_ANNOTATION]: ip } } });
        log.info({ node: nodeName, ip }, `published ${ETH1_ANNOTATION}`);
      } catch (error) {
        throw apiError(`publishing ${ETH1_ANNOTATION} on node ${nodeName}`, error);
      }
    },

    async setNetworkUnavailable(nodeName, unavailable, message) {
      try {
        const status = unavailable ? 'True' : 'False';
        const reason = unavailable ? 'BridgewayIsDown' : 'BridgewayIsUp';
        const node = await readNode(nodeName);
        const current = node.status?.conditions?.find((c) => c.type === 'NetworkUnavailable');
        if (current && current.status === status && current.reason === reason && current.message === message) return;
        const now = rfc3339(new Date());
        // lastTransitionTime only moves when the status flips.
        const since = current?.status === status && current.lastTransitionTime ? rfc3339(new Date(current.lastTransitionTime)) : now;
        const condition = { type: 'NetworkUnavailable', status, reason, message, lastTransitionTime: since, lastHeartbeatTime: now };
        // Strategic merge: conditions merge by `type`; a JSON merge patch would replace the whole
        // list and wipe kubelet's Ready/MemoryPressure/... conditions.
        await patch(`${nodePath(nodeName)}/status`, 'application/strategic-merge-patch+json', { status: { conditions: [condition] } });
        log.info({ node: nodeName, status, reason, message }, 'set NetworkUnavailable');
      } catch (error) {
        throw apiError(`setting NetworkUnavailable on node ${nodeName}`, error);
      }
    },

    async recordNodeEvent(nodeName, event) {
      // Node events live in "default", as kubelet's do, so `kubectl describe node` shows them.
      const now = rfc3339(new Date());
      const body = {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { generateName: `${nodeName}.`, namespace: 'default' },
        involvedObject: { apiVersion: 'v1', kind: 'Node', name: nodeName, uid: nodeName },
        type: event.type,
        reason: event.reason,
        message: event.message,
        source: { component: 'bridgeway-agent', host: nodeName },
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      };
      try {
        await kubeRequest(kc, { method: 'POST', path: '/api/v1/namespaces/default/events', body: { contentType: 'application/json', json: body }, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
        log.info({ node: nodeName, reason: event.reason }, 'recorded a Node event');
      } catch (error) {
        throw apiError(`recording event ${event.reason} on node ${nodeName}`, error);
      }
    },
  };
}

/**
 * An explicit kubeconfig path; else in-cluster (service account) when running in a pod; else
 * $KUBECONFIG (colon-separated, as kubectl); else ~/.kube/config. Throws when none can be loaded.
 * A KubeConfig already loaded is returned as it is.
 */
export function loadKubeConfig(file?: string | KubeConfig): KubeConfig {
  if (file instanceof KubeConfig) return file;
  const kc = new KubeConfig();
  if (file) kc.loadFromFile(file);
  else if (process.env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
  else if (process.env.KUBECONFIG) kc.loadFromDefault();
  else kc.loadFromFile(path.join(os.homedir(), '.kube', 'config'));
  if (!kc.getCurrentCluster()) throw new Error(`kubeconfig ${file ?? '(default)'}: no current cluster`);
  return kc;
}

function rfc3339(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function httpCode(error: unknown): number | undefined {
  const e = error as { code?: unknown; statusCode?: unknown } | null;
  return typeof e?.statusCode === 'number' ? e.statusCode : typeof e?.code === 'number' ? e.code : undefined;
}

/** A one-line description of an API error (the message of the server's Status) or a network error. */
function summarize(error: unknown): { message: string; code?: number | string } {
  if (typeof error !== 'object' || error === null) return { message: String(error) };
  const e = error as { body?: unknown; message?: unknown; code?: unknown };
  const code = httpCode(error);
  if (code !== undefined) return { message: statusMessage(e.body) ?? firstLine(e.message), code };
  // A network error from node:http(s) carries its errno name (ECONNREFUSED, ...) in `code`.
  return typeof e.code === 'string' ? { message: firstLine(e.message), code: e.code } : { message: firstLine(e.message) };
}

function statusMessage(body: unknown): string | undefined {
  try {
    const status: unknown = typeof body === 'string' ? JSON.parse(body) : body;
    if (typeof status === 'object' && status !== null && 'message' in status && typeof status.message === 'string') return status.message;
  } catch {
    // not a Status
  }
  return undefined;
}

function firstLine(message: unknown): string {
  return String(message ?? 'unknown error').split('\n')[0]!;
}

function apiError(what: string, error: unknown): Error {
  const { message, code } = summarize(error);
  return new Error(`${what}: ${typeof code === 'number' ? `${code} ` : ''}${message}`, { cause: error }); // an errno name is in the message already
}
