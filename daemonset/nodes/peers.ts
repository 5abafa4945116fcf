// Pure: the cluster's nodes, whatever their source (Kubernetes API or a nodes file), as the
// peers we route to.
import {
  cidrNetwork, formatCidr, parseCidr, parseIp,
  type IpAddress, type IpCidr, type IpFamily,
} from '../../lib/cidr.ts';

import { ETH1_ANNOTATION, ETH1_ANNOTATIONS, ETH1_IPV6_ANNOTATION } from '../../lib/names.ts';

/** The parts of a Kubernetes Node (or a nodes-file entry) the agent uses. */
export interface ClusterNode {
  name: string;
  /** spec.podCIDRs (or [spec.podCIDR]): at most one per family. */
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

/** One route's worth of a peer: its podCIDR of one family and where to send that traffic. */
export interface Peer {
  name: string;
  family: IpFamily;
  podCIDR: IpCidr;
  /** Where to send its pods' traffic: its eth1 address of the same family. */
  gateway: IpAddress;
  gatewaySource: 'annotation' | 'InternalIP';
}

/**
 * Why a peer (of one family) is not routed. `pending`: it has not yet published what its route
 * needs (no podCIDR yet, no address): what every peer looks like while it joins or while the
 * cluster is installed, as opposed to a value that is wrong.
 */
export type PeerProblem = { name: string; family?: IpFamily; reason: string; pending?: true };

/** The node's IPv4 podCIDR (as its network address), if it has one. */
export function podCidrOf(node: ClusterNode): IpCidr | undefined {
  for (const text of node.podCIDRs) {
    const cidr = parseCidr(text);
    if (cidr?.family === 4) return { family: 4, address: cidrNetwork(cidr), prefixLength: cidr.prefixLength };
  }
  return undefined;
}

/**
 * The node's podCIDRs by family (network addresses), or why they cannot be used: Kubernetes
 * allows at most one per family, and a value that is no CIDR is as wrong.
 */
export function podCidrsOf(node: ClusterNode): { cidrs: Partial<Record<IpFamily, IpCidr>>; error?: string } {
  const cidrs: Partial<Record<IpFamily, IpCidr>> = {};
  for (const text of node.podCIDRs) {
    const cidr = parseCidr(text);
    if (!cidr) return { cidrs: {}, error: `podCIDRs: ${JSON.stringify(text)} is not a CIDR` };
    const same = cidrs[cidr.family];
    if (same) return { cidrs: {}, error: `podCIDRs has two IPv${cidr.family} CIDRs (${formatCidr(same)}, ${text}): at most one per family` };
    cidrs[cidr.family] = { family: cidr.family, address: cidrNetwork(cidr), prefixLength: cidr.prefixLength };
  }
  return { cidrs };
}

/**
 * The peer's eth1 address of a family: its own published annotation first, else its first
 * InternalIP of that family. An annotation holding the other family is an error, not a fallback.
 */
function gatewayOf(node: ClusterNode, family: IpFamily = 4): { ip: IpAddress; source: Peer['gatewaySource'] } | { error: string } | undefined {
  const key = ETH1_ANNOTATIONS[family];
  const annotated = node.annotations[key];
  if (annotated) {
    const ip = parseIp(annotated);
    if (!ip) return { error: `its ${key} annotation ${JSON.stringify(annotated)} is not an IP address` };
    if (ip.family !== family) return { error: `its ${key} annotation holds an IPv${ip.family} address (${annotated}), not IPv${family}` };
    return { ip, source: 'annotation' };
  }
  for (const text of node.internalIPs) {
    const ip = parseIp(text);
    if (ip?.family === family) return { ip, source: 'InternalIP' };
  }
  return undefined;
}

/**
 * Every other node that can be routed to, one Peer per family the cluster uses, and why the rest
 * cannot. A peer with one of the families only is routed for that one; the other is a problem.
 */
export function peersOf(nodes: readonly ClusterNode[], self: string, families: readonly IpFamily[] = [4]): { peers: Peer[]; problems: PeerProblem[] } {
  const peers: Peer[] = [];
  const problems: PeerProblem[] = [];
  for (const node of nodes) {
    if (node.name === self) continue;
    const { cidrs, error } = podCidrsOf(node);
    if (error) {
      problems.push({ name: node.name, reason: error });
      continue;
    }
    if (node.podCIDRs.length === 0) {
      problems.push({ name: node.name, reason: 'no podCIDR yet', pending: true });
      continue;
    }
    for (const family of families) {
      const podCIDR = cidrs[family];
      if (!podCIDR) {
        problems.push({ name: node.name, family, reason: `no IPv${family} podCIDR in ${node.podCIDRs.join(', ')}` });
        continue;
      }
      const gateway = gatewayOf(node, family);
      if (!gateway) {
        problems.push({ name: node.name, family, reason: `no ${ETH1_ANNOTATIONS[family]} annotation and no IPv${family} InternalIP`, pending: true });
        continue;
      }
      if ('error' in gateway) {
        problems.push({ name: node.name, family, reason: gateway.error });
        continue;
      }
      peers.push({ name: node.name, family, podCIDR, gateway: gateway.ip, gatewaySource: gateway.source });
    }
  }
  peers.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.family - b.family));
  return { peers, problems };
}

/** True when routing reads the same of both: podCIDRs, InternalIPs and our annotation. */
export function sameRoutingFacts(a: ClusterNode, b: ClusterNode): boolean {
  const sameList = (x: readonly string[], y: readonly string[]) => x.length === y.length && x.every((item, i) => item === y[i]);
  return a.annotations[ETH1_ANNOTATION] === b.annotations[ETH1_ANNOTATION] && a.annotations[ETH1_IPV6_ANNOTATION] === b.annotations[ETH1_IPV6_ANNOTATION]
    && sameList(a.podCIDRs, b.podCIDRs) && sameList(a.internalIPs, b.internalIPs)
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

/**
 * Our own podCIDRs, one per family of the cluster CIDR (IPv4 first), or why they are not usable:
 * kube-controller-manager allocates one per family of its --cluster-cidr, so a family on one
 * side only means the two are configured differently, and routing half a family would not work.
 */
export function ownPodCidrs(self: ClusterNode, clusterCIDRs: readonly IpCidr[]): { cidrs: IpCidr[] } | { error: string } | { none: true } {
  if (self.podCIDRs.length === 0) return { none: true };
  const { cidrs, error } = podCidrsOf(self);
  if (error) return { error: `node ${self.name}: ${error}` };
  const wanted = new Set(clusterCIDRs.map((c) => c.family));
  for (const family of [4, 6] as const) {
    const own = cidrs[family];
    const cluster = clusterCIDRs.find((c) => c.family === family);
    if (own && !wanted.has(family)) {
      return { error: `node ${self.name} has the IPv${family} podCIDR ${formatCidr(own)} but --cluster-cidr (${clusterCIDRs.map(formatCidr).join(',')}) has no IPv${family} CIDR: the families must match` };
    }
    if (cluster && !own) {
      return { error: `node ${self.name}'s podCIDRs (${self.podCIDRs.join(', ')}) have no IPv${family} CIDR but --cluster-cidr has ${formatCidr(cluster)}: the families must match` };
    }
  }
  return { cidrs: clusterCIDRs.map((c) => cidrs[c.family]!) };
}
