// Pure: desired routes to every peer's podCIDR, and the minimal changes from what the kernel has.
import { cidrsOverlap, formatCidr, formatIp, ipCidrContains, sameIp, type IpCidr, type IpFamily } from '../../lib/cidr.ts';
import type { KernelRoute } from '../../lib/kernel/route.ts';
import type { Peer } from '../nodes/peers.ts';
import { ROUTE_PROTO } from '../../lib/names.ts';

export interface DesiredRoute {
  dst: string;
  via: string;
  dev: string;
  peer: string;
}

export interface Unreachable {
  peer: string;
  reason: string;
  /**
   * The peer may not have published its eth1 address yet: the next hop came from its InternalIP
   * (usually another network's address) for want of its annotation (nodes/peers.ts PeerProblem).
   */
  pending?: true;
}

export interface RoutePlan {
  routes: DesiredRoute[];
  unreachable: Unreachable[];
}

export interface LocalInterface {
  name: string;
  /** Its addresses of every family, each with its prefix (so also its connected subnets). */
  addresses: IpCidr[];
}

/**
 * One route per peer and family via its eth1 address of that family. No overlay means the peer
 * must be on one of eth1's connected subnets of that family: otherwise the kernel refuses the
 * next hop, and we say so instead of failing.
 */
export function planRoutes(peers: readonly Peer[], iface: LocalInterface, ownPodCIDRs: IpCidr | readonly IpCidr[]): RoutePlan {
  const routes: DesiredRoute[] = [];
  const unreachable: Unreachable[] = [];
  const own = Array.isArray(ownPodCIDRs) ? ownPodCIDRs : [ownPodCIDRs as IpCidr];
  for (const peer of peers) {
    const dst = formatCidr(peer.podCIDR);
    const gateway = formatIp(peer.gateway);
    const subnets = iface.addresses.filter((a) => a.family === peer.family);
    const clash = own.find((mine) => cidrsOverlap(peer.podCIDR, mine));
    if (clash) {
      unreachable.push({ peer: peer.name, reason: `its podCIDR ${dst} overlaps ours (${formatCidr(clash)})` });
    } else if (subnets.some((a) => sameIp({ family: a.family, value: a.address }, peer.gateway))) {
      unreachable.push({ peer: peer.name, reason: `its address ${gateway} is one of ours on ${iface.name}` });
    } else if (!subnets.some((subnet) => ipCidrContains(subnet, peer.gateway))) {
      unreachable.push({
        peer: peer.name,
        reason: `${gateway} (from its ${peer.gatewaySource}) is not on ${iface.name}'s subnet ` +
          `${subnets.map(formatCidr).join(', ') || `(no IPv${peer.family} address)`}: all nodes must share one L2 segment`,
        ...(peer.gatewaySource === 'InternalIP' && { pending: true as const }),
      });
    } else {
      routes.push({ dst, via: gateway, dev: iface.name, peer: peer.name });
    }
  }
  return { routes, unreachable };
}

/**
 * Our route changes as data, as the plugin's lib/kernel/change.ts keeps its own: each says what it
 * tolerates, and one renderer (routes/ip-batch.ts) spells them for `ip -batch`.
 */
export type RouteChange =
  /**
   * A route to a prefix nobody routed when the table was read. Tolerates "exists": should someone
   * else's route appear after the read, the kernel refuses ours ("File exists") instead of
   * overwriting theirs, and the next sync reports it.
   */
  | { op: 'add-route'; dst: string; via: string; dev: string }
  /** Our route with another next hop: replaced atomically, no moment without a route. Tolerates nothing. */
  | { op: 'replace-route'; dst: string; via: string; dev: string }
  /** Our route to a podCIDR no peer has any more. Tolerates "missing": gone is what we want. */
  | { op: 'delete-route'; dst: string };

export interface RouteDiff {
  changes: RouteChange[];
  /** A route for a peer's podCIDR that someone else owns: we leave it alone and report it. */
  conflicts: { dst: string; owner: string }[];
}

/** The minimal changes turning `actual` (the main table) into `desired` for our routes. */
export function diffRoutes(desired: readonly DesiredRoute[], actual: readonly KernelRoute[]): RouteDiff {
  // One pass, no intermediate arrays: the main table holds a route per peer (5,000 at 5,000 nodes).
  const ours = new Map<string, KernelRoute>();
  const foreign = new Map<string, KernelRoute>();
  for (const r of actual) (r.protocol === ROUTE_PROTO ? ours : foreign).set(r.dst, r);
  const diff: RouteDiff = { changes: [], conflicts: [] };
  const wanted = new Set<string>();
  for (const route of desired) {
    wanted.add(route.dst);
    const current = ours.get(route.dst);
    const { dst, via, dev } = route;
    if (current) {
      if (current.gateway === route.via && current.dev === route.dev) continue;
      diff.changes.push({ op: 'replace-route', dst, via, dev });
    } else if (foreign.has(route.dst)) {
      diff.conflicts.push({ dst: route.dst, owner: `proto ${foreign.get(route.dst)!.protocol ?? 'boot'} via ${foreign.get(route.dst)!.dev}` });
    } else {
      diff.changes.push({ op: 'add-route', dst, via, dev });
    }
  }
  for (const dst of ours.keys()) {
    if (!wanted.has(dst)) diff.changes.push({ op: 'delete-route', dst });
  }
  return diff;
}

/** How many changes of each kind, as the agent logs them. */
export function countRouteChanges(changes: readonly RouteChange[]): { added: number; replaced: number; deleted: number } {
  const count = (op: RouteChange['op']) => changes.filter((c) => c.op === op).length;
  return { added: count('add-route'), replaced: count('replace-route'), deleted: count('delete-route') };
}

/**
 * The main table as it stands once diffRoutes(desired, actual)'s commands have run: foreign
 * routes as they were, and ours exactly as desired (except where someone else owns the prefix).
 */
export function routesAfter(desired: readonly DesiredRoute[], actual: readonly KernelRoute[]): KernelRoute[] {
  const ours = new Set(actual.filter((r) => r.protocol === ROUTE_PROTO).map((r) => r.dst));
  const foreign = actual.filter((r) => r.protocol !== ROUTE_PROTO);
  const foreignDsts = new Set(foreign.map((r) => r.dst));
  const after: KernelRoute[] = [...foreign];
  for (const route of desired) {
    if (ours.has(route.dst) || !foreignDsts.has(route.dst)) after.push({ dst: route.dst, gateway: route.via, dev: route.dev, protocol: ROUTE_PROTO });
  }
  return after;
}

/** The family of a desired route: its dst is formatCidr's text, where only IPv6 has a colon (no parse per route at every sync). */
export function routeFamily(route: DesiredRoute): IpFamily {
  return route.dst.includes(':') ? 6 : 4;
}
