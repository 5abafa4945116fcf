// What the uplink move reads of the node: the NIC, the bridge, their addresses and the routes of
// the main table through either, from what a Kernel read (uplinkStateOf). Kept in iproute2's
// words (ip-command.ts spells a step so an admin can replay it), with everything the move replays
// on the other link (a DHCP lease's lifetimes, a route's protocol, metric and preferred source):
// the node must not notice the move.
import { formatIp } from '../cidr.ts';
import type { KernelAddress, KernelLink } from '../kernel/link.ts';
import type { KernelRoute } from '../kernel/route.ts';

export interface UplinkAddress {
  family: 4 | 6;
  /** The address without its prefix length. */
  local: string;
  prefixlen: number;
  broadcast?: string;
  scope?: string;
  /** A DHCP or SLAAC address: its lifetimes go with it (seconds left, as ip prints them). */
  dynamic?: boolean;
  validLft?: number;
  preferredLft?: number;
  noprefixroute?: boolean;
  secondary?: boolean;
}

export interface UplinkRoute {
  family: 4 | 6;
  /** "default" or a CIDR, as `ip route` takes it. */
  dst: string;
  gateway?: string;
  dev: string;
  protocol?: string;
  scope?: string;
  prefsrc?: string;
  metric?: number;
  onlink?: boolean;
}

export interface UplinkLink {
  name: string;
  index: number;
  mac: string;
  mtu: number;
  up: boolean;
  master?: string;
  alias?: string;
  kind?: string;
  /** The addresses that belong to the node's network, not to the link: IPv4 and global IPv6. */
  addresses: UplinkAddress[];
}

export interface UplinkState {
  links: UplinkLink[];
  /** Main table, both families. */
  routes: UplinkRoute[];
}

/**
 * The node as the plugin's Kernel reads it (Kernel.readNamespace: rtnetlink in-process on Bun,
 * `ip -d -j` on Node and in the agent), in the move's terms: a link's own addresses (IPv6
 * link-local) left out, a DHCP or SLAAC address with its lifetimes, the unicast routes that leave
 * by a device, the default route spelled "default".
 */
export function uplinkStateOf(read: { links: readonly KernelLink[]; routes: readonly KernelRoute[] }): UplinkState {
  return {
    links: read.links.map((l) => ({
      name: l.name,
      index: l.index,
      mac: (l.mac ?? '').toLowerCase(),
      mtu: l.mtu ?? 0,
      up: l.flags.includes('UP'),
      ...(l.master ? { master: l.master } : {}),
      ...(l.alias ? { alias: l.alias } : {}),
      ...(l.kind ? { kind: l.kind } : {}),
      addresses: (l.addresses ?? []).flatMap(toAddress),
    })),
    routes: read.routes.flatMap(toRoute),
  };
}

function toAddress(a: KernelAddress): UplinkAddress[] {
  if (a.family === 6 && a.scope === 'link') return [];
  const flags = a.flags ?? [];
  // iproute2's "dynamic": no IFA_F_PERMANENT, so the kernel counts its lifetimes down.
  const dynamic = !flags.includes('permanent');
  return [{
    family: a.family,
    local: formatIp({ family: a.family, value: a.address }),
    prefixlen: a.prefixLength,
    ...(a.broadcast ? { broadcast: a.broadcast } : {}),
    ...(a.scope && a.scope !== 'global' ? { scope: a.scope } : {}),
    ...(dynamic ? { dynamic: true } : {}),
    ...(dynamic && a.validLft !== undefined ? { validLft: a.validLft } : {}),
    ...(dynamic && a.preferredLft !== undefined ? { preferredLft: a.preferredLft } : {}),
    ...(flags.includes('noprefixroute') ? { noprefixroute: true } : {}),
    ...(a.family === 4 && flags.includes('secondary') ? { secondary: true } : {}),
  }];
}

function toRoute(r: KernelRoute): UplinkRoute[] {
  if (!r.dev || (r.type !== undefined && r.type !== 'unicast')) return [];
  const family = r.dst.includes(':') ? 6 : 4;
  return [{
    family,
    dst: r.dst === '0.0.0.0/0' || r.dst === '::/0' ? 'default' : r.dst,
    ...(r.gateway ? { gateway: r.gateway } : {}),
    dev: r.dev,
    ...(r.protocol ? { protocol: r.protocol } : {}),
    ...(r.scope && r.scope !== 'global' && r.scope !== 'universe' ? { scope: r.scope } : {}),
    ...(r.prefsrc ? { prefsrc: r.prefsrc } : {}),
    ...(r.metric !== undefined ? { metric: r.metric } : {}),
    ...(r.onlink ? { onlink: true } : {}),
  }];
}

/** Routes the kernel makes itself with an address or a link (prefix, link-local, multicast): never moved by hand. */
export function isKernelRoute(route: UplinkRoute): boolean {
  return route.protocol === 'kernel';
}

export function isDefaultRoute(route: UplinkRoute): boolean {
  return route.dst === 'default' || route.dst === '0.0.0.0/0' || route.dst === '::/0';
}
