// Address and prefix arithmetic, kept pure for table tests: one representation for both families
// (IpAddress, IpCidr, on bigint), and the text forms of each family behind it.

// ---- IPv4 (dotted quads; parseIp and formatIp give them their family) -------------------------

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function parseIpv4(text: string): number | undefined {
  const match = IPV4.exec(text);
  if (!match) return undefined;
  let value = 0;
  for (let i = 1; i <= 4; i++) {
    const octet = Number(match[i]);
    if (octet > 255 || (match[i]!.length > 1 && match[i]!.startsWith('0'))) return undefined;
    value = value * 256 + octet;
  }
  return value;
}

function formatIpv4(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`;
}

// ---- IPv6 (bigint, 128 bits) ----------------------------------------------------------------

const IPV6_BITS = 128n;
const IPV6_MAX = (1n << IPV6_BITS) - 1n;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

/**
 * Hex groups with at most one `::`. Refused on purpose: zone IDs (`fe80::1%eth0`, meaningless in
 * a config), and the dotted-quad tail (`::ffff:10.0.0.1`): an IPv4 address has exactly one
 * spelling here, dotted, so the family of a value is always plain from its text.
 */
export function parseIpv6(text: string): bigint | undefined {
  if (text.length < 2 || text.length > 39) return undefined;
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groupsOf = (half: string): string[] | undefined => {
    if (half === '') return [];
    const groups = half.split(':');
    return groups.every((g) => HEX_GROUP.test(g)) ? groups : undefined;
  };
  const head = groupsOf(halves[0]!);
  const tail = halves.length === 2 ? groupsOf(halves[1]!) : [];
  if (!head || !tail) return undefined;
  const count = head.length + tail.length;
  // `::` stands for one or more zero groups (RFC 4291 2.2), so with it at most 7 groups are written.
  if (halves.length === 2 ? count > 7 : count !== 8) return undefined;
  const groups = [...head, ...Array<string>(8 - count).fill('0'), ...tail];
  let value = 0n;
  for (const group of groups) value = (value << 16n) | BigInt(parseInt(group, 16));
  return value;
}

/** RFC 5952 canonical text: lowercase, no leading zeros, the longest run (first on a tie) of two or more zero groups as `::`. */
export function formatIpv6(value: bigint): string {
  if (value < 0n || value > IPV6_MAX) throw new RangeError(`not an IPv6 address value: ${value}`);
  const groups: number[] = [];
  for (let shift = 112n; shift >= 0n; shift -= 16n) groups.push(Number((value >> shift) & 0xffffn));
  let bestStart = -1;
  let bestLength = 1; // a single zero group is never compressed (RFC 5952 4.2.2)
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) [bestStart, bestLength] = [i, j - i];
    i = j;
  }
  const hex = (part: number[]): string => part.map((g) => g.toString(16)).join(':');
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLength))}`;
}

// ---- Both families ------------------------------------------------------------------------------
// One representation for code that must not care about the family: the value as a bigint (an
// IPv4 value fits too), so prefix arithmetic is exact even for a /64, which has 2^64 addresses
// and must never be enumerated.

export type IpFamily = 4 | 6;

export interface IpAddress {
  family: IpFamily;
  value: bigint;
}

export interface IpCidr {
  family: IpFamily;
  /** The address as written (may be a host address inside the prefix). */
  address: bigint;
  prefixLength: number;
}

export function familyBits(family: IpFamily): number {
  return family === 4 ? 32 : 128;
}

/** The family of an address or CIDR text, or undefined when it is neither. */
export function familyOf(text: string): IpFamily | undefined {
  const slash = text.indexOf('/');
  const address = slash < 0 ? text : text.slice(0, slash);
  return parseIp(address)?.family;
}

/**
 * Either family. IPv4-mapped IPv6 addresses (`::ffff:0:0/96`) are refused: the kernel treats
 * them as IPv4 on dual-stack sockets, so a pod or gateway address there would be neither family.
 */
export function parseIp(text: string): IpAddress | undefined {
  const v4 = parseIpv4(text);
  if (v4 !== undefined) return { family: 4, value: BigInt(v4) };
  const v6 = parseIpv6(text);
  if (v6 === undefined || isIpv4Mapped(v6)) return undefined;
  return { family: 6, value: v6 };
}

export function isIpv4Mapped(value: bigint): boolean {
  return value >> 32n === 0xffffn;
}

export function formatIp(ip: IpAddress): string {
  return ip.family === 4 ? formatIpv4(Number(ip.value)) : formatIpv6(ip.value);
}

/**
 * Either family; see parseIp for what is refused. The prefix length is decimal, at most the
 * family's bits; IPv4's may be written with a leading zero (`/08`), IPv6's may not.
 */
export function parseCidr(text: string): IpCidr | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const ip = parseIp(text.slice(0, slash));
  const lengthText = text.slice(slash + 1);
  const lengthForm = ip?.family === 4 ? /^\d{1,2}$/ : /^(0|[1-9]\d{0,2})$/;
  if (!ip || !lengthForm.test(lengthText)) return undefined;
  const prefixLength = Number(lengthText);
  if (prefixLength > familyBits(ip.family)) return undefined;
  return { family: ip.family, address: ip.value, prefixLength };
}

export function formatCidr(cidr: IpCidr): string {
  return `${formatIp({ family: cidr.family, value: cidr.address })}/${cidr.prefixLength}`;
}

// Every mask, made once: the agent computes networks and containment for every node of the
// cluster at every sync, and each mask built anew was three bigints of garbage (at 5,000 nodes,
// a sync's transient memory on Bun is mostly such small garbage: bench/AGENT.md).
const masksOf = (bits: number) => Array.from({ length: bits + 1 }, (_, prefixLength) => (1n << BigInt(bits - prefixLength)) - 1n);
const HOST_MASKS: Record<IpFamily, readonly bigint[]> = { 4: masksOf(32), 6: masksOf(128) };
const NETWORK_MASKS: Record<IpFamily, readonly bigint[]> = { 4: HOST_MASKS[4].map((m) => ~m), 6: HOST_MASKS[6].map((m) => ~m) };

function hostMask(family: IpFamily, prefixLength: number): bigint {
  return HOST_MASKS[family][prefixLength] ?? (1n << BigInt(familyBits(family) - prefixLength)) - 1n; // (no valid CIDR has another length)
}

/** The first address of the prefix. */
export function cidrNetwork(cidr: IpCidr): bigint {
  return cidr.address & (NETWORK_MASKS[cidr.family][cidr.prefixLength] ?? ~hostMask(cidr.family, cidr.prefixLength));
}

/** The last address of the prefix (the IPv4 broadcast address). */
export function cidrLast(cidr: IpCidr): bigint {
  return cidrNetwork(cidr) | hostMask(cidr.family, cidr.prefixLength);
}

export function ipCidrContains(cidr: IpCidr, ip: IpAddress): boolean {
  return ip.family === cidr.family && ip.value >= cidrNetwork(cidr) && ip.value <= cidrLast(cidr);
}

export function cidrsOverlap(a: IpCidr, b: IpCidr): boolean {
  return a.family === b.family && cidrNetwork(a) <= cidrLast(b) && cidrNetwork(b) <= cidrLast(a);
}

/**
 * Round-robin over the inclusive span [first, last]: the value after `cursor`, wrapping to
 * `first` (also when the cursor is unset or outside the span, e.g. after the range changed).
 * Constant time, so a caller walks a /64 one candidate at a time and stops at the first free one.
 */
export function nextAfter(first: bigint, last: bigint, cursor: bigint | undefined): bigint {
  if (cursor === undefined || cursor < first || cursor >= last) return first;
  return cursor + 1n;
}

export function sameIp(a: IpAddress, b: IpAddress): boolean {
  return a.family === b.family && a.value === b.value;
}
