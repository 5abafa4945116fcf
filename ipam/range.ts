// The pool of addresses a node may hand out, per family: its podCIDR minus the network address
// (and for IPv4 the broadcast address) and the gateway, optionally narrowed to
// [rangeStart, rangeEnd]. Pure, and bigint throughout: an IPv6 /64 holds 2^64 addresses, so
// sizes are computed, never counted, and candidates are produced one at a time.
import { IpamRangeError } from './errors.ts';
import { cidrLast, cidrNetwork, formatCidr, formatIp, nextAfter, type IpCidr, type IpFamily } from '../lib/cidr.ts';

export interface IpRange {
  family: IpFamily;
  subnet: IpCidr;
  /** First and last assignable address (inclusive). */
  start: bigint;
  end: bigint;
  /** Never handed out; undefined when the network has no gateway. */
  gateway?: bigint;
}

/**
 * The longest prefix each family can serve: it must leave at least one pod address beside the
 * gateway. IPv4 loses network and broadcast (/30: 2 hosts); IPv6 has no broadcast but its first
 * address is the subnet-router anycast address (RFC 4291 2.6.1), so /126 leaves ::1 to ::3.
 */
const LONGEST_PREFIX: Record<IpFamily, number> = { 4: 30, 6: 126 };

/** The default range of a subnet: all host addresses. */
export function buildRange(subnet: IpCidr, options: { start?: bigint; end?: bigint; gateway?: bigint } = {}): IpRange {
  const family = subnet.family;
  if (subnet.prefixLength > LONGEST_PREFIX[family]) {
    throw new IpamRangeError(
      `subnet ${formatCidr(subnet)} is too small: IPv${family} needs /${LONGEST_PREFIX[family]} or larger to leave a pod address beside the gateway`,
    );
  }
  const text = (value: bigint): string => formatIp({ family, value });
  const firstHost = cidrNetwork(subnet) + 1n;
  const lastHost = family === 4 ? cidrLast(subnet) - 1n : cidrLast(subnet);
  const start = options.start ?? firstHost;
  const end = options.end ?? lastHost;
  for (const [name, value] of [['rangeStart', start], ['rangeEnd', end]] as const) {
    if (value < firstHost || value > lastHost) throw new IpamRangeError(`${name} ${text(value)} is not a host address of ${formatCidr(subnet)}`);
  }
  if (start > end) throw new IpamRangeError(`rangeStart ${text(start)} is after rangeEnd ${text(end)}`);
  if (options.gateway !== undefined && (options.gateway < cidrNetwork(subnet) || options.gateway > cidrLast(subnet))) {
    throw new IpamRangeError(`gateway ${text(options.gateway)} is outside the subnet ${formatCidr(subnet)}`);
  }
  const range = { family, subnet, start, end, gateway: options.gateway };
  if (rangeSize(range) === 0n) throw new IpamRangeError(`${formatCidr(subnet)} from ${text(start)} to ${text(end)} leaves no pod address beside the gateway`);
  return range;
}

export function rangeSize(range: IpRange): bigint {
  return range.end - range.start + 1n - (gatewayInside(range) ? 1n : 0n);
}

function gatewayInside(range: IpRange): boolean {
  return range.gateway !== undefined && range.gateway >= range.start && range.gateway <= range.end;
}

export function inRange(range: IpRange, ip: bigint): boolean {
  return ip >= range.start && ip <= range.end && ip !== range.gateway;
}

/**
 * Every assignable address once, starting just after `cursor` and wrapping around, so a
 * released address is reused as late as possible (stale ARP/NDP/conntrack entries age out
 * first). Lazy: the caller takes candidates until one is free, so the cost is the number of
 * reserved addresses it skips, never the size of the range.
 */
export function* candidates(range: IpRange, cursor: bigint | undefined): Generator<bigint> {
  const total = range.end - range.start + 1n;
  let ip = nextAfter(range.start, range.end, cursor);
  for (let i = 0n; i < total; i++) {
    if (ip !== range.gateway) yield ip;
    ip = nextAfter(range.start, range.end, ip);
  }
}

export function formatRange(range: IpRange): string {
  return `${formatIp({ family: range.family, value: range.start })}-${formatIp({ family: range.family, value: range.end })}`;
}
