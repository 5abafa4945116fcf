// The "ipam" object of a network config: the built-in IPAM's ranges (one per family) and routes,
// or the name of another IPAM plugin to delegate to. Ranges are checked here, at parse time, so a
// podCIDR that cannot hold pods is a config error (code 7), never a failed ADD.
import { cidrNetwork, cidrsOverlap, formatCidr, parseCidr, type IpAddress, type IpCidr, type IpFamily } from '../../lib/cidr.ts';
import { buildRange, IpamRangeError, type IpRange } from '../../ipam/index.ts';
import { Fields, invalid, unsupported } from './fields.ts';
import { BUILTIN_IPAM_TYPE } from '../../lib/names.ts';

/** Any ipam.type but the built-in one names a plugin to delegate to: a file name in CNI_PATH. */
const PLUGIN_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

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

export function parseIpam(f: Fields): BuiltinIpam | DelegatedIpam {
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
