// Typed readers for the JSON objects of a network config: each key read once, with the type it
// must have and an error that names it (with the path to it, e.g. "ipam.ranges[0][0].subnet").
import { isIpv4Mapped, parseCidr, parseIp, parseIpv6, type IpAddress, type IpCidr, type IpFamily } from '../../lib/cidr.ts';
import { CniError, ErrorCode } from '../errors.ts';

/** A known key with a value that is malformed (code 7). */
export function invalid(message: string): CniError {
  return new CniError(ErrorCode.InvalidNetworkConfig, `invalid network config: ${message}`);
}

/** A known key with a value we cannot honour (code 2). */
export function unsupported(key: string, value: unknown, why: string): CniError {
  return new CniError(ErrorCode.UnsupportedField, `unsupported field ${key}=${JSON.stringify(value)}: ${why}`);
}

/** Why an IPv4-mapped IPv6 address (::ffff:a.b.c.d) is refused: it is IPv4 in disguise. */
function mappedHint(text: string): string {
  const v6 = parseIpv6(text.split('/')[0]!);
  return v6 !== undefined && isIpv4Mapped(v6) ? ' (an IPv4-mapped IPv6 address: write the IPv4 address itself)' : '';
}

/** Typed readers for one JSON object; `where` prefixes key names in messages (e.g. "ipam."). */
export class Fields {
  private readonly obj: Record<string, unknown>;
  private readonly where: string;

  constructor(obj: Record<string, unknown>, where = '') {
    this.obj = obj;
    this.where = where;
  }

  has(key: string): boolean {
    return this.obj[key] !== undefined && this.obj[key] !== null;
  }

  string(key: string, fallback?: string): string | undefined {
    const value = this.obj[key];
    if (value === undefined || value === null) return fallback;
    if (typeof value !== 'string') throw invalid(`"${this.where}${key}" must be a string, got ${JSON.stringify(value)}`);
    return value;
  }

  /** Booleans may arrive as the strings "true"/"false" (spec CONVENTIONS). */
  bool(key: string, fallback: boolean): boolean {
    const value = this.obj[key];
    if (value === undefined || value === null) return fallback;
    if (typeof value === 'boolean') return value;
    if (value === 'true' || value === 'false') return value === 'true';
    throw invalid(`"${this.where}${key}" must be true or false, got ${JSON.stringify(value)}`);
  }

  int(key: string, fallback: number, min: number, max: number): number {
    const value = this.obj[key];
    if (value === undefined || value === null) return fallback;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      throw invalid(`"${this.where}${key}" must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
    }
    return value;
  }

  /** An address of either family, or of `family` when given (e.g. a range's own). */
  ip(key: string, family?: IpFamily): IpAddress | undefined {
    const text = this.string(key);
    if (text === undefined) return undefined;
    const ip = parseIp(text);
    if (!ip) throw invalid(`"${this.where}${key}" must be an IPv4 or IPv6 address, got ${JSON.stringify(text)}${mappedHint(text)}`);
    if (family !== undefined && ip.family !== family) {
      throw invalid(`"${this.where}${key}" ${text} is IPv${ip.family}, but it belongs to an IPv${family} ${key === 'gw' ? 'route' : 'range'}`);
    }
    return ip;
  }

  cidr(key: string): IpCidr | undefined {
    const text = this.string(key);
    if (text === undefined) return undefined;
    const cidr = parseCidr(text);
    if (!cidr) throw invalid(`"${this.where}${key}" must be a CIDR like 10.244.1.0/24 or fd00:10:244:1::/64, got ${JSON.stringify(text)}${mappedHint(text)}`);
    return cidr;
  }

  object(key: string): Fields | undefined {
    const value = this.obj[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'object' || Array.isArray(value)) throw invalid(`"${this.where}${key}" must be an object`);
    return new Fields(value as Record<string, unknown>, `${this.where}${key}.`);
  }

  array(key: string): unknown[] | undefined {
    const value = this.obj[key];
    if (value === undefined || value === null) return undefined;
    if (!Array.isArray(value)) throw invalid(`"${this.where}${key}" must be an array`);
    return value;
  }
}
