// The node's interfaces with their addresses, and its main routing table of both families, read
// over rtnetlink and written as iproute2's `ip -j` parsers give them (lib/iproute2/addr.ts,
// route.ts), so the agent's planners and the doctor's checks read either backend alike. Two
// dumps for the links and addresses, one per family for the routes; no process.
import { formatIp, type IpCidr } from '../cidr.ts';
import type { InterfaceAddresses } from '../iproute2/addr.ts';
import type { KernelRoute } from '../kernel/route.ts';
import { protocolName } from '../kernel/rt-names.ts';
import { AF_INET, AF_INET6 } from './codec.ts';
import { RT_SCOPE, RT_TABLE_MAIN, RTN_UNICAST, RTPROT_BOOT, type DecodedRoute } from './rtnl-codec.ts';
import { addressFromBytes, type Rtnl } from './rtnl.ts';

/** Route types `ip` prints (it leaves out unicast). */
const TYPE_NAMES: Record<number, string> = { 2: 'local', 3: 'broadcast', 4: 'anycast', 5: 'multicast', 6: 'blackhole', 7: 'unreachable', 8: 'prohibit', 9: 'throw', 10: 'nat' };
const SCOPE_NAMES: Record<number, string> = { [RT_SCOPE.LINK]: 'link', [RT_SCOPE.HOST]: 'host' };

/** Every link with its IPv4 addresses and global IPv6 addresses (as `ip -j addr show` + parseInterfaceAddresses). */
export function interfaceAddresses(rtnl: Rtnl): InterfaceAddresses[] {
  const links = rtnl.listLinks().map((link) => ({
    index: link.index,
    value: { name: link.name, mtu: link.mtu ?? 0, up: link.flags.includes('UP'), ipv4: [] as IpCidr[], ipv6: [] as IpCidr[] },
  }));
  const byIndex = new Map(links.map((l) => [l.index, l.value]));
  for (const address of rtnl.listAddresses()) {
    const link = byIndex.get(address.index);
    const ip = addressFromBytes(address.address);
    if (!link || !ip) continue;
    const cidr: IpCidr = { family: ip.family, address: ip.value, prefixLength: address.prefixLength };
    if (ip.family === 4) link.ipv4.push(cidr);
    else if (address.scope === RT_SCOPE.UNIVERSE) link.ipv6.push(cidr);
  }
  return links.map((l) => l.value);
}

/** The main table of both families (as `ip -j route show table all` + mainTableOf). */
export function mainRoutes(rtnl: Rtnl): KernelRoute[] {
  const names = new Map(rtnl.listLinks().map((l) => [l.index, l.name]));
  const routes: KernelRoute[] = [];
  for (const family of [AF_INET, AF_INET6]) {
    for (const route of rtnl.listRoutes(family)) {
      if (route.table !== RT_TABLE_MAIN) continue;
      const kernelRoute = toKernelRoute(route, names);
      if (kernelRoute) routes.push(kernelRoute);
    }
  }
  return routes;
}

function toKernelRoute(route: DecodedRoute, names: ReadonlyMap<number, string>): KernelRoute | undefined {
  const dst = route.dst ? formatAddress(route.dst) : route.family === AF_INET ? '0.0.0.0' : '::';
  if (dst === undefined) return undefined;
  const kernelRoute: KernelRoute = { dst: `${dst}/${route.dstLength}` };
  const gateway = route.gateway ? formatAddress(route.gateway) : undefined;
  if (gateway !== undefined) kernelRoute.gateway = gateway;
  const dev = route.oif === undefined ? undefined : names.get(route.oif);
  if (dev) kernelRoute.dev = dev;
  // iproute2's names (lib/kernel/rt-names.ts); others print as numbers, ours "77".
  if (route.protocol !== RTPROT_BOOT) kernelRoute.protocol = protocolName(route.protocol);
  const scope = SCOPE_NAMES[route.scope];
  if (scope) kernelRoute.scope = scope;
  if (route.type !== RTN_UNICAST) kernelRoute.type = TYPE_NAMES[route.type] ?? String(route.type);
  return kernelRoute;
}

/** An address as `ip` prints it; IPv4 straight from its bytes (every route of a 5,000-node table), IPv6 through lib/cidr.ts. */
function formatAddress(bytes: Uint8Array): string | undefined {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  const ip = addressFromBytes(bytes);
  return ip ? formatIp(ip) : undefined;
}
