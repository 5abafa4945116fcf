// Pure: `"hostShim": true` (issue 20). The kernel never hands a frame between a macvlan and its
// master: what a macvlan sends to the master's MAC goes out on the wire, and what the master
// sends leaves on the wire too, where the switch will not send it back in by the same port. So
// the node cannot reach its own macvlan pods through the master, nor they the node. The classic
// fix is a macvlan of the node's own in bridge mode: bridge-mode macvlans of one master are
// switched to each other inside the kernel. The shim:
//   - one per master, named hostShimName(master) (lib/names.ts), made by the first ADD that
//     asks and found by every later one (`shared`: an existing one is success); left in place by
//     DEL (shared, like the bridge in bridge mode);
//   - no address of its own: a route per block of the pod range `dev <shim> src <the master's
//     IPv4 address>`, so the node speaks to its pods from its own LAN address, and the pods'
//     ARP for that address is answered on the shim (Linux answers ARP for any local address);
//   - arp_filter=1 on the shim: it answers only an ARP whose sender it routes through itself
//     (the pods), so the LAN's own ARP for the node's address, which reaches every macvlan of
//     the master too, is still answered by the master alone (no ARP flux);
//   - IPv4 only: the kernel answers a neighbour solicitation only for an address on the
//     interface it came in by, so an unnumbered shim cannot serve IPv6.
// The routes cover the range minus the gateway (which may sit inside it), so the node still
// reaches the LAN's router, and its other hosts, through the master.
import type { IpAddress, IpCidr, IpFamily } from '../../lib/cidr.ts';
import type { Change } from '../../lib/kernel/change.ts';
import { hostShimName } from '../../lib/names.ts';
import type { Master } from './master.ts';

export interface ShimRange {
  family: IpFamily;
  start: bigint;
  end: bigint;
  gateway?: bigint;
}

/** The fewest CIDR blocks that cover first..last exactly. */
export function rangeBlocks(family: IpFamily, first: bigint, last: bigint): IpCidr[] {
  const bits = family === 4 ? 32 : 128;
  const blocks: IpCidr[] = [];
  let at = first;
  while (at <= last) {
    let size = 0;
    while (size < bits && (at & ((1n << BigInt(size + 1)) - 1n)) === 0n && at + (1n << BigInt(size + 1)) - 1n <= last) size++;
    blocks.push({ family, address: at, prefixLength: bits - size });
    at += 1n << BigInt(size);
  }
  return blocks;
}

/** The blocks of a range without its gateway. */
export function shimBlocks(range: ShimRange): IpCidr[] {
  const { family, start, end, gateway } = range;
  if (gateway === undefined || gateway < start || gateway > end) return rangeBlocks(family, start, end);
  return [...(gateway > start ? rangeBlocks(family, start, gateway - 1n) : []), ...(gateway < end ? rangeBlocks(family, gateway + 1n, end) : [])];
}

export function planHostShim(master: Master, ranges: readonly ShimRange[]): { name: string; changes: Change[] } {
  const name = hostShimName(master.name);
  const source: IpAddress | undefined = master.ipv4[0];
  const blocks = ranges.filter((r) => r.family === 4).flatMap(shimBlocks);
  return {
    name,
    changes: [
      { op: 'add-macvlan', name, master: master.name, mode: 'bridge', mtu: master.mtu, shared: true },
      { op: 'set-sysctl', key: `net/ipv4/conf/${name}/arp_filter`, value: '1' },
      { op: 'set-up', link: name },
      ...blocks.map((dst): Change => ({ op: 'add-route', dst, link: name, replace: true, ...(source ? { source } : {}) })),
    ],
  };
}
