// The one step of the doctor that reads the node: links and routes (host/network.ts: rtnetlink
// on Bun, one `ip -j -batch` on Node), a few processes (iptables-save for each backend, ip6tables-save too with IPv6 in the cluster, one
// `nft -j list table` for the anti-spoofing table and one for the policy table; nmcli only where it is installed), plus files under
// /proc/sys, the CNI directories and the IPAM store, and the agent's /readyz. It writes nothing.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { LIST_TABLE_JSON, nftAbsence } from '../../lib/antispoof/nft-cli.ts';
import { parseListedTable } from '../../lib/antispoof/nft-json.ts';
import { antispoofRuleset } from '../../lib/antispoof/ruleset.ts';
import { formatIp, type IpFamily } from '../../lib/cidr.ts';
import { errnoCode, errorMessage } from '../../lib/errors.ts';
import { SYSTEM_PATH, type Runner } from '../../lib/exec.ts';
import { backendFor, type IptablesMode } from '../../lib/iptables/backend.ts';
import { inventory, networkDir, openStores } from '../../ipam/index.ts';
import type { AgentConfig } from '../config.ts';
import { BRIDGE_NF_SYSCTL, FORWARDING_SYSCTL, hostSysctlKeys } from '../host/checks.ts';
import { sameFileContent } from '../host/install.ts';
import type { HostNetwork } from '../host/network.ts';
import { parseNodesFile } from '../nodes/file-source.ts';
import type { DoctorFacts, FileRead, Reservation } from './facts.ts';
import { gatherKube } from './gather-kube.ts';
import { gatherPolicy } from './gather-policy.ts';
import { gatherUplinks } from './gather-uplink.ts';
import { gatherMacvlan } from './gather-macvlan.ts';
import { gatherOvs } from './gather-ovs.ts';
import { gatherSteering } from './gather-steering.ts';
import { CONFLIST_NAME, hostVethName, NETWORK_NAME, PLUGIN_TYPE } from '../../lib/names.ts';

export interface GatherDeps {
  run: Runner;
  /** The node's links and main table. */
  network: HostNetwork;
  /** /proc/sys, replaceable in tests. */
  procSys?: string;
  /** Where NetworkManager keeps its run state and configuration, replaceable in tests. */
  networkManager?: { runDir: string; confDir: string };
}

export async function gatherFacts(config: AgentConfig, deps: GatherDeps): Promise<DoctorFacts> {
  const { run } = deps;
  const mode = config.nodesFile ? 'standalone' : 'kubernetes';
  // The families the agent programs iptables for: ip6tables only with IPv6 in the cluster CIDR.
  const families = config.clusterCIDRs.map((c) => c.family);
  const [ip, iptables, ip6tables, antispoof, kube, agent, networkManager, policy, uplinks, ovs, steering] = await Promise.all([
    deps.network.read(),
    iptablesSaves(run, 4),
    families.includes(6) ? iptablesSaves(run, 6) : undefined,
    listAntispoofTable(run),
    mode === 'kubernetes' ? gatherKube(config) : undefined,
    readyz(config.health),
    gatherNetworkManager(run, deps.networkManager ?? { runDir: '/run/NetworkManager', confDir: '/etc/NetworkManager' }),
    gatherPolicy(run, config.networkPolicy, deps.procSys),
    gatherUplinks(run, deps.networkManager?.runDir),
    gatherOvs(config.cniConfDir, config.ovsdbSocket, run),
    config.bridgeType === 'ovs' ? gatherSteering(config.ovsdbSocket, config.bridge) : undefined,
  ]);
  const links = ip.links;
  const conflistPath = path.join(config.cniConfDir, CONFLIST_NAME);
  const conflistFile = readFile(conflistPath);
  const conflistDoc = 'text' in conflistFile ? parseLoosely(conflistFile.text) : undefined;
  // rp_filter of every interface that could be the chosen one (--iface-cidr picks by address), and the bridge.
  const devices = [config.iface, ...links.filter((l) => l.ipv4.length).map((l) => l.name), config.bridge];
  return {
    settings: { mode, nodeName: config.nodeName, iface: config.iface, ifaceCidr: config.ifaceCidr, clusterCIDRs: config.clusterCIDRs, bridge: config.bridge, bridgeType: config.bridgeType, forcedBackend: config.iptables },
    nodes: kube ? kube.nodes : readNodesFile(config.nodesFile!),
    links,
    routes: ip.mainTable,
    sysctls: readSysctls(deps.procSys ?? '/proc/sys', [...new Set(devices)]),
    iptables,
    ...(ip6tables && { ip6tables }),
    antispoof,
    conflist: { path: conflistPath, file: conflistFile, before: configsBefore(config.cniConfDir, CONFLIST_NAME) },
    plugin: gatherPlugin(path.join(config.cniBinDir, PLUGIN_TYPE), config.pluginBinary),
    ipam: gatherIpam(config.dataDir, conflistDoc),
    networkManager,
    policy: steering ? { ...policy, steering } : policy,
    uplinks,
    macvlan: gatherMacvlan(config.cniConfDir),
    ...(ovs && { ovs }),
    agent,
    ...(kube && { kube: kube.kube }),
  };
}

/** Each backend's save output for a family, under the names the agent runs (lib/iptables/backend.ts); absent: it does not work here. */
async function iptablesSaves(run: Runner, family: IpFamily): Promise<Partial<Record<IptablesMode, string>>> {
  const [nft, legacy] = await Promise.all((['nft', 'legacy'] as const).map(async (mode) => {
    try {
      return (await run([backendFor(mode, '', family).save])).stdout;
    } catch {
      return undefined; // not installed or not usable in this kernel
    }
  }));
  return { ...(nft !== undefined && { nft }), ...(legacy !== undefined && { legacy }) };
}

/** The anti-spoofing table with its sets' elements, in one process; nft's absence outcomes as such. */
async function listAntispoofTable(run: Runner): Promise<DoctorFacts['antispoof']> {
  let text: string;
  try {
    text = (await run(LIST_TABLE_JSON)).stdout;
  } catch (error) {
    const absence = nftAbsence(error);
    if (absence) return { absent: absence === 'no-nft' ? 'nft' : 'table' };
    return { error: errorMessage(error) };
  }
  try {
    return parseListedTable(text, antispoofRuleset());
  } catch (error) {
    return { error: `${LIST_TABLE_JSON.join(' ')}: ${errorMessage(error)}` };
  }
}

function readFile(file: string): FileRead {
  try {
    return { text: fs.readFileSync(file, 'utf8') };
  } catch (error) {
    return errnoCode(error) === 'ENOENT' ? { missing: true } : { error: errorMessage(error) };
  }
}

function parseLoosely(text: string): { name?: string; plugins?: { ipam?: { type?: string } }[] } | undefined {
  try {
    return JSON.parse(text) as { name?: string; plugins?: { ipam?: { type?: string } }[] };
  } catch {
    return undefined;
  }
}

function readNodesFile(file: string): DoctorFacts['nodes'] {
  try {
    return { list: parseNodesFile(fs.readFileSync(file, 'utf8')) };
  } catch (error) {
    return { error: `${file}: ${errorMessage(error)}` };
  }
}

function readSysctls(root: string, devices: string[]): Record<string, string | undefined> {
  // What the agent sets (forwarding) and what its host checks read (host/checks.ts), both families.
  const keys = [...new Set([...Object.values(FORWARDING_SYSCTL), ...Object.values(BRIDGE_NF_SYSCTL), ...hostSysctlKeys(devices)])];
  const values: Record<string, string | undefined> = {};
  for (const key of keys) {
    try {
      values[key] = fs.readFileSync(path.join(root, ...key.split('.')), 'utf8').trim();
    } catch {
      values[key] = undefined;
    }
  }
  return values;
}

/** Network configs a runtime would load before ours (it takes the lexicographically first). */
function configsBefore(dir: string, ours: string): string[] {
  try {
    return fs.readdirSync(dir).filter((f) => /\.(conf|conflist|json)$/.test(f) && f < ours).sort().map((f) => path.join(dir, f));
  } catch {
    return [];
  }
}

/**
 * "Of the agent's version": the agent installs the plugin shipped beside it, so the installed
 * one must be that file. Sizes first; bytes only when they match (page-cache reads, ~0.1 s).
 */
function gatherPlugin(installedPath: string, source: string): DoctorFacts['plugin'] {
  const result: DoctorFacts['plugin'] = { path: installedPath, source };
  try {
    const stat = fs.statSync(installedPath);
    result.installed = { size: stat.size, executable: (stat.mode & 0o111) !== 0 };
  } catch (error) {
    if (errnoCode(error) !== 'ENOENT') result.error = errorMessage(error);
    return result;
  }
  if (fs.existsSync(source)) result.sameAsSource = sameFileContent(source, installedPath);
  return result;
}

function gatherIpam(dataDir: string, conflist: ReturnType<typeof parseLoosely>): DoctorFacts['ipam'] {
  const dir = networkDir(dataDir, conflist?.name ?? NETWORK_NAME);
  const delegatedTo = conflist?.plugins?.[0]?.ipam?.type;
  if (delegatedTo) return { dir, reservations: [], delegatedTo };
  if (!fs.existsSync(dir)) return { dir, reservations: [] };
  try {
    const now = Date.now();
    // One store per family: IPv4 in the network's folder, IPv6 under ipv6/.
    const reservations: Reservation[] = inventory(openStores(dir)).map(({ family, ip, attachment, reservedAt }) => ({
      address: formatIp({ family, value: ip }), family, ...attachment,
      hostVeth: hostVethName(attachment.containerId, attachment.ifname),
      ...(reservedAt !== undefined && { ageMs: now - reservedAt }),
    }));
    return { dir, reservations };
  } catch (error) {
    return { dir, reservations: [], error: errorMessage(error) };
  }
}

async function gatherNetworkManager(run: Runner, where: { runDir: string; confDir: string }): Promise<DoctorFacts['networkManager']> {
  const nmcli = SYSTEM_PATH.split(':').map((dir) => path.join(dir, 'nmcli')).find((file) => fs.existsSync(file));
  if (nmcli) {
    try {
      const { stdout } = await run(['nmcli', '-t', '-f', 'DEVICE,STATE', 'device', 'status'], { timeoutMs: 5000 });
      const devices: Record<string, string> = {};
      for (const line of stdout.split('\n')) {
        const [device, state] = line.split(':');
        if (device && state) devices[device] = state;
      }
      return { running: true, via: 'nmcli', devices };
    } catch (error) {
      if (/not running/i.test(errorMessage(error))) return { running: false };
      return { running: true, via: 'nmcli', error: errorMessage(error) };
    }
  }
  // In a pod (the agent's container) the host's /run is not mounted: NetworkManager may run unseen.
  if (!fs.existsSync(where.runDir)) return process.env.KUBERNETES_SERVICE_HOST ? { running: false, hidden: true } : { running: false };
  // No nmcli (e.g. inside the agent's image): read the configuration it would apply.
  const files = [path.join(where.confDir, 'NetworkManager.conf')];
  try {
    files.push(...fs.readdirSync(path.join(where.confDir, 'conf.d')).filter((f) => f.endsWith('.conf')).map((f) => path.join(where.confDir, 'conf.d', f)));
  } catch {
    // no conf.d
  }
  const unmanaged = files.flatMap((file) => {
    const read = readFile(file);
    return 'text' in read ? [...read.text.matchAll(/^\s*unmanaged-devices\s*=\s*(.*)$/gm)].map((m) => m[1]!.trim()) : [];
  });
  return { running: true, via: 'config', unmanaged };
}

/** GET /readyz of the agent on this node (its --health-addr; 0.0.0.0 is asked on loopback). */
function readyz(address: AgentConfig['health']): Promise<DoctorFacts['agent']> {
  const host = address.host === '0.0.0.0' || address.host === '' ? '127.0.0.1' : address.host;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${address.port}/readyz`;
  return new Promise((resolve) => {
    const request = http.get(url, { timeout: 3000 }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ url, status: response.statusCode, body }));
    });
    request.on('timeout', () => request.destroy(new Error('no answer within 3 s')));
    request.on('error', (error: NodeJS.ErrnoException) => resolve({ url, error: error.code ?? error.message }));
  });
}
