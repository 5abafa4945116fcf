// What the agent writes to the Kubernetes API, all about its own Node: the eth1 annotation its
// peers route by, the NetworkUnavailable condition, and Events an admin must act on. Each write
// reads first and skips a write that would change nothing; each failure rejects with one line
// naming what failed (errors.ts).
import type { Logger } from '../../lib/log.ts';
import { realClock, type Clock } from '../loop/clock.ts';
import { loadKubeConfig, type KubeConfig } from './config.ts';
import { apiError } from './errors.ts';
import { REQUEST_TIMEOUT_MS, kubeRequest } from './http.ts';
import { nodePath, type V1Node } from './node.ts';
import type { NodeStatusApi } from '../nodes/source.ts';
import { ETH1_ANNOTATION, NETWORK_UNAVAILABLE_REASONS } from '../../lib/names.ts';

export interface KubeStatusOptions {
  /** A kubeconfig path or one already loaded (loadKubeConfig). */
  kubeconfig?: string | KubeConfig;
  log: Logger;
  /** Timestamps of conditions and events (default: the wall clock). */
  clock?: Pick<Clock, 'now'>;
}

/** Node events live in "default", as kubelet's do, so that `kubectl describe node` shows them. */
const EVENTS_PATH = '/api/v1/namespaces/default/events';
const EVENT_SOURCE = 'bridgeway-agent';

export function createKubeNodeApi(options: KubeStatusOptions): NodeStatusApi {
  const kc = loadKubeConfig(options.kubeconfig);
  const log = options.log.child({ component: 'kube' });
  const clock = options.clock ?? realClock;
  const now = () => rfc3339(new Date(clock.now()));
  const signal = () => AbortSignal.timeout(REQUEST_TIMEOUT_MS);
  const readNode = async (name: string) => JSON.parse(await kubeRequest(kc, { method: 'GET', path: nodePath(name), signal: signal() })) as V1Node;
  const patch = (path: string, contentType: string, json: unknown) => kubeRequest(kc, { method: 'PATCH', path, body: { contentType, json }, signal: signal() });

  return {
    async publishEth1Address(nodeName, ip, annotation = ETH1_ANNOTATION) {
      try {
        const node = await readNode(nodeName);
        if (node.metadata?.annotations?.[annotation] === ip) return;
        // A JSON merge patch touches this one annotation and leaves the others alone.
        await patch(nodePath(nodeName), 'application/merge-patch+json', { metadata: { annotations: { [annotation]: ip } } });
        log.info({ node: nodeName, ip }, `published ${annotation}`);
      } catch (error) {
        throw apiError(`publishing ${annotation} on node ${nodeName}`, error);
      }
    },

    async setNetworkUnavailable(nodeName, unavailable, message) {
      try {
        const status = unavailable ? 'True' : 'False';
        const reason = unavailable ? NETWORK_UNAVAILABLE_REASONS.down : NETWORK_UNAVAILABLE_REASONS.up;
        const node = await readNode(nodeName);
        const current = node.status?.conditions?.find((c) => c.type === 'NetworkUnavailable');
        if (current && current.status === status && current.reason === reason && current.message === message) return;
        const at = now();
        // lastTransitionTime only moves when the status flips.
        const since = current?.status === status && current.lastTransitionTime ? rfc3339(new Date(current.lastTransitionTime)) : at;
        const condition = { type: 'NetworkUnavailable', status, reason, message, lastTransitionTime: since, lastHeartbeatTime: at };
        // Strategic merge: conditions merge by `type`; a JSON merge patch would replace the whole
        // list and wipe kubelet's Ready/MemoryPressure/... conditions.
        await patch(`${nodePath(nodeName)}/status`, 'application/strategic-merge-patch+json', { status: { conditions: [condition] } });
        log.info({ node: nodeName, status, reason, message }, 'set NetworkUnavailable');
      } catch (error) {
        throw apiError(`setting NetworkUnavailable on node ${nodeName}`, error);
      }
    },

    async recordNodeEvent(nodeName, event) {
      const at = now();
      const body = {
        apiVersion: 'v1',
        kind: 'Event',
        // The server completes the name. kubelet's own Node events also use the name as the uid.
        metadata: { generateName: `${nodeName}.`, namespace: 'default' },
        involvedObject: { apiVersion: 'v1', kind: 'Node', name: nodeName, uid: nodeName },
        type: event.type,
        reason: event.reason,
        message: event.message,
        source: { component: EVENT_SOURCE, host: nodeName },
        firstTimestamp: at,
        lastTimestamp: at,
        count: 1,
      };
      try {
        await kubeRequest(kc, { method: 'POST', path: EVENTS_PATH, body: { contentType: 'application/json', json: body }, signal: signal() });
        log.info({ node: nodeName, type: event.type, reason: event.reason }, 'recorded a Node event');
      } catch (error) {
        throw apiError(`recording event ${event.reason} on node ${nodeName}`, error);
      }
    },
  };
}

/** Kubernetes timestamps have whole seconds (metav1.Time). */
function rfc3339(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
