// Pure: a Kubernetes Node as the agent keeps it. The informer caches every Node of the cluster,
// so each one is cut down (slimNode) before the cache sees it, and routing reads the few fields
// it needs as a ClusterNode (toClusterNode).
import type { V1Node } from '@kubernetes/client-node/dist/gen/models/V1Node.js';
import type { V1NodeSystemInfo } from '@kubernetes/client-node/dist/gen/models/V1NodeSystemInfo.js';
import { type ClusterNode } from '../nodes/peers.ts';
import { ETH1_ANNOTATIONS } from '../../lib/names.ts';

export type { V1Node };

export const NODES_PATH = '/api/v1/nodes';

export function nodePath(name: string): string {
  return `${NODES_PATH}/${encodeURIComponent(name)}`;
}

/** The parts of a Node the agent uses. */
export function toClusterNode(node: V1Node): ClusterNode {
  const spec = node.spec ?? {};
  const podCIDRs = spec.podCIDRs?.length ? [...spec.podCIDRs] : spec.podCIDR ? [spec.podCIDR] : [];
  const annotations = ourAnnotations(node.metadata?.annotations);
  const runtime = node.status?.nodeInfo?.containerRuntimeVersion || undefined;
  return {
    name: node.metadata?.name ?? '',
    podCIDRs,
    internalIPs: (node.status?.addresses ?? []).filter((a) => a.type === 'InternalIP').map((a) => a.address),
    annotations: annotations ?? {},
    ...(runtime !== undefined && { containerRuntimeVersion: runtime }),
  };
}

/**
 * A Node cut down to what the agent reads plus what the informer's cache needs (name,
 * resourceVersion). Applied to every object before the cache sees it, so 5,000 Nodes cost a few
 * MB instead of their images, conditions and managedFields. nodeInfo keeps only the runtime's
 * version: it decides the conflist's cniVersion (conflist/cni-version.ts).
 */
export function slimNode(node: V1Node): V1Node {
  const metadata = node.metadata ?? {};
  const annotations = ourAnnotations(metadata.annotations);
  const runtime = node.status?.nodeInfo?.containerRuntimeVersion;
  return {
    metadata: { name: metadata.name, resourceVersion: metadata.resourceVersion, ...(annotations && { annotations }) },
    spec: { podCIDR: node.spec?.podCIDR, podCIDRs: node.spec?.podCIDRs },
    status: {
      addresses: node.status?.addresses?.filter((a) => a.type === 'InternalIP'),
      // Only this field of nodeInfo: the others are required by the type, never read.
      ...(runtime && { nodeInfo: { containerRuntimeVersion: runtime } as V1NodeSystemInfo }),
    },
  };
}

/** Our eth1 annotations (both families) out of all of a Node's, or undefined when it has none. */
function ourAnnotations(all: Record<string, string> | undefined): Record<string, string> | undefined {
  if (!all) return undefined;
  const ours = Object.values(ETH1_ANNOTATIONS).filter((key) => all[key] !== undefined);
  return ours.length ? Object.fromEntries(ours.map((key) => [key, all[key]!])) : undefined;
}
