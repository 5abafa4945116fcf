// Uninstall's part in the API: what the agent put on its own Node goes. That is the eth1
// annotations (bridgeway.io/eth1-ip, -ipv6: a peer would otherwise keep routing by them should
// bridgeway come back) and the NetworkUnavailable condition the agent set.
//
// The condition is removed, not set True. How others leave it: flannel and Cilium set it False
// ("FlannelIsUp", "CiliumIsUp") and never touch it again, so after their removal it still says
// the network is up, and tools that gate on it believe that; Calico sets it True ("CalicoIsDown")
// on shutdown. True makes the node lifecycle controller taint the node
// node.kubernetes.io/network-unavailable:NoSchedule until some network plugin sets it False, and
// many never do (kindnet, the reference plugins configured by hand): no pod would be scheduled
// there again. Removed, the Node is as it was before any network plugin ran (kubelet never sets
// this condition; on bare metal nothing does), and scheduling is still held off until the next
// network is installed: without a conflist the runtime reports NetworkReady=false, and kubelet's
// Ready condition (and its not-ready taint) says so.
//
// Only what is provably ours goes (design rule 6): our annotation keys, and the condition only
// while its reason is one of ours (NETWORK_UNAVAILABLE_REASONS); another plugin's stays.
import type { Logger } from '../../lib/log.ts';
import { ETH1_ANNOTATIONS, NETWORK_UNAVAILABLE_REASONS } from '../../lib/names.ts';
import { loadKubeConfig, type KubeConfig } from './config.ts';
import { apiError } from './errors.ts';
import { REQUEST_TIMEOUT_MS, kubeRequest } from './http.ts';
import { nodePath, type V1Node } from './node.ts';

/** What on a Node is ours to remove, and the patches that remove it (pure). */
export interface NodeMarks {
  /** Our annotation keys present on the Node. */
  annotations: string[];
  /** Our NetworkUnavailable condition: present and ours, someone else's (its reason), or absent. */
  condition: { ours: true } | { ours: false; reason: string } | undefined;
  /** JSON merge patch of metadata (null deletes a key), when there is an annotation to remove. */
  metadataPatch?: { metadata: { annotations: Record<string, null> } };
  /**
   * Strategic merge patch of the status subresource: `$patch: delete` removes the one list element
   * whose merge key (`type`) matches, and leaves kubelet's conditions alone.
   */
  statusPatch?: { status: { conditions: [{ type: 'NetworkUnavailable'; $patch: 'delete' }] } };
}

export function nodeMarks(node: V1Node): NodeMarks {
  const present = node.metadata?.annotations ?? {};
  const annotations = Object.values(ETH1_ANNOTATIONS).filter((key) => present[key] !== undefined);
  const found = node.status?.conditions?.find((c) => c.type === 'NetworkUnavailable');
  const ours = found !== undefined && (Object.values(NETWORK_UNAVAILABLE_REASONS) as string[]).includes(found.reason ?? '');
  const condition: NodeMarks['condition'] = found === undefined ? undefined : ours ? { ours: true } : { ours: false, reason: found.reason ?? '' };
  return {
    annotations,
    condition,
    ...(annotations.length && { metadataPatch: { metadata: { annotations: Object.fromEntries(annotations.map((key) => [key, null])) } } }),
    ...(ours && { statusPatch: { status: { conditions: [{ type: 'NetworkUnavailable', $patch: 'delete' }] } } }),
  };
}

export interface NodeCleanupApi {
  /** Removes our annotations and condition from the Node; resolves with what it did, in words. */
  removeMarks(nodeName: string): Promise<string>;
}

export function createNodeCleanup(options: { kubeconfig?: string | KubeConfig; log: Logger }): NodeCleanupApi {
  const kc = loadKubeConfig(options.kubeconfig);
  const signal = () => AbortSignal.timeout(REQUEST_TIMEOUT_MS);
  return {
    async removeMarks(nodeName) {
      let node: V1Node;
      try {
        node = JSON.parse(await kubeRequest(kc, { method: 'GET', path: nodePath(nodeName), signal: signal() })) as V1Node;
      } catch (error) {
        throw apiError(`reading node ${nodeName}`, error);
      }
      const marks = nodeMarks(node);
      const said: string[] = [];
      if (marks.metadataPatch) {
        try {
          await kubeRequest(kc, { method: 'PATCH', path: nodePath(nodeName), body: { contentType: 'application/merge-patch+json', json: marks.metadataPatch }, signal: signal() });
        } catch (error) {
          throw apiError(`removing ${marks.annotations.join(', ')} from node ${nodeName}`, error);
        }
        said.push(`removed the annotation${marks.annotations.length > 1 ? 's' : ''} ${marks.annotations.join(', ')}`);
      } else {
        said.push('no eth1 annotation of ours');
      }
      if (marks.statusPatch) {
        try {
          await kubeRequest(kc, { method: 'PATCH', path: `${nodePath(nodeName)}/status`, body: { contentType: 'application/strategic-merge-patch+json', json: marks.statusPatch }, signal: signal() });
        } catch (error) {
          throw apiError(`removing the NetworkUnavailable condition from node ${nodeName}`, error);
        }
        said.push('removed its NetworkUnavailable condition');
      } else if (marks.condition && !marks.condition.ours) {
        said.push(`left the NetworkUnavailable condition: its reason ${JSON.stringify(marks.condition.reason)} is not one of ours`);
      } else {
        said.push('no NetworkUnavailable condition');
      }
      options.log.debug({ node: nodeName }, said.join('; '));
      return `node ${nodeName}: ${said.join('; ')}`;
    },
  };
}
