// stdin -> NetConf: every field validated, defaulted and typed once, with errors that name the key.
// Unknown keys are tolerated (spec); known keys with values we cannot honour are code 2.
import { cidrNetwork, cidrsOverlap, formatCidr, isIpv4Mapped, parseCidr, parseIp, parseIpv6, type IpAddress, type IpCidr, type IpFamily } from '../lib/cidr.ts';
import { LOG_LEVELS, type LogLevel } from '../lib/log.ts';
import { IpamRangeError } from '../ipam/errors.ts';
import { buildRange, type IpRange } from '../ipam/range.ts';
import type { Attachment } from '../ipam/store.ts';
import { CniError, ErrorCode } from './errors.ts';
import type { ResultDns } from './result.ts';
import { isSupportedVersion, SUPPORTED_VERSIONS, type CniVersion } from '../lib/cni-version.ts';
import { BUILTIN_IPAM_TYPE, DEFAULT_BRIDGE } from '../lib/names.ts';

export const DEFAULTS = {
  bridge: DEFAULT_BRIDGE,
  mtu: 1500,
  dataDir: '/var/lib/cni/bridgeway',
  logFile: '/var/log/bridgeway/cni.log',
  logLevel: 'info' as LogLevel,
} as const;

export interface ConfigRoute {
  dst: IpCidr;
  gw?: IpAddress;
}

/** Addresses come from our own store: one range per family, IPv4 first. */
export interface BuiltinIpam {
  kind: 'builtin';
  /** Each with its gateway set (default: the subnet's first address). */
  ranges: (IpRange & { gateway: bigint })[];
  routes: ConfigRoute[];
}

/** Addresses come from another IPAM plugin found in CNI_PATH (e.g. host-local). */
export interface DelegatedIpam {
  kind: 'delegated';
  type: string;
}

export interface NetConf {
  cniVersion: CniVersion;
  name: string;
  type: string;
  bridge: string;
  mtu: number;
  isGateway: boolean;
  isDefaultGateway: boolean;
  hairpinMode: boolean;
  dataDir: string;
  logFile: string;
  logLevel: LogLevel;
  ipam: BuiltinIpam | DelegatedIpam;
  /** Copied into the result for the runtime. */
  dns: ResultDns;
  prevResult?: unknown;
  /** GC only: the attachments the runtime still wants. */
  validAttachments?: Attachment[];
  /** The config exactly as received, passed on to a delegated IPAM plugin. */
  raw: Record<string, unknown>;
}

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const IFNAME = /^[^\s/:]{1,15}$/;
const PLUGIN_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

function invalid(message: string): CniError {
  return new CniError(ErrorCode.InvalidNetworkConfig, `invalid network config: ${message}`);
}

function unsupported(key: string, value: unknown, why: string): CniError {
  return new CniError(ErrorCode.UnsupportedField, `unsupported field ${key}=${JSON.stringify(value)}: ${why}`);
}

/** Why an IPv4-mapped IPv6 address (::ffff:a.b.c.d) is refused: it is IPv4 in disguise. */
function mappedHint(text: string): string {
  const v6 = parseIpv6(text.split('/')[0]!);
  return v6 !== undefined && isIpv4Mapped(v6) ? ' (an IPv4-mapped IPv6 address: write the IPv4 address itself)' : '';
}

/** Typed readers for one JSON object; `where` prefixes key names in messages (e.g. "ipam."). */
class Fields {
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

export function parseNetConf(stdin: string): NetConf {
  let json: unknown;
  try {
    json = JSON.parse(stdin);
  } catch (error) {
    throw new CniError(ErrorCode.DecodingFailure, `cannot decode network config from stdin: ${(error as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new CniError(ErrorCode.DecodingFailure, 'network config on stdin must be a JSON object');
  }
  const raw = json as Record<string, unknown>;
  const f = new Fields(raw);

  const cniVersion = f.string('cniVersion');
  if (cniVersion === undefined) throw invalid('"cniVersion" is required');
  if (!isSupportedVersion(cniVersion)) {
    throw new CniError(
      ErrorCode.IncompatibleVersion,
      `incompatible CNI version ${JSON.stringify(cniVersion)}: bridgeway supports ${SUPPORTED_VERSIONS.join(', ')}`,
    );
  }
  const name = f.string('name');
  if (!name || !NAME.test(name)) throw invalid(`"name" must match ${NAME.source}, got ${JSON.stringify(name)}`);
  const type = f.string('type') ?? '';

  const bridge = f.string('bridge', DEFAULTS.bridge)!;
  if (!IFNAME.test(bridge)) throw invalid(`"bridge" must be a valid interface name (1-15 characters, no "/", ":" or spaces), got ${JSON.stringify(bridge)}`);
  const isGateway = f.bool('isGateway', true);
  if (f.bool('ipMasq', false)) {
    throw unsupported('ipMasq', raw.ipMasq, 'masquerading is done once per node by the bridgeway agent; remove ipMasq');
  }
  if (f.has('vlan')) throw unsupported('vlan', raw.vlan, 'bridgeway does not tag pod traffic');

  const logLevel = f.string('logLevel', DEFAULTS.logLevel)!;
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw invalid(`"logLevel" must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(logLevel)}`);
  }

  const ipamFields = f.object('ipam');
  if (!ipamFields) throw invalid('"ipam" is required (at least {"subnet": "<the node\'s podCIDR>"})');

  return {
    cniVersion,
    name,
    type,
    bridge,
    mtu: f.int('mtu', DEFAULTS.mtu, 576, 65535),
    isGateway,
    isDefaultGateway: f.bool('isDefaultGateway', isGateway),
    hairpinMode: f.bool('hairpinMode', false),
    dataDir: f.string('dataDir', DEFAULTS.dataDir)!,
    logFile: f.string('logFile', DEFAULTS.logFile)!,
    logLevel: logLevel as LogLevel,
    ipam: parseIpam(ipamFields),
    dns: (f.object('dns') ? raw.dns : {}) as ResultDns,
    prevResult: raw.prevResult,
    validAttachments: parseValidAttachments(raw),
    raw,
  };
}

function parseIpam(f: Fields): BuiltinIpam | DelegatedIpam {
  const type = f.string('type', BUILTIN_IPAM_TYPE)!;
  if (type !== BUILTIN_IPAM_TYPE) {
    if (!PLUGIN_NAME.test(type)) throw invalid(`"ipam.type" must be a plugin name, got ${JSON.stringify(type)}`);
    return { kind: 'delegated', type };
  }

  const ranges = parseRanges(f);
  const families = new Set(ranges.map((r) => r.family));
  const routes = (f.array('routes') ?? ranges.map((r) => ({ dst: r.family === 4 ? '0.0.0.0/0' : '::/0' }))).map((entry, i) => {
    if (typeof entry !== 'object' || entry === null) throw invalid(`"ipam.routes[${i}]" must be an object`);
    const route = new Fields(entry as Record<string, unknown>, `ipam.routes[${i}].`);
    const dst = route.cidr('dst');
    if (!dst) throw invalid(`"ipam.routes[${i}].dst" is required`);
    // A route of a family the pod has no address of could never be installed.
    if (!families.has(dst.family)) throw invalid(`"ipam.routes[${i}].dst" ${formatCidr(dst)} is IPv${dst.family}, but no IPv${dst.family} range is configured`);
    return { dst: { ...dst, address: cidrNetwork(dst) }, gw: route.ip('gw', dst.family) };
  });
  return { kind: 'builtin', ranges, routes };
}

/**
 * `ipam.subnet` (+ rangeStart/rangeEnd/gateway) for one range, or host-local's
 * `ranges: [[{subnet: <v4>}], [{subnet: <v6>}]]`: one range set per family, one range per set.
 */
function parseRanges(f: Fields): (IpRange & { gateway: bigint })[] {
  const sets = f.array('ranges');
  if (sets === undefined) return [parseRange(f, 'ipam.subnet')];
  if (f.has('subnet')) throw unsupported('ipam.ranges', sets, 'give either ipam.subnet or ipam.ranges, not both');
  if (sets.length === 0) throw invalid('"ipam.ranges" must name at least one range set');
  const ranges = sets.map((set, i) => {
    if (!Array.isArray(set) || set.length === 0) throw invalid(`"ipam.ranges[${i}]" must be a non-empty array of ranges`);
    if (set.length > 1) throw unsupported(`ipam.ranges[${i}]`, set, 'the built-in IPAM takes one range per family (the node\'s podCIDR of that family)');
    if (typeof set[0] !== 'object' || set[0] === null || Array.isArray(set[0])) throw invalid(`"ipam.ranges[${i}][0]" must be an object`);
    return parseRange(new Fields(set[0] as Record<string, unknown>, `ipam.ranges[${i}][0].`), `ipam.ranges[${i}][0].subnet`);
  });
  const seen = new Map<IpFamily, number>();
  ranges.forEach((range, i) => {
    const first = seen.get(range.family);
    if (first !== undefined) {
      throw invalid(`"ipam.ranges[${i}][0].subnet" ${formatCidr(range.subnet)} is a second IPv${range.family} range (ipam.ranges[${first}] is one already): give one range per family`);
    }
    seen.set(range.family, i);
  });
  return ranges.sort((a, b) => a.family - b.family);
}

/** IPv6 prefixes whose addresses cannot be a pod's unicast address on a routed bridge. */
const UNUSABLE_V6 = [
  { cidr: parseCidr('ff00::/8')!, why: 'the multicast range' },
  { cidr: parseCidr('fe80::/10')!, why: 'link-local addresses, which are never routed between nodes' },
];

function parseRange(f: Fields, subnetKey: string): IpRange & { gateway: bigint } {
  const subnet = f.cidr('subnet');
  if (!subnet) throw invalid(`"${subnetKey}" is required: the node's podCIDR, e.g. "10.244.1.0/24" or "fd00:10:244:1::/64"`);
  const network = cidrNetwork(subnet);
  if (network !== subnet.address) {
    throw invalid(`"${subnetKey}" ${formatCidr(subnet)} has host bits set; did you mean ${formatCidr({ ...subnet, address: network })}?`);
  }
  const unusable = UNUSABLE_V6.find((u) => subnet.family === 6 && cidrsOverlap(u.cidr, subnet));
  if (unusable) throw invalid(`"${subnetKey}" ${formatCidr(subnet)} cannot hold pod addresses: it overlaps ${formatCidr(unusable.cidr)}, ${unusable.why}`);
  const gateway = f.ip('gateway', subnet.family)?.value ?? network + 1n;
  try {
    const range = buildRange(subnet, { start: f.ip('rangeStart', subnet.family)?.value, end: f.ip('rangeEnd', subnet.family)?.value, gateway });
    return { ...range, gateway };
  } catch (error) {
    if (error instanceof IpamRangeError) throw invalid(`"${subnetKey}": ${error.message}`);
    throw error;
  }
}

function parseValidAttachments(raw: Record<string, unknown>): Attachment[] | undefined {
  // libcni sends both keys; the older one first appeared in pre-1.1 drafts.
  const list = raw['cni.dev/valid-attachments'] ?? raw['cni.dev/attachments'];
  if (list === undefined) return undefined;
  if (!Array.isArray(list)) throw invalid('"cni.dev/valid-attachments" must be an array');
  return list.map((entry, i) => {
    const item = entry as Record<string, unknown> | null;
    const containerId = item?.containerID;
    const ifname = item?.ifname;
    if (typeof containerId !== 'string' || typeof ifname !== 'string') {
      throw invalid(`"cni.dev/valid-attachments[${i}]" must have string containerID and ifname`);
    }
    return { containerId, ifname };
  });
}
