// stdin -> NetConf: every field validated, defaulted and typed once, with errors that name the key.
// Unknown keys are tolerated (spec); known keys with values we cannot honour are code 2.
import { formatIpv4, looksLikeIpv6, networkAddress, parseIpv4, parseIpv4Cidr, type Ipv4Cidr } from '../lib/cidr.ts';
import { LOG_LEVELS, type LogLevel } from '../lib/log.ts';
import { IpamRangeError } from '../ipam/errors.ts';
import { buildRange, type IpRange } from '../ipam/range.ts';
import type { Attachment } from '../ipam/store.ts';
import { CniError, ErrorCode } from './errors.ts';
import type { ResultDns } from './result.ts';
import { isSupportedVersion, SUPPORTED_VERSIONS, type CniVersion } from '../lib/cni-version.ts';

export const DEFAULTS = {
  bridge: 'cni0',
  mtu: 1500,
  dataDir: '/var/lib/cni/bridgeway',
  logFile: '/var/log/bridgeway/cni.log',
  logLevel: 'info' as LogLevel,
} as const;

export interface ConfigRoute {
  dst: Ipv4Cidr;
  gw?: number;
}

/** Addresses come from our own store. */
export interface BuiltinIpam {
  kind: 'builtin';
  range: IpRange;
  gateway: number;
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
const PLUGIN_TYPE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
export const BUILTIN_IPAM_TYPE = 'bridgeway';

function invalid(message: string): CniError {
  return new CniError(ErrorCode.InvalidNetworkConfig, `invalid network config: ${message}`);
}

function unsupported(key: string, value: unknown, why: string): CniError {
  return new CniError(ErrorCode.UnsupportedField, `unsupported field ${key}=${JSON.stringify(value)}: ${why}`);
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

  ipv4(key: string): number | undefined {
    const text = this.string(key);
    if (text === undefined) return undefined;
    if (looksLikeIpv6(text)) throw unsupported(`${this.where}${key}`, text, 'bridgeway supports IPv4 pod networks only');
    const ip = parseIpv4(text);
    if (ip === undefined) throw invalid(`"${this.where}${key}" must be an IPv4 address, got ${JSON.stringify(text)}`);
    return ip;
  }

  cidr(key: string): Ipv4Cidr | undefined {
    const text = this.string(key);
    if (text === undefined) return undefined;
    if (looksLikeIpv6(text)) throw unsupported(`${this.where}${key}`, text, 'bridgeway supports IPv4 pod networks only');
    const cidr = parseIpv4Cidr(text);
    if (!cidr) throw invalid(`"${this.where}${key}" must be an IPv4 CIDR like 10.244.1.0/24, got ${JSON.stringify(text)}`);
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
    if (!PLUGIN_TYPE.test(type)) throw invalid(`"ipam.type" must be a plugin name, got ${JSON.stringify(type)}`);
    return { kind: 'delegated', type };
  }

  let rangeFields: Fields = f;
  const ranges = f.array('ranges');
  if (ranges !== undefined) {
    // host-local style [[{subnet,...}]]: accepted when it names exactly one IPv4 range.
    const sets = ranges.flat();
    if (sets.length !== 1 || f.has('subnet')) {
      throw unsupported('ipam.ranges', ranges, 'the built-in IPAM takes exactly one range (the node\'s podCIDR)');
    }
    if (typeof sets[0] !== 'object' || sets[0] === null) throw invalid('"ipam.ranges[0][0]" must be an object');
    rangeFields = new Fields(sets[0] as Record<string, unknown>, 'ipam.ranges[0][0].');
  }
  const subnet = rangeFields.cidr('subnet');
  if (!subnet) throw invalid('"ipam.subnet" is required: the node\'s podCIDR, e.g. "10.244.1.0/24"');
  if (networkAddress(subnet) !== subnet.address) {
    throw invalid(`"ipam.subnet" ${formatIpv4(subnet.address)}/${subnet.prefixLength} has host bits set; did you mean ${formatIpv4(networkAddress(subnet))}/${subnet.prefixLength}?`);
  }
  const gateway = rangeFields.ipv4('gateway') ?? networkAddress(subnet) + 1;
  let range: IpRange;
  try {
    range = buildRange(subnet, { start: rangeFields.ipv4('rangeStart'), end: rangeFields.ipv4('rangeEnd'), gateway });
  } catch (error) {
    if (error instanceof IpamRangeError) throw invalid(`ipam: ${error.message}`);
    throw error;
  }

  const routes = (f.array('routes') ?? [{ dst: '0.0.0.0/0' }]).map((entry, i) => {
    if (typeof entry !== 'object' || entry === null) throw invalid(`"ipam.routes[${i}]" must be an object`);
    const route = new Fields(entry as Record<string, unknown>, `ipam.routes[${i}].`);
    const dst = route.cidr('dst');
    if (!dst) throw invalid(`"ipam.routes[${i}].dst" is required`);
    return { dst: { address: networkAddress(dst), prefixLength: dst.prefixLength }, gw: route.ipv4('gw') };
  });
  return { kind: 'builtin', range, gateway, routes };
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
