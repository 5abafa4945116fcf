// Pure: desired routes to every peer's podCIDR, and the minimal changes from what the kernel has.
import { cidrsOverlap, formatCidr, formatIp, ipCidrContains, sameIp, type IpCidr } from '../lib/cidr.ts';
import type { IpCommand } from '../lib/iproute2/batch.ts';
import type { KernelRoute } from '../lib/kernel/route.ts';
import type { Peer } from './node-info.ts';

/** Our routes carry this protocol number, so we find (and delete) exactly ours and nothing else. */
export const ROUTE_PROTO = '77';

export interface DesiredRoute {
  dst: string;
  via: string;
  dev: string;
  peer: string;
}

export interface Unreachable {
  peer: string;
  reason: string;
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
      });
    } else {
      routes.push({ dst, via: gateway, dev: iface.name, peer: peer.name });
    }
  }
  return { routes, unreachable };
}

export interface RouteDiff {
  commands: IpCommand[];
  /** A route for a peer's podCIDR that someone else owns: we leave it alone and report it. */
  conflicts: { dst: string; owner: string }[];
  added: number;
  replaced: number;
  deleted: number;
}

/** The minimal `ip` commands turning `actual` (the main table) into `desired` for our routes. */
export function diffRoutes(desired: readonly DesiredRoute[], actual: readonly KernelRoute[]): RouteDiff {
  const ours = new Map(actual.filter((r) => r.protocol === ROUTE_PROTO).map((r) => [r.dst, r]));
  const foreign = new Map(actual.filter((r) => r.protocol !== ROUTE_PROTO).map((r) => [r.dst, r]));
  const diff: RouteDiff = { commands: [], conflicts: [], added: 0, replaced: 0, deleted: 0 };
  const wanted = new Set<string>();
  for (const route of desired) {
    wanted.add(route.dst);
    const current = ours.get(route.dst);
    const args = (verb: string) => ['route', verb, route.dst, 'via', route.via, 'dev', route.dev, 'proto', ROUTE_PROTO];
    if (current) {
      if (current.gateway === route.via && current.dev === route.dev) continue;
      diff.replaced++;
      diff.commands.push({ args: args('replace') }); // atomic: no moment without a route
    } else if (foreign.has(route.dst)) {
      diff.conflicts.push({ dst: route.dst, owner: `proto ${foreign.get(route.dst)!.protocol ?? 'boot'} via ${foreign.get(route.dst)!.dev}` });
    } else {
      // `add`, not `replace`: should someone else's route appear after `actual` was read, the
      // kernel refuses ours ("File exists") instead of overwriting theirs; the next sync reports it.
      diff.added++;
      diff.commands.push({ args: args('add'), tolerate: 'exists' });
    }
  }
  for (const dst of ours.keys()) {
    if (wanted.has(dst)) continue;
    diff.deleted++;
    diff.commands.push({ args: ['route', 'del', dst, 'proto', ROUTE_PROTO], tolerate: 'missing' });
  }
  return diff;
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
