// Interface addresses, for finding the node's eth1 address and MTU.
import { parseIpv4 } from '../cidr.ts';
import type { Runner } from '../exec.ts';
import { inNetns } from './netns.ts';

export interface InterfaceAddresses {
  name: string;
  mtu: number;
  up: boolean;
  /** IPv4 addresses with their prefix lengths. */
  ipv4: { address: number; prefixLength: number }[];
}

export async function listInterfaceAddresses(run: Runner, options: { netns?: string } = {}): Promise<InterfaceAddresses[]> {
  const { stdout } = await run(inNetns(options.netns, ['ip', '-j', 'addr', 'show']));
  const links = JSON.parse(stdout || '[]') as {
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
