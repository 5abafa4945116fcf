// Pure: the cluster's nodes, whatever their source (Kubernetes API or a nodes file), as the
// peers we route to.
import { looksLikeIpv6, networkAddress, parseIpv4, parseIpv4Cidr, type Ipv4Cidr } from '../lib/cidr.ts';

/** The annotation where each agent publishes its own eth1 address. */
export const ETH1_ANNOTATION = 'bridgeway.io/eth1-ip';

/** The parts of a Kubernetes Node (or a nodes-file entry) the agent uses. */
export interface ClusterNode {
  name: string;
  /** spec.podCIDRs (or [spec.podCIDR]); IPv6 entries are ignored. */
  podCIDRs: string[];
  /** status.addresses of type InternalIP. */
  internalIPs: string[];
  annotations: Record<string, string>;
  /**
   * status.nodeInfo.containerRuntimeVersion, e.g. `containerd://1.7.22`: which CNI versions the
   * node's runtime speaks. Absent in nodes files and before kubelet reports it.
   */
  containerRuntimeVersion?: string;
}

export interface Peer {
  name: string;
  podCIDR: Ipv4Cidr;
  /** Where to send its pods' traffic. */
  gateway: number;
  gatewaySource: 'annotation' | 'InternalIP';
}

export type PeerProblem = { name: string; reason: string };

export function podCidrOf(node: ClusterNode): Ipv4Cidr | undefined {
  for (const text of node.podCIDRs) {
    if (looksLikeIpv6(text)) continue;
    const cidr = parseIpv4Cidr(text);
    if (cidr) return { address: networkAddress(cidr), prefixLength: cidr.prefixLength };
  }
  return undefined;
}

/** The peer's eth1 address: its own published annotation first, else its first IPv4 InternalIP. */
export function gatewayOf(node: ClusterNode): { ip: number; source: Peer['gatewaySource'] } | undefined {
  const annotated = node.annotations[ETH1_ANNOTATION];
  const fromAnnotation = annotated ? parseIpv4(annotated) : undefined;
  if (fromAnnotation !== undefined) return { ip: fromAnnotation, source: 'annotation' };
  for (const text of node.internalIPs) {
    const ip = parseIpv4(text);
    if (ip !== undefined) return { ip, source: 'InternalIP' };
  }
  return undefined;
}

/** Every other node that can be routed to, and why the rest cannot. */
export function peersOf(nodes: readonly ClusterNode[], self: string): { peers: Peer[]; problems: PeerProblem[] } {
  const peers: Peer[] = [];
  const problems: PeerProblem[] = [];
  for (const node of nodes) {
    if (node.name === self) continue;
    const podCIDR = podCidrOf(node);
    if (!podCIDR) {
      problems.push({ name: node.name, reason: node.podCIDRs.length ? `no IPv4 podCIDR in ${node.podCIDRs.join(', ')}` : 'no podCIDR yet' });
      continue;
    }
    const gateway = gatewayOf(node);
    if (!gateway) {
      problems.push({ name: node.name, reason: `no ${ETH1_ANNOTATION} annotation and no IPv4 InternalIP` });
      continue;
    }
    peers.push({ name: node.name, podCIDR, gateway: gateway.ip, gatewaySource: gateway.source });
  }
  peers.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { peers, problems };
}

/** True when routing reads the same of both: podCIDRs, InternalIPs and our annotation. */
export function sameRoutingFacts(a: ClusterNode, b: ClusterNode): boolean {
  const sameList = (x: readonly string[], y: readonly string[]) => x.length === y.length && x.every((item, i) => item === y[i]);
  return a.annotations[ETH1_ANNOTATION] === b.annotations[ETH1_ANNOTATION] && sameList(a.podCIDRs, b.podCIDRs) && sameList(a.internalIPs, b.internalIPs)
    // A runtime upgrade can change the conflist's cniVersion (rare: one sync per upgrade).
    && a.containerRuntimeVersion === b.containerRuntimeVersion;
}

/**
 * The nodes whose routing facts differ between two lists: `before` holds the changed and removed
 * ones as they were, `after` the changed and added ones as they are.
 */
export function changedNodes(before: readonly ClusterNode[], after: readonly ClusterNode[]): { before: ClusterNode[]; after: ClusterNode[] } {
  const previous = new Map(before.map((node) => [node.name, node]));
  const changed = { before: [] as ClusterNode[], after: [] as ClusterNode[] };
  for (const node of after) {
    const old = previous.get(node.name);
    previous.delete(node.name);
    if (old && (old === node || sameRoutingFacts(old, node))) continue;
    if (old) changed.before.push(old);
    changed.after.push(node);
  }
  changed.before.push(...previous.values());
  return changed;
}
