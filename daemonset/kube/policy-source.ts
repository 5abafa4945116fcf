// The cluster's Pods, Namespaces and NetworkPolicies as the policy compiler reads them: three
// list-watches (list-watch.ts), each object slimmed before it is cached (policy-objects.ts). Only a
// change of what the compiler reads wakes the policy step: kubelet's status updates (conditions,
// container states) change a Pod's resourceVersion, not its slim form, and are dropped here.
import { Backoff, DEFAULT_BACKOFF } from '../loop/backoff.ts';
import { realClock } from '../loop/clock.ts';
import type { PolicySource, PolicyObjects } from '../policy/source.ts';
import type { Namespace, NetworkPolicy, Pod } from '../policy/model.ts';
import { loadKubeConfig } from './config.ts';
import { summarize } from './errors.ts';
import type { KubeOptions } from './informer.ts';
import { runListWatch, type RunningListWatch } from './list-watch.ts';
import { listAll } from './pager.ts';
import { NAMESPACES_PATH, NETWORK_POLICIES_PATH, PODS_PATH, slimNamespace, slimNetworkPolicy, slimPod } from './policy-objects.ts';

/** Pods per page, as Nodes (node-list.ts): a kubelet-made Pod is ~5-10 KB of JSON, a page ~0.5-1 MB before slimming. */
const PAGE_SIZE = 100;

/** The Node informer's options (informer.ts); onChange is called for any change the compiler would see, and the caller debounces. */
export type KubePolicyOptions = KubeOptions;

type Kind = 'pod' | 'namespace' | 'networkpolicy';

interface Collection<T> {
  kind: Kind;
  path: string;
  slim: (object: any) => T;
}

const COLLECTIONS = [
  { kind: 'pod', path: PODS_PATH, slim: slimPod },
  { kind: 'namespace', path: NAMESPACES_PATH, slim: slimNamespace },
  { kind: 'networkpolicy', path: NETWORK_POLICIES_PATH, slim: slimNetworkPolicy },
] as const satisfies readonly Collection<unknown>[];

const keyOf = (o: { metadata: { namespace?: string; name?: string } }) => `${o.metadata.namespace ?? ''}/${o.metadata.name ?? ''}`;
/** What the compiler reads of an object: its slim form without the resourceVersion. */
const contentOf = (o: { metadata: object }) => JSON.stringify(o, (k, v) => (k === 'resourceVersion' ? undefined : v));

export function createKubePolicySource(options: KubePolicyOptions): PolicySource {
  const kc = loadKubeConfig(options.kubeconfig);
  const clock = options.clock ?? realClock;
  const log = options.log.child({ component: 'kube-policy' });
  const restarts = options.metrics.counter('bridgeway_policy_informer_restarts_total', 'Times a policy informer (pods, namespaces, networkpolicies) stopped on an error and was restarted.');
  const connectedGauge = options.metrics.gauge('bridgeway_policy_informer_connected', '1 when the list of this kind succeeded and its watch stream is open.');
  const state = new Map<Kind, { connected: boolean; listed: boolean; running?: RunningListWatch<any>; objects: Map<string, string> }>();
  for (const c of COLLECTIONS) {
    state.set(c.kind, { connected: false, listed: false, objects: new Map() });
    connectedGauge.set(0, { kind: c.kind });
  }

  const changed = () => {
    try {
      options.onChange();
    } catch (error) {
      log.error({ error: summarize(error) }, 'onChange threw');
    }
  };

  function start(c: Collection<any>): void {
    const s = state.get(c.kind)!;
    s.objects.clear(); // a new informer starts from an empty cache
    const backoff = new Backoff(options.backoff ?? DEFAULT_BACKOFF);
    s.running = runListWatch<any>({
      kc, path: c.path, kind: c.kind, log, backoff, clock, watchInactivityMs: options.watchInactivityMs,
      list: (signal) => listAll(kc, c.path, c.slim, {
        pageSize: PAGE_SIZE, signal, afterPage: options.afterPage,
        relisting: (attempt) => log.info({ attempt, kind: c.kind }, 'the list snapshot expired between pages; listing again'),
      }),
      slim: c.slim,
      on: {
        upsert: (object) => {
          const content = contentOf(object);
          const key = keyOf(object);
          if (s.objects.get(key) === content) return;
          s.objects.set(key, content);
          changed();
        },
        remove: (object) => {
          if (s.objects.delete(keyOf(object))) changed();
        },
      },
      connected: (value) => {
        if (value && !s.connected) log.info({ kind: c.kind }, 'watch established');
        const wasSynced = synced();
        s.connected = value;
        if (value) s.listed = true;
        connectedGauge.set(value ? 1 : 0, { kind: c.kind });
        if (!wasSynced && synced()) changed(); // the first complete view: compile it
      },
      restarted: () => restarts.inc({ kind: c.kind }),
    });
  }

  /** Every kind listed once since start(): before that an empty cache is no news, and must not be compiled. */
  const synced = () => [...state.values()].every((s) => s.listed);
  const listOf = <T>(kind: Kind): T[] => (state.get(kind)!.running?.list() ?? []) as T[];

  return {
    start() {
      for (const c of COLLECTIONS) if (!state.get(c.kind)!.running) start(c);
    },
    stop() {
      for (const s of state.values()) {
        s.running?.stop();
        s.running = undefined;
        s.connected = false;
        s.listed = false;
      }
    },
    synced,
    connected: () => [...state.values()].every((s) => s.connected),
    objects(): PolicyObjects {
      return { pods: listOf<Pod>('pod'), namespaces: listOf<Namespace>('namespace'), policies: listOf<NetworkPolicy>('networkpolicy') };
    },
  };
}
