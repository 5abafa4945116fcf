// Pure: the node list as the reconciler sees it, kept up to date from informer events. Only a
// change to what routing reads (podCIDRs, InternalIPs, our eth1 annotation) counts as a change:
// kubelet rewrites its Node's status on heartbeats, image pulls and condition flips, which at
// 5,000 nodes is several updates a second, and each would otherwise cost a full sync.
import { ETH1_ANNOTATION, type ClusterNode } from './node-info.ts';

/** What routing depends on; equal keys mean no sync is needed. */
function routingKey(node: ClusterNode): string {
  return JSON.stringify([node.podCIDRs, node.internalIPs, node.annotations[ETH1_ANNOTATION] ?? null]);
}

export class NodeView {
  private readonly byName = new Map<string, { node: ClusterNode; key: string }>();
  private sorted: ClusterNode[] | undefined;

  /** Adds or updates a node; true when what routing reads changed. */
  upsert(node: ClusterNode): boolean {
    const key = routingKey(node);
    const known = this.byName.get(node.name);
    if (known?.key === key) return false;
    this.byName.set(node.name, { node, key });
    this.sorted = undefined;
    return true;
  }

  /** Forgets a node; true when it was known. */
  remove(name: string): boolean {
    if (!this.byName.delete(name)) return false;
    this.sorted = undefined;
    return true;
  }

  /** Every node, sorted by name (the same array until the next change: callers must not mutate it). */
  list(): ClusterNode[] {
    this.sorted ??= [...this.byName.values()].map((entry) => entry.node).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return this.sorted;
  }
}
