// What one sync knows, as its steps learn it. The first steps learn what the node is (the node
// list, this node's interface) and can run before the node has a podCIDR; the rest program the
// node from those facts once its podCIDRs are known, and leave what the steps after them and
// /readyz need. The reconciler (reconciler.ts) turns the first into the second at the one point
// where a sync may wait.
import type { IpCidr, IpFamily } from '../../lib/cidr.ts';
import type { KernelRoute } from '../../lib/kernel/route.ts';
import type { IptablesMode } from '../../lib/iptables/backend.ts';
import type { CniVersionChoice } from '../conflist/cni-version.ts';
import type { NodeInterface } from '../host/interface.ts';
import type { ClusterNode, ownPodCidrs } from '../nodes/peers.ts';

/** The node list as of one moment: the list may arrive while later steps wait on the kernel or the API. */
export interface NodeListView {
  /** Whether the node list had arrived (a view taken before that is empty, not news). */
  listed: boolean;
  nodes: readonly ClusterNode[];
  self: ClusterNode | undefined;
  /** Our podCIDRs as the cluster CIDR wants them, or why not (undefined: not in the list). */
  own: ReturnType<typeof ownPodCidrs> | undefined;
}

/** The node interface and the main table of both families, read in one `ip` process. */
export interface HostView {
  iface: NodeInterface;
  /** The main table as read now, IPv4 and IPv6 routes. */
  mainTable: KernelRoute[];
}

/** What the first steps learn, each its part (undefined until that step ran). */
export interface NodeFacts {
  /** node-view */
  view?: NodeListView;
  /** read-node-interface */
  host?: HostView;
}

/** What the node's steps program from, and what they leave behind. */
export interface NodeSync {
  nodes: readonly ClusterNode[];
  self: ClusterNode | undefined;
  iface: NodeInterface;
  mainTable: readonly KernelRoute[];
  /** Our podCIDR of each family the cluster uses, IPv4 first. */
  podCIDRs: readonly IpCidr[];
  /** What the steps found, for the steps after them and /readyz. */
  found: {
    /** routes: per family, peer routes in place and peers without one. */
    routes?: Partial<Record<IpFamily, { programmed: number; missing: number }>>;
    /** iptables: the backend our chains are in. */
    iptablesMode?: IptablesMode;
    /** conflist: its cniVersion and why, and why the runtime cannot use it, if it provably cannot. */
    conflist?: { choice: CniVersionChoice; mismatch?: string; held?: string };
  };
}

/** A fact an earlier step sets: reading it before that step ran is a bug in the order of the steps. */
export function learned<T>(value: T | undefined, step: string): T {
  if (value === undefined) throw new Error(`bug: read before step ${step} ran`);
  return value;
}
