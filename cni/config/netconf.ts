// stdin -> NetConf: every field validated, defaulted and typed once, with errors that name the key.
// Unknown keys are tolerated (spec); known keys with values we cannot honour are code 2.
// The "ipam" object is ipam.ts's; the typed readers are fields.ts's.
import { LOG_LEVELS, type LogLevel } from '../../lib/log.ts';
import { isSupportedVersion, SUPPORTED_VERSIONS, type CniVersion } from '../../lib/cni-version.ts';
import type { Attachment } from '../../ipam/index.ts';
import { CniError, ErrorCode } from '../errors.ts';
import type { ResultDns } from '../result.ts';
import { Fields, invalid, unsupported } from './fields.ts';
import { parseIpam, type BuiltinIpam, type DelegatedIpam } from './ipam.ts';
import { ANTI_SPOOFING_DEFAULT, DEFAULT_BRIDGE } from '../../lib/names.ts';
import { parseMacvlanConf, type MacvlanConf } from '../macvlan/config.ts';
import { parseOvsConf, type OvsConf } from '../ovs/config.ts';

const DEFAULTS = {
  bridge: DEFAULT_BRIDGE,
  mtu: 1500,
  dataDir: '/var/lib/cni/bridgeway',
  logFile: '/var/log/bridgeway/cni.log',
  logLevel: 'info' as LogLevel,
  // On, as flannel's conflist ships it: a pod reaching itself through its own Service is common
  // (its Service name, health checks, leader election), and kube-proxy DNATs that connection back
  // to the port it came in by, which the bridge refuses unless the port's hairpin mode is on.
  hairpinMode: true,
} as const;

export interface NetConf {
  cniVersion: CniVersion;
  name: string;
  type: string;
  /** What the pod's interface is: a veth on the node's bridge (default), or a macvlan of a NIC (cni/macvlan/). */
  mode: 'bridge' | 'macvlan';
  /** The keys of macvlan mode, when that is the mode. */
  macvlan?: MacvlanConf;
  /** The switch the host veths are ports of: a Linux bridge (default) or an Open vSwitch bridge (cni/ovs/). */
  bridgeType: 'linux' | 'ovs';
  /** The keys of an Open vSwitch bridge, when that is the bridge type. */
  ovs?: OvsConf;
  bridge: string;
  mtu: number;
  isGateway: boolean;
  isDefaultGateway: boolean;
  /**
   * The host veth's hairpin mode, on by default: a pod may reach itself through a Service whose
   * backend it is. ADD sets it either way, CHECK compares it.
   */
  hairpinMode: boolean;
  /**
   * Each pod may send only as itself (its MAC, addresses, ARP and ND claims) and never as a
   * router or DHCP server (lib/antispoof/ruleset.ts). On by default; off for a network whose
   * pods legitimately send from other addresses (a pod that routes, a VPN gateway).
   */
  antiSpoofing: boolean;
  /**
   * The bridged LAN (cni/uplink.ts): the bridge holds this NIC, with the node's addresses and
   * routes moved onto it; pods get LAN addresses, the bridge holds no gateway of its own.
   */
  uplink?: string;
  /** Allows "uplink" to take the NIC that carries the node's default route. */
  uplinkTakeover: boolean;
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
  const bridgeType = f.string('bridgeType', 'linux')!;
  if (bridgeType !== 'linux' && bridgeType !== 'ovs') throw invalid(`"bridgeType" must be "linux" or "ovs", got ${JSON.stringify(bridgeType)}`);
  if (f.has('vlan') && bridgeType !== 'ovs') throw unsupported('vlan', raw.vlan, 'bridgeway tags pod traffic on Open vSwitch bridges only ("bridgeType": "ovs")');

  const uplink = f.string('uplink');
  if (uplink !== undefined && (!IFNAME.test(uplink) || uplink === bridge)) {
    throw invalid(`"uplink" must name the LAN NIC the bridge takes (an interface name other than the bridge's), got ${JSON.stringify(uplink)}`);
  }

  const logLevel = f.string('logLevel', DEFAULTS.logLevel)!;
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw invalid(`"logLevel" must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(logLevel)}`);
  }

  const mode = f.string('mode', 'bridge')!;
  if (mode !== 'bridge' && mode !== 'macvlan') throw invalid(`"mode" must be "bridge" or "macvlan", got ${JSON.stringify(mode)}`);
  const macvlan = mode === 'macvlan' ? parseMacvlanConf(f, raw) : undefined;
  if (macvlan && bridgeType === 'ovs') throw invalid('"mode": "macvlan" has no bridge: remove "bridgeType": "ovs"');
  const ovs = bridgeType === 'ovs' ? parseOvsConf(f, raw) : undefined;

  const ipamFields = f.object('ipam');
  if (!ipamFields) throw invalid('"ipam" is required (at least {"subnet": "<the node\'s podCIDR>"})');

  const ipam = parseIpam(ipamFields);
  if (macvlan?.hostShim && ipam.kind !== 'builtin') {
    throw unsupported('hostShim', raw.hostShim, 'the host shim routes the range the built-in IPAM allocates from; a delegated IPAM plugin does not say it');
  }

  return {
    cniVersion,
    name,
    type,
    mode,
    ...(macvlan ? { macvlan } : {}),
    bridgeType,
    ...(ovs ? { ovs } : {}),
    bridge,
    mtu: f.int('mtu', DEFAULTS.mtu, 576, 65535),
    isGateway,
    isDefaultGateway: f.bool('isDefaultGateway', isGateway),
    hairpinMode: f.bool('hairpinMode', DEFAULTS.hairpinMode),
    // Off in macvlan mode: the table guards bridge ports (macvlan/config.ts refuses it turned on).
    // On Open vSwitch it is OpenFlow flows (cni/ovs/guard.ts), on by default but on trunk ports
    // (ovs/config.ts refuses it on there).
    antiSpoofing: macvlan ? false : f.bool('antiSpoofing', ovs?.trunks ? false : ANTI_SPOOFING_DEFAULT),
    ...(uplink !== undefined ? { uplink } : {}),
    uplinkTakeover: f.bool('uplinkTakeover', false),
    dataDir: f.string('dataDir', DEFAULTS.dataDir)!,
    logFile: f.string('logFile', DEFAULTS.logFile)!,
    logLevel: logLevel as LogLevel,
    ipam,
    dns: (f.object('dns') ? raw.dns : {}) as ResultDns,
    prevResult: raw.prevResult,
    validAttachments: parseValidAttachments(raw),
    raw,
  };
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
