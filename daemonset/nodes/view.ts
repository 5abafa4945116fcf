// Pure: the node list as the reconciler sees it, kept up to date from informer events. Only a
// change to what the agent reads (podCIDRs, InternalIPs, our eth1 annotation, the runtime's
// version: sameRoutingFacts) counts as a change:
// kubelet rewrites its Node's status on heartbeats, image pulls and condition flips, which at
// 5,000 nodes is several updates a second, and each would otherwise cost a full sync.
import { sameRoutingFacts, type ClusterNode } from './peers.ts';

export class NodeView {
  private readonly byName = new Map<string, ClusterNode>();
  private sorted: ClusterNode[] | undefined;

  /** Adds or updates a node; true when what routing reads changed. */
  upsert(node: ClusterNode): boolean {
    const known = this.byName.get(node.name);
    if (known && sameRoutingFacts(known, node)) return false;
    this.byName.set(node.name, node);
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
    this.sorted ??= [...this.byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return this.sorted;
  }
}
