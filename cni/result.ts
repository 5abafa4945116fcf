// The ADD result in the spec's shape, and its conversion to the version the runtime asked for.
// libcni decodes a result into the Go types of its version and hands *that* to the next plugin
// as prevResult, so a field the version does not define silently disappears: print exactly the
// version's fields (SPEC.md "Result" of each spec-vX tag; libcni pkg/types/040 and 100).
import { compareVersions, type CniVersion } from '../lib/cni-version.ts';

export interface ResultInterface {
  name: string;
  mac?: string;
  /** 1.1.0 and later. */
  mtu?: number;
  sandbox?: string;
  /** 1.1.0 and later. */
  socketPath?: string;
  /** 1.1.0 and later. */
  pciID?: string;
}

export interface ResultIp {
  address: string;
  gateway?: string;
  interface?: number;
}

export interface ResultRoute {
  dst: string;
  gw?: string;
  /** 1.1.0 and later. */
  mtu?: number;
  advmss?: number;
  priority?: number;
  table?: number;
  scope?: number;
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

/** The fields each result version defines, in the order the spec lists them. */
interface ResultShape {
  interface: readonly (keyof ResultInterface)[];
  /** ips[].version ("4"/"6") exists only before 1.0.0, where it is required. */
  ipVersion: boolean;
  ip: readonly (keyof ResultIp)[];
  route: readonly (keyof ResultRoute)[];
}

const SHAPE_0_4: ResultShape = {
  interface: ['name', 'mac', 'sandbox'],
  ipVersion: true,
  ip: ['address', 'gateway', 'interface'],
  route: ['dst', 'gw'],
};
const SHAPE_1_0: ResultShape = { ...SHAPE_0_4, ipVersion: false };
const SHAPE_1_1: ResultShape = {
  interface: ['name', 'mac', 'mtu', 'sandbox', 'socketPath', 'pciID'],
  ipVersion: false,
  ip: ['address', 'gateway', 'interface'],
  route: ['dst', 'gw', 'mtu', 'advmss', 'priority', 'table', 'scope'],
};
const DNS_FIELDS: readonly (keyof ResultDns)[] = ['nameservers', 'domain', 'search', 'options'];

/** 0.3.0, 0.3.1 and 0.4.0 share one result type; 1.0.0 drops ips[].version; 1.1.0 adds fields. */
function resultShape(version: CniVersion): ResultShape {
  if (compareVersions(version, '1.0.0') < 0) return SHAPE_0_4;
  return compareVersions(version, '1.1.0') < 0 ? SHAPE_1_0 : SHAPE_1_1;
}

/** The result as JSON for the given version (only versions we claim in VERSION). */
export function convertResult(result: Result, version: CniVersion): Record<string, unknown> {
  const shape = resultShape(version);
  return {
    cniVersion: version,
    interfaces: result.interfaces.map((i) => pick(i, shape.interface)),
    ips: result.ips.map((ip) => ({
      ...(shape.ipVersion ? { version: ip.address.includes(':') ? '6' : '4' } : {}),
      ...pick(ip, shape.ip),
    })),
    routes: result.routes.map((r) => pick(r, shape.route)),
    dns: pick(result.dns, DNS_FIELDS),
  };
}

/** The listed keys of obj that are set, in the listed order. */
function pick<T extends object>(obj: T, keys: readonly (keyof T)[]): Partial<T> {
  const out: Partial<T> = {};
  for (const key of keys) if (obj[key] !== undefined) out[key] = obj[key];
  return out;
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
