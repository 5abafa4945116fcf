// Step: this sync's view of the node list, this node in it, and its podCIDRs as the cluster CIDR
// wants them. Taken once at the start: the list may change while the steps after it wait on the
// kernel or the API, and every step must plan from the same view.
import type { IpCidr } from '../../lib/cidr.ts';
import type { NodeFacts, NodeListView } from '../loop/sync.ts';
import type { SyncStep } from '../loop/step.ts';
import { ownPodCidrs } from './peers.ts';
import type { NodeSource } from './source.ts';

export class NodeListStep implements SyncStep<NodeFacts, 'node-view'> {
  readonly name = 'node-view';
  private readonly deps: { source: NodeSource; nodeName: string; clusterCIDRs: readonly IpCidr[] };

  constructor(deps: { source: NodeSource; nodeName: string; clusterCIDRs: readonly IpCidr[] }) {
    this.deps = deps;
  }

  run(facts: NodeFacts): void {
    facts.view = this.view();
  }

  view(): NodeListView {
    const { source, nodeName, clusterCIDRs } = this.deps;
    const nodes = source.nodes();
    const self = nodes.find((n) => n.name === nodeName);
    return { listed: source.connected(), nodes, self, own: self ? ownPodCidrs(self, clusterCIDRs) : undefined };
  }
}
