// Interface addresses, for finding the node's eth1 address and MTU.
import { parseIpv4 } from '../cidr.ts';

export interface InterfaceAddresses {
  name: string;
  mtu: number;
  up: boolean;
  /** IPv4 addresses with their prefix lengths. */
  ipv4: { address: number; prefixLength: number }[];
}

/** `ip -j addr show` output as data. */
export function parseInterfaceAddresses(json: unknown[]): InterfaceAddresses[] {
  const links = json as {
    ifname: string;
    mtu: number;
    flags?: string[];
    addr_info?: { family: string; local: string; prefixlen: number }[];
  }[];
  return links.map((l) => ({
    name: l.ifname,
    mtu: l.mtu,
    up: l.flags?.includes('UP') ?? false,
    ipv4: (l.addr_info ?? [])
      .filter((a) => a.family === 'inet')
      .flatMap((a) => {
        const address = parseIpv4(a.local);
        return address === undefined ? [] : [{ address, prefixLength: a.prefixlen }];
      }),
  }));
}
