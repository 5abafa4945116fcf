// The ADD result in the spec's shape, and its conversion to the version the runtime asked for.
// 1.x results have no ips[].version; 0.3.x/0.4.0 results require it.
import { compareVersions, type CniVersion } from '../lib/cni-version.ts';

export interface ResultInterface {
  name: string;
  mac?: string;
  mtu?: number;
  sandbox?: string;
}

export interface ResultIp {
  address: string;
  gateway?: string;
  interface?: number;
}

export interface ResultRoute {
  dst: string;
  gw?: string;
}

export interface ResultDns {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

export interface Result {
  cniVersion: string;
  interfaces: ResultInterface[];
  ips: ResultIp[];
  routes: ResultRoute[];
  dns: ResultDns;
}

/** The result as JSON for the given version (only versions we claim in VERSION). */
export function convertResult(result: Result, version: CniVersion): Record<string, unknown> {
  const legacy = compareVersions(version, '1.0.0') < 0;
  const ips = result.ips.map((ip) => (legacy ? { version: ip.address.includes(':') ? '6' : '4', ...ip } : ip));
  return { cniVersion: version, interfaces: result.interfaces, ips, routes: result.routes, dns: result.dns };
}

/** Reads a prevResult (of any supported version) into our shape; undefined when malformed. */
export function parsePrevResult(value: unknown): Result | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const raw = value as Record<string, unknown>;
  const arrayOf = <T>(key: string): T[] => (Array.isArray(raw[key]) ? (raw[key] as T[]) : []);
  const ips = arrayOf<Record<string, unknown>>('ips').filter((ip) => typeof ip?.address === 'string');
  return {
    cniVersion: typeof raw.cniVersion === 'string' ? raw.cniVersion : '',
    interfaces: arrayOf<ResultInterface>('interfaces').filter((i) => typeof i?.name === 'string'),
    ips: ips.map((ip) => ({
      address: ip.address as string,
      gateway: typeof ip.gateway === 'string' ? ip.gateway : undefined,
      interface: typeof ip.interface === 'number' ? ip.interface : undefined,
    })),
    routes: arrayOf<ResultRoute>('routes').filter((r) => typeof r?.dst === 'string'),
    dns: typeof raw.dns === 'object' && raw.dns !== null ? (raw.dns as ResultDns) : {},
  };
}
