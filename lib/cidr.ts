// IPv4 address and prefix arithmetic on plain numbers (uint32), kept pure for table tests.

export interface Ipv4Cidr {
  /** The address as written (may be a host address inside the prefix). */
  address: number;
  prefixLength: number;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export function parseIpv4(text: string): number | undefined {
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

export function formatIpv4(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.');
}

export function parseIpv4Cidr(text: string): Ipv4Cidr | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const address = parseIpv4(text.slice(0, slash));
  const lengthText = text.slice(slash + 1);
  if (address === undefined || !/^\d{1,2}$/.test(lengthText)) return undefined;
  const prefixLength = Number(lengthText);
  if (prefixLength > 32) return undefined;
  return { address, prefixLength };
}

export function formatCidr(cidr: Ipv4Cidr): string {
  return `${formatIpv4(cidr.address)}/${cidr.prefixLength}`;
}

export function prefixMask(prefixLength: number): number {
  return prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
}

export function networkAddress(cidr: Ipv4Cidr): number {
  return (cidr.address & prefixMask(cidr.prefixLength)) >>> 0;
}

export function broadcastAddress(cidr: Ipv4Cidr): number {
  return (networkAddress(cidr) | ~prefixMask(cidr.prefixLength)) >>> 0;
}

export function cidrContains(cidr: Ipv4Cidr, address: number): boolean {
  return ((address & prefixMask(cidr.prefixLength)) >>> 0) === networkAddress(cidr);
}

export function looksLikeIpv6(text: string): boolean {
  return text.includes(':');
}
