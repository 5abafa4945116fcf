// Interface addresses, for finding the node's eth1 address and MTU.
import { parseIp, parseIpv6, type IpCidr } from '../cidr.ts';

export interface InterfaceAddresses {
  name: string;
  mtu: number;
  up: boolean;
  /** IPv4 addresses with their prefix lengths. */
  ipv4: IpCidr[];
  /** Global IPv6 addresses with their prefix lengths (link-local ones route nothing of ours). */
  ipv6?: IpCidr[];
}

/** `ip -j addr show` output as data. */
export function parseInterfaceAddresses(json: unknown[]): InterfaceAddresses[] {
  const links = json as {
    ifname: string;
    mtu: number;
    flags?: string[];
    addr_info?: { family: string; local: string; prefixlen: number; scope?: string }[];
  }[];
  return links.map((l) => ({
    name: l.ifname,
    mtu: l.mtu,
    up: l.flags?.includes('UP') ?? false,
    ipv4: (l.addr_info ?? [])
      .filter((a) => a.family === 'inet')
      .flatMap((a) => {
        const ip = parseIp(a.local);
        return ip?.family === 4 ? [{ family: 4 as const, address: ip.value, prefixLength: a.prefixlen }] : [];
      }),
    ipv6: (l.addr_info ?? [])
      .filter((a) => a.family === 'inet6' && a.scope === 'global')
      .flatMap((a) => {
        const address = parseIpv6(a.local);
        return address === undefined ? [] : [{ family: 6 as const, address, prefixLength: a.prefixlen }];
      }),
  }));
}
