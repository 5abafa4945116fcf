// What the uplink move reads of the node: the NIC, the bridge, their addresses and the routes of
// the main table through either, parsed from `ip -j` (read.ts runs it). Kept as iproute2 prints
// them, because the move replays each one on the other link with everything it had (a DHCP lease's
// lifetimes, a route's protocol, metric and preferred source): the node must not notice the move.

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

interface IpAddrJson {
  family: string;
  local: string;
  prefixlen: number;
  broadcast?: string;
  scope?: string;
  dynamic?: boolean;
  noprefixroute?: boolean;
  secondary?: boolean;
  valid_life_time?: number;
  preferred_life_time?: number;
}

interface IpLinkJson {
  ifindex: number;
  ifname: string;
  address?: string;
  mtu: number;
  flags?: string[];
  master?: string;
  ifalias?: string;
  linkinfo?: { info_kind?: string };
  addr_info?: IpAddrJson[];
}

/** `ip -j -d addr show`: links with their details and addresses. */
export function parseLinks(json: unknown[]): UplinkLink[] {
  return (json as IpLinkJson[]).map((l) => ({
    name: l.ifname,
    index: l.ifindex,
    mac: (l.address ?? '').toLowerCase(),
    mtu: l.mtu,
    up: l.flags?.includes('UP') ?? false,
    ...(l.master ? { master: l.master } : {}),
    ...(l.ifalias ? { alias: l.ifalias } : {}),
    ...(l.linkinfo?.info_kind ? { kind: l.linkinfo.info_kind } : {}),
    addresses: (l.addr_info ?? []).flatMap((a) => toAddress(a)),
  }));
}

/** A link's own addresses stay: IPv6 link-local ones (each link makes its own from its MAC). */
function toAddress(a: IpAddrJson): UplinkAddress[] {
  if (a.family !== 'inet' && a.family !== 'inet6') return [];
  if (a.family === 'inet6' && a.scope === 'link') return [];
  const forever = 4294967295;
  return [{
    family: a.family === 'inet' ? 4 : 6,
    local: a.local,
    prefixlen: a.prefixlen,
    ...(a.broadcast ? { broadcast: a.broadcast } : {}),
    ...(a.scope && a.scope !== 'global' ? { scope: a.scope } : {}),
    ...(a.dynamic ? { dynamic: true } : {}),
    ...(a.dynamic && a.valid_life_time !== undefined && a.valid_life_time < forever ? { validLft: a.valid_life_time } : {}),
    ...(a.dynamic && a.preferred_life_time !== undefined && a.preferred_life_time < forever ? { preferredLft: a.preferred_life_time } : {}),
    ...(a.noprefixroute ? { noprefixroute: true } : {}),
    ...(a.secondary ? { secondary: true } : {}),
  }];
}

interface IpRouteJson {
  dst: string;
  gateway?: string;
  dev?: string;
  protocol?: string;
  scope?: string;
  prefsrc?: string;
  metric?: number;
  flags?: string[];
  type?: string;
}

/** `ip -j -<family> route show table main`: the unicast routes that leave by a device. */
export function parseRoutes(json: unknown[], family: 4 | 6): UplinkRoute[] {
  return (json as IpRouteJson[]).flatMap((r) => {
    if (!r.dev || (r.type !== undefined && r.type !== 'unicast')) return [];
    return [{
      family,
      dst: r.dst,
      ...(r.gateway ? { gateway: r.gateway } : {}),
      dev: r.dev,
      ...(r.protocol ? { protocol: r.protocol } : {}),
      ...(r.scope ? { scope: r.scope } : {}),
      ...(r.prefsrc ? { prefsrc: r.prefsrc } : {}),
      ...(r.metric !== undefined ? { metric: r.metric } : {}),
      ...(r.flags?.includes('onlink') ? { onlink: true } : {}),
    }];
  });
}

/** Routes the kernel makes itself with an address or a link (prefix, link-local, multicast): never moved by hand. */
export function isKernelRoute(route: UplinkRoute): boolean {
  return route.protocol === 'kernel';
}

export function isDefaultRoute(route: UplinkRoute): boolean {
  return route.dst === 'default' || route.dst === '0.0.0.0/0' || route.dst === '::/0';
}
