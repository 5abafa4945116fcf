// Command line + environment -> AgentConfig. One table defines every setting, so --help, the
// environment fallbacks and the validation errors (which name the flag) cannot drift apart.
import { parseArgs } from 'node:util';
import { cidrNetwork, formatCidr, parseCidr, parseIp, type IpCidr } from '../lib/cidr.ts';
import { isSupportedVersion, SUPPORTED_VERSIONS, type CniVersion } from '../lib/cni-version.ts';
import { LOG_LEVELS, type LogLevel } from '../lib/log.ts';
import type { IptablesMode } from '../lib/iptables/backend.ts';
import { DEFAULT_BRIDGE } from '../lib/names.ts';

export interface AgentConfig {
  command: 'run' | 'uninstall' | 'doctor' | 'policy';
  nodeName: string;
  kubeconfig?: string;
  nodesFile?: string;
  iface: string;
  ifaceCidr?: IpCidr;
  /** --cluster-cidr: one CIDR per family the cluster uses (IPv4 first), as kube-controller-manager takes it. */
  clusterCIDRs: IpCidr[];
  cniBinDir: string;
  cniConfDir: string;
  pluginBinary: string;
  bridge: string;
  /** --bridge-type: the pods' switch, a Linux bridge or an Open vSwitch bridge (daemonset/ovs/). */
  bridgeType: 'linux' | 'ovs';
  /** bridgeType ovs: the database's socket and the datapath type a new bridge gets. */
  ovs?: { socket: string; datapath: OvsDatapath };
  dataDir: string;
  cniLogFile: string;
  /** Explicit --cni-version; undefined: chosen from the Node's runtime (Kubernetes mode) or 1.0.0 (standalone). */
  cniVersion?: CniVersion;
  health: { host: string; port: number };
  resyncMs: number;
  logLevel: LogLevel;
  iptables?: IptablesMode;
  once: boolean;
  /** `doctor` only: print JSON; release reservations whose attachment is gone. */
  doctor?: { json: boolean; fixLeaks: boolean };
  /** `uninstall --serve`: the uninstall DaemonSet's mode (uninstall-daemon.ts). */
  serve: boolean;
  /** Enforce NetworkPolicy (BRIDGEWAY_NETWORK_POLICY, default true); false: our table is removed, nothing compiled. */
  networkPolicy: boolean;
  /** --ovsdb-socket: the Open vSwitch database (bridgeType ovs). */
  ovsdbSocket: string;
  /** --ovs-sflow / --ovs-netflow: collectors (ip:port) the OVS bridge exports flow samples/records to; none: ours removed (ovs/flow-export.ts). */
  flowExport: { sflow?: string; netflow?: string };
  /** `policy explain <ns>/<pod> <ns>/<pod> <port>/<proto>`. */
  explain?: { from: string; to: string; port: number; protocol: 'TCP' | 'UDP' | 'SCTP' };
}

/** The datapath types the agent accepts for an OVS bridge: the kernel module's, or ovs-vswitchd's own (userspace). */
export const OVS_DATAPATHS = ['system', 'netdev'] as const;
export type OvsDatapath = (typeof OVS_DATAPATHS)[number];

export class ConfigError extends Error {
  override name = 'ConfigError';
}

interface Setting {
  flag: string;
  env?: string;
  fallback?: string;
  help: string;
  boolean?: boolean;
}

const SETTINGS: Setting[] = [
  { flag: 'node-name', env: 'NODE_NAME', help: 'this node\'s name (downward API spec.nodeName)' },
  { flag: 'kubeconfig', env: 'KUBECONFIG', help: 'kubeconfig file; default: in-cluster config' },
  { flag: 'nodes-file', env: 'BRIDGEWAY_NODES_FILE', help: 'standalone mode: YAML/JSON file of nodes [{name, podCIDR, eth1IP}] instead of the Kubernetes API' },
  { flag: 'iface', env: 'BRIDGEWAY_IFACE', fallback: 'eth1', help: 'interface joining the nodes' },
  { flag: 'iface-cidr', env: 'BRIDGEWAY_IFACE_CIDR', help: 'pick the interface with an address in this CIDR instead of by name' },
  { flag: 'cluster-cidr', env: 'BRIDGEWAY_CLUSTER_CIDR', help: 'all pods\' addresses, one CIDR per family: <v4>, <v6> or <v4>,<v6> (e.g. 10.244.0.0/16,fd00:10:244::/56); required to run' },
  { flag: 'cni-bin-dir', env: 'BRIDGEWAY_CNI_BIN_DIR', fallback: '/opt/cni/bin', help: 'where the plugin executable is installed' },
  { flag: 'cni-conf-dir', env: 'BRIDGEWAY_CNI_CONF_DIR', fallback: '/etc/cni/net.d', help: 'where the conflist is written' },
  { flag: 'plugin-binary', env: 'BRIDGEWAY_PLUGIN_BINARY', help: 'the plugin executable to install; default: this executable, which is the plugin too' },
  { flag: 'bridge', env: 'BRIDGEWAY_BRIDGE', fallback: DEFAULT_BRIDGE, help: 'the pods\' bridge' },
  { flag: 'bridge-type', env: 'BRIDGEWAY_BRIDGE_TYPE', fallback: 'linux', help: 'linux|ovs: the pods\' bridge is a Linux bridge or an Open vSwitch bridge (the conflist\'s "bridgeType")' },
  { flag: 'ovsdb-socket', env: 'BRIDGEWAY_OVSDB_SOCKET', fallback: '/run/openvswitch/db.sock', help: 'OVSDB unix socket (bridgeType ovs)' },
  { flag: 'ovs-datapath', env: 'BRIDGEWAY_OVS_DATAPATH', fallback: 'system', help: 'system|netdev: the datapath type of the OVS bridge the plugin creates (bridgeType ovs); netdev is the userspace datapath, for kernels without the openvswitch module' },
  { flag: 'data-dir', env: 'BRIDGEWAY_DATA_DIR', fallback: '/var/lib/cni/bridgeway', help: 'the plugin\'s IPAM state, one <dir>/<network>/ per network (uninstall removes only bridgeway/)' },
  { flag: 'cni-log-file', env: 'BRIDGEWAY_CNI_LOG_FILE', fallback: '/var/log/bridgeway/cni.log', help: 'where the plugin logs (written into the conflist)' },
  { flag: 'cni-version', env: 'BRIDGEWAY_CNI_VERSION', help: 'the conflist\'s cniVersion; default: what the Node\'s runtime speaks (1.1.0 from containerd 2.0 / CRI-O 1.31, else 1.0.0), 1.0.0 in standalone mode' },
  { flag: 'health-addr', env: 'BRIDGEWAY_HEALTH_ADDR', fallback: '0.0.0.0:9099', help: 'host:port for /healthz, /readyz and /metrics' },
  { flag: 'resync', env: 'BRIDGEWAY_RESYNC', fallback: '30s', help: 'full resync period (repairs drift), e.g. 30s, 2m' },
  { flag: 'log-level', env: 'BRIDGEWAY_LOG_LEVEL', fallback: 'info', help: LOG_LEVELS.join('|') },
  { flag: 'network-policy', env: 'BRIDGEWAY_NETWORK_POLICY', fallback: 'true', help: 'true|false: enforce NetworkPolicy in the nftables table inet bridgeway_policy; false leaves it to another product (the table is removed)' },
  { flag: 'iptables', env: 'BRIDGEWAY_IPTABLES', fallback: 'auto', help: 'auto|nft|legacy; auto uses the one kube-proxy uses' },
  { flag: 'ovsdb-socket', env: 'BRIDGEWAY_OVSDB_SOCKET', fallback: '/run/openvswitch/db.sock', help: 'OVSDB unix socket (bridgeType ovs)' },
  { flag: 'ovs-sflow', env: 'BRIDGEWAY_OVS_SFLOW', help: 'Open vSwitch: export sFlow samples of the bridge to this collector, ip:port ([ipv6]:port); unset: bridgeway\'s sFlow row is removed' },
  { flag: 'ovs-netflow', env: 'BRIDGEWAY_OVS_NETFLOW', help: 'Open vSwitch: export NetFlow (v5) records of the bridge to this collector, ip:port; unset: bridgeway\'s NetFlow row is removed' },
  { flag: 'once', boolean: true, help: 'sync once and exit (0 when everything is in place)' },
  { flag: 'json', boolean: true, help: 'doctor: print the findings as one JSON document' },
  { flag: 'fix-leaks', boolean: true, help: 'doctor: release IPAM reservations whose pod is gone (its host veth is absent)' },
  { flag: 'serve', boolean: true, help: 'uninstall: wait until the agent has stopped on this node, uninstall (retrying what fails), then answer GET /uninstalled with 200 on --health-addr until SIGTERM (manifests/uninstall.yaml)' },
  { flag: 'help', boolean: true, help: 'show this help' },
];

export function helpText(): string {
  const rows = SETTINGS.map((s) => {
    const left = `  --${s.flag}${s.boolean ? '' : ' <value>'}`;
    const extra = [s.env && `$${s.env}`, s.fallback && `default ${s.fallback}`].filter(Boolean).join(', ');
    return `${left.padEnd(28)} ${s.help}${extra ? ` (${extra})` : ''}`;
  });
  return [
    'bridgeway-agent: routes every node\'s pod network over eth1, owns its iptables chains, installs the CNI plugin.',
    '',
    'usage: bridgeway-agent [flags]            run (until SIGTERM, which leaves routes and rules in place)',
    '       bridgeway-agent uninstall [flags]  remove routes, chains, conflist, plugin, bridge, this network\'s IPAM state, the plugin\'s log',
    '                                          and (Kubernetes mode) the Node\'s bridgeway.io annotations and NetworkUnavailable condition',
    '       bridgeway-agent doctor [flags]     check the node as the agent sees it, change nothing; exit 1 on any FAIL',
    '       bridgeway-agent policy explain <ns>/<pod> <ns>/<pod> <port>/<proto>',
    '                                          the NetworkPolicy verdict on a new connection and the rules that decide it (lists from the API server)',
    '       bridgeway-agent mirror <ns>/<pod> [--to <port> | --to-vlan <tag>] [--stop] [--ovsdb-socket <path>]',
    '                                          Open vSwitch: mirror the pod\'s port to a new port for tcpdump -i (printed) until Ctrl-C',
    '',
    ...rows,
    '',
  ].join('\n');
}

function parseDuration(flag: string, text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text.trim());
  if (!match) throw new ConfigError(`--${flag} must be a duration like 500ms, 30s or 2m, got ${JSON.stringify(text)}`);
  const ms = Number(match[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] as 'ms' | 's' | 'm' | 'h'];
  if (ms < 100) throw new ConfigError(`--${flag} must be at least 100ms`);
  return ms;
}

function parseIfaceCidr(text: string | undefined): IpCidr | undefined {
  if (text === undefined) return undefined;
  const cidr = parseCidr(text);
  if (!cidr) throw new ConfigError(`--iface-cidr must be a CIDR like 192.168.50.0/24 or fd00:50::/64, got ${JSON.stringify(text)}`);
  return { family: cidr.family, address: cidrNetwork(cidr), prefixLength: cidr.prefixLength };
}

/**
 * `<v4>`, `<v6>` or both comma-separated (either order), as kube-controller-manager's
 * --cluster-cidr: at most one per family. Returned IPv4 first, each as its network address.
 */
function parseClusterCidrs(flag: string, text: string | undefined): IpCidr[] {
  if (text === undefined) return [];
  const parts = text.split(',').map((part) => part.trim());
  const cidrs: IpCidr[] = [];
  for (const part of parts) {
    const cidr = parseCidr(part);
    if (!cidr) throw new ConfigError(`--${flag} must be <v4>, <v6> or <v4>,<v6> CIDRs like 10.244.0.0/16,fd00:10:244::/56; ${JSON.stringify(part)} is not a CIDR`);
    const same = cidrs.find((c) => c.family === cidr.family);
    if (same) throw new ConfigError(`--${flag} has two IPv${cidr.family} CIDRs (${formatCidr(same)}, ${part}): give at most one per family`);
    cidrs.push({ family: cidr.family, address: cidrNetwork(cidr), prefixLength: cidr.prefixLength });
  }
  return cidrs.sort((a, b) => a.family - b.family);
}

function parseCniVersion(text: string | undefined): CniVersion | undefined {
  if (text === undefined) return undefined;
  if (!isSupportedVersion(text)) throw new ConfigError(`--cni-version must be one of ${SUPPORTED_VERSIONS.join(', ')} (what the plugin speaks), got ${JSON.stringify(text)}`);
  return text;
}

/**
 * Returns undefined when --help was asked for. `executable` is the running executable's real path
 * (symlinks resolved): the one file that is both the agent and the plugin, so the plugin to install.
 */
export function parseAgentConfig(argv: string[], env: Record<string, string | undefined>, executable: string): AgentConfig | undefined {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: Object.fromEntries(SETTINGS.map((s) => [s.flag, { type: s.boolean ? 'boolean' : 'string' }])) as Record<string, { type: 'string' | 'boolean' }>,
    });
  } catch (error) {
    throw new ConfigError(`${(error as Error).message} (see --help)`);
  }
  if (parsed.values.help) return undefined;
  const [command = 'run', ...extra] = parsed.positionals;
  const explain = command === 'policy' ? parseExplain(extra) : undefined;
  if (!['run', 'uninstall', 'doctor', 'policy'].includes(command) || (extra.length && command !== 'policy')) {
    throw new ConfigError(`unknown command ${JSON.stringify(parsed.positionals.join(' '))}: expected nothing (run), "uninstall", "doctor" or "policy explain"`);
  }
  for (const flag of ['json', 'fix-leaks']) {
    if (parsed.values[flag] && command !== 'doctor') throw new ConfigError(`--${flag} is a doctor flag: bridgeway-agent doctor --${flag}`);
  }
  if (parsed.values.serve && command !== 'uninstall') throw new ConfigError('--serve is an uninstall flag: bridgeway-agent uninstall --serve');
  const value = (flag: string): string | undefined => {
    const setting = SETTINGS.find((s) => s.flag === flag)!;
    const fromFlag = parsed.values[flag];
    if (typeof fromFlag === 'string') return fromFlag;
    const fromEnv = setting.env ? env[setting.env] : undefined;
    return fromEnv !== undefined && fromEnv !== '' ? fromEnv : setting.fallback;
  };

  const nodeName = value('node-name');
  // The doctor checks the node as `run` would drive it, so it needs the same two settings.
  const needsNode = command === 'run' || command === 'doctor';
  if ((needsNode || parsed.values.serve) && !nodeName) throw new ConfigError('--node-name (or $NODE_NAME) is required: set it from the downward API (spec.nodeName)');
  const clusterCIDRs = parseClusterCidrs('cluster-cidr', value('cluster-cidr'));
  if (needsNode && clusterCIDRs.length === 0) throw new ConfigError('--cluster-cidr (or $BRIDGEWAY_CLUSTER_CIDR) is required, e.g. 10.244.0.0/16 or 10.244.0.0/16,fd00:10:244::/56');
  const logLevel = value('log-level')!;
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) throw new ConfigError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(logLevel)}`);
  const iptables = value('iptables')!;
  if (!['auto', 'nft', 'legacy'].includes(iptables)) throw new ConfigError(`--iptables must be auto, nft or legacy, got ${JSON.stringify(iptables)}`);
  const healthText = value('health-addr')!;
  const health = /^(.*):(\d{1,5})$/.exec(healthText);
  if (!health || Number(health[2]) > 65535) throw new ConfigError(`--health-addr must be host:port, got ${JSON.stringify(healthText)}`);
  const networkPolicy = value('network-policy')!;
  if (!['true', 'false'].includes(networkPolicy)) throw new ConfigError(`--network-policy must be true or false, got ${JSON.stringify(networkPolicy)}`);
  const bridgeType = value('bridge-type')!;
  if (bridgeType !== 'linux' && bridgeType !== 'ovs') throw new ConfigError(`--bridge-type must be linux or ovs, got ${JSON.stringify(bridgeType)}`);
  const ovsDatapath = value('ovs-datapath')!;
  if (!(OVS_DATAPATHS as readonly string[]).includes(ovsDatapath)) throw new ConfigError(`--ovs-datapath must be ${OVS_DATAPATHS.join(' or ')}, got ${JSON.stringify(ovsDatapath)}`);
  const ovsdbSocket = value('ovsdb-socket')!;
  if (!ovsdbSocket.startsWith('/')) throw new ConfigError(`--ovsdb-socket must be the absolute path of the database's unix socket, got ${JSON.stringify(ovsdbSocket)}`);
  const iface = value('iface')!;
  if (!/^[^\s/:]{1,15}$/.test(iface)) throw new ConfigError(`--iface must be an interface name, got ${JSON.stringify(iface)}`);

  return {
    command: command as AgentConfig['command'],
    nodeName: nodeName ?? '',
    kubeconfig: value('kubeconfig'),
    nodesFile: value('nodes-file'),
    iface,
    ifaceCidr: parseIfaceCidr(value('iface-cidr')),
    clusterCIDRs,
    cniBinDir: value('cni-bin-dir')!,
    cniConfDir: value('cni-conf-dir')!,
    pluginBinary: value('plugin-binary') ?? executable,
    bridge: value('bridge')!,
    bridgeType,
    ...(bridgeType === 'ovs' && { ovs: { socket: ovsdbSocket, datapath: ovsDatapath as OvsDatapath } }),
    dataDir: value('data-dir')!,
    cniLogFile: value('cni-log-file')!,
    cniVersion: parseCniVersion(value('cni-version')),
    health: { host: health[1] || '0.0.0.0', port: Number(health[2]) },
    resyncMs: parseDuration('resync', value('resync')!),
    logLevel: logLevel as LogLevel,
    iptables: iptables === 'auto' ? undefined : (iptables as IptablesMode),
    once: parsed.values.once === true,
    doctor: { json: parsed.values.json === true, fixLeaks: parsed.values['fix-leaks'] === true },
    serve: parsed.values.serve === true,
    networkPolicy: networkPolicy === 'true',
    ovsdbSocket: value('ovsdb-socket')!,
    flowExport: {
      ...(value('ovs-sflow') ? { sflow: parseCollector('ovs-sflow', value('ovs-sflow')!) } : {}),
      ...(value('ovs-netflow') ? { netflow: parseCollector('ovs-netflow', value('ovs-netflow')!) } : {}),
    },
    ...(explain && { explain }),
  };
}

/** A flow collector as OVS's sFlow and NetFlow rows take it: an IP address and a port. */
function parseCollector(flag: string, text: string): string {
  const match = /^(\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:.]+\]):(\d{1,5})$/.exec(text.trim());
  if (!match || Number(match[2]) < 1 || Number(match[2]) > 65535 || !parseIp(match[1]!.replace(/^\[|\]$/g, ''))) {
    throw new ConfigError(`--${flag} must be a collector's ip:port (or [ipv6]:port), e.g. 192.0.2.10:6343, got ${JSON.stringify(text)}`);
  }
  return text.trim();
}

/** `explain <ns>/<pod> <ns>/<pod> <port>/<proto>`: the one subcommand of `policy`. */
function parseExplain(args: string[]): NonNullable<AgentConfig['explain']> {
  const usage = 'usage: bridgeway-agent policy explain <namespace>/<pod> <namespace>/<pod> <port>/<tcp|udp|sctp>, e.g. x/a y/b 80/tcp';
  if (args[0] !== 'explain' || args.length !== 4) throw new ConfigError(usage);
  const [, from, to, portText] = args as [string, string, string, string];
  for (const pod of [from, to]) if (!/^[^/\s]+\/[^/\s]+$/.test(pod)) throw new ConfigError(`${JSON.stringify(pod)} is not <namespace>/<pod>; ${usage}`);
  const match = /^(\d{1,5})\/(tcp|udp|sctp)$/i.exec(portText);
  const port = Number(match?.[1]);
  if (!match || port < 1 || port > 65535) throw new ConfigError(`${JSON.stringify(portText)} is not <port>/<proto> (port 1-65535, proto tcp, udp or sctp); ${usage}`);
  return { from, to, port, protocol: match[2]!.toUpperCase() as 'TCP' | 'UDP' | 'SCTP' };
}
