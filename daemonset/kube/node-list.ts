// The Node list, read page by page from one snapshot, every Node slimmed as it arrives: what the
// informer lists (and relists) from, and what the doctor lists to see the nodes as the agent does.
import type { KubeConfig } from './config.ts';
import { httpCode } from './errors.ts';
import { kubeRequest } from './http.ts';
import { NODES_PATH, slimNode, type V1Node } from './node.ts';

/**
 * The Node list is read in pages (a consistent snapshot, as client-go's pager does): a real Node is
 * ~11 KB of JSON (images, managedFields), so one 5,000-node response is ~56 MB of text and several
 * times that once parsed. Pages of 100 kept the agent's peak RSS ~40 MiB lower than pages of 500
 * (bench/AGENT.md), for ~50 small requests instead of 10. Pages of 50 on Bun: peak 1-2 MiB lower,
 * convergence ~1.4 s slower (5,000 nodes), so 100 stays.
 */
const LIST_PAGE_SIZE = 100;
/** A continue token can expire mid-list (410); the list then starts over, this many times at most. */
const LIST_ATTEMPTS = 3;

type NodeList = { metadata: { resourceVersion?: string }; items: V1Node[] };

/** Every Node, slimmed page by page; restarted from the first page if a continue token expires. */
export async function listAllNodes(
  kc: KubeConfig,
  options: { signal: () => AbortSignal; relisting?: (attempt: number) => void; afterPage?: () => void },
): Promise<NodeList> {
  for (let attempt = 1; ; attempt++) {
    const items: V1Node[] = [];
    let resourceVersion: string | undefined;
    let token: string | undefined;
    try {
      do {
        const page = await listNodePage(kc, token, options.signal());
        for (const node of page.items ?? []) items.push(slimNode(node));
        options.afterPage?.(); // the page's full Nodes are garbage now (~1.2 MB of JSON, several times that parsed)
        resourceVersion = page.metadata?.resourceVersion;
        token = page.metadata?.continue || undefined;
      } while (token);
      return { metadata: { resourceVersion }, items };
    } catch (error) {
      if (!(token !== undefined && httpCode(error) === 410 && attempt < LIST_ATTEMPTS)) throw error; // only a continued page expires
      options.relisting?.(attempt);
    }
  }
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
