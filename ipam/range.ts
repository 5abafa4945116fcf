// The pool of addresses a node may hand out: its podCIDR minus network, broadcast and gateway,
// optionally narrowed to [rangeStart, rangeEnd]. Pure.
import { IpamRangeError } from './errors.ts';
import { broadcastAddress, cidrContains, formatIpv4, networkAddress, type Ipv4Cidr } from '../lib/cidr.ts';

export interface IpRange {
  subnet: Ipv4Cidr;
  /** First and last assignable address (inclusive). */
  start: number;
  end: number;
  /** Never handed out; undefined when the network has no gateway. */
  gateway?: number;
}

/** The default range of a subnet: all host addresses. /31 and /32 have no room for pods. */
export function buildRange(subnet: Ipv4Cidr, options: { start?: number; end?: number; gateway?: number } = {}): IpRange {
  if (subnet.prefixLength > 30) throw new IpamRangeError(`subnet /${subnet.prefixLength} is too small: it must be /30 or larger`);
  const firstHost = networkAddress(subnet) + 1;
  const lastHost = broadcastAddress(subnet) - 1;
  const start = options.start ?? firstHost;
  const end = options.end ?? lastHost;
  for (const [name, value] of [['rangeStart', start], ['rangeEnd', end]] as const) {
    if (value < firstHost || value > lastHost) {
      throw new IpamRangeError(`${name} ${formatIpv4(value)} is not a host address of ${formatIpv4(subnet.address)}/${subnet.prefixLength}`);
    }
  }
  if (start > end) throw new IpamRangeError(`rangeStart ${formatIpv4(start)} is after rangeEnd ${formatIpv4(end)}`);
  if (options.gateway !== undefined && !cidrContains(subnet, options.gateway)) {
    throw new IpamRangeError(`gateway ${formatIpv4(options.gateway)} is outside the subnet`);
  }
  return { subnet, start, end, gateway: options.gateway };
}

export function rangeSize(range: IpRange): number {
  const gatewayInside = range.gateway !== undefined && range.gateway >= range.start && range.gateway <= range.end;
  return range.end - range.start + 1 - (gatewayInside ? 1 : 0);
}

/**
 * Every assignable address once, starting just after `cursor` and wrapping around, so a
 * released address is reused as late as possible (stale ARP/conntrack entries age out first).
 */
export function* candidates(range: IpRange, cursor: number | undefined): Generator<number> {
  const size = range.end - range.start + 1;
  const first = cursor !== undefined && cursor >= range.start && cursor < range.end ? cursor + 1 : range.start;
  for (let i = 0; i < size; i++) {
    const ip = range.start + ((first - range.start + i) % size);
    if (ip !== range.gateway) yield ip;
  }
}
