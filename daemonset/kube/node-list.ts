// The Node list, read page by page from one snapshot, every Node slimmed as it arrives: what the
// informer lists (and relists) from, and what the doctor lists to see the nodes as the agent does.
import type { KubeConfig } from './config.ts';
import { NODES_PATH, slimNode, type V1Node } from './node.ts';
import { listAll, type ObjectList } from './pager.ts';

/**
 * The Node list is read in pages (a consistent snapshot, as client-go's pager does): a real Node is
 * ~11 KB of JSON (images, managedFields), so one 5,000-node response is ~56 MB of text and several
 * times that once parsed. Pages of 100 kept the agent's peak RSS ~40 MiB lower than pages of 500
 * (bench/AGENT.md), for ~50 small requests instead of 10. Pages of 50 on Bun: peak 1-2 MiB lower,
 * convergence ~1.4 s slower (5,000 nodes), so 100 stays.
 */
const LIST_PAGE_SIZE = 100;

/** Every Node, slimmed page by page; restarted from the first page if a continue token expires. */
export function listAllNodes(
  kc: KubeConfig,
  options: { signal: () => AbortSignal; relisting?: (attempt: number) => void; afterPage?: () => void },
): Promise<ObjectList<V1Node>> {
  // Not CoreV1Api.listNode: its model deserialization copies every field of every Node, which
  // slimNode then drops: at 5,000 kubelet-shaped Nodes that cost ~0.6 s and ~50 MiB of peak RSS
  // (bench:agent). afterPage runs when a page's full Nodes are garbage (~1.2 MB of JSON, several
  // times that parsed).
  return listAll(kc, NODES_PATH, slimNode, { pageSize: LIST_PAGE_SIZE, ...options });
}
