// The two plugins under test, how to invoke them exactly as a runtime does (config on stdin,
// CNI_* in an otherwise empty environment), and the checks that every invocation really worked.
import fs from 'node:fs';
import path from 'node:path';
import { describe, helperEnv, IP, mustRun, NSENTER, SYSTEM_PATH, type Invocation, type Outcome } from './exec.ts';

export type CniCommand = 'ADD' | 'CHECK' | 'DEL' | 'VERSION';

export const NETWORK = 'bench';
export const BRIDGE = 'cni0';
export const SUBNET = '10.99.0.0/24';
/** Usable pod addresses in SUBNET (network, broadcast and gateway excluded). */
export const MAX_PODS = 253;
export const CNI_PATH = '/usr/lib/cni';
export const REFERENCE_BRIDGE = `${CNI_PATH}/bridge`;
const IFNAME = 'eth0';

export interface PluginUnderTest {
  label: string;
  executable: string;
  /** Every invocation runs inside this "node" namespace (never the machine's own). */
  nodeNetns: string;
  cniVersion: string;
  /** The network config, without prevResult. */
  netconf: Record<string, unknown>;
  /** Environment besides the CNI_* variables. */
  baseEnv: Record<string, string>;
  /** Where the plugin's IPAM keeps its reservations (checked empty after every DEL round). */
  ipamDir: string;
  /** Its bridge's ports when the kernel cannot say (an Open vSwitch bridge's are in its database). */
  listPorts?: () => Promise<string[]>;
}

export interface Pod {
  containerId: string;
  /** Path of the pod's network namespace (CNI_NETNS). */
  netns: string;
  podName: string;
}

export interface AddResult {
  address: string;
  /** The whole result, passed back as prevResult to CHECK and DEL. */
  json: unknown;
}

export function bridgeway(executable: string, nodeNetns: string, dir: string): PluginUnderTest {
  return {
    label: 'bridgeway',
    executable,
    nodeNetns,
    cniVersion: '1.1.0',
    netconf: {
      cniVersion: '1.1.0',
      name: NETWORK,
      type: 'bridgeway',
      bridge: BRIDGE,
      ipam: { subnet: SUBNET },
      dataDir: path.join(dir, 'data'),
      logFile: path.join(dir, 'cni.log'),
    },
    baseEnv: {},
    ipamDir: path.join(dir, 'data'),
  };
}

/** The label of bridgeway run without its anti-spoofing table, the baseline of its cost. */
export const WITHOUT_ANTISPOOFING = 'bridgeway-antispoofing-off'; // also part of the container IDs: no spaces

/** The same plugin with "antiSpoofing": false: ADD p50 side by side shows what guarding a port costs. */
export function withoutAntiSpoofing(plugin: PluginUnderTest): PluginUnderTest {
  return { ...plugin, label: WITHOUT_ANTISPOOFING, netconf: { ...plugin.netconf, antiSpoofing: false } };
}

/**
 * containernetworking-plugins bridge + host-local. The default route is configured through
 * ipam.routes so both plugins leave the pod with the same state (address + default route via
 * the bridge); bridgeway adds that route by default.
 */
export function reference(nodeNetns: string, dir: string, cniVersion: string): PluginUnderTest {
  return {
    label: 'reference',
    executable: REFERENCE_BRIDGE,
    nodeNetns,
    cniVersion,
    netconf: {
      cniVersion,
      name: NETWORK,
      type: 'bridge',
      bridge: BRIDGE,
      isGateway: true,
      ipMasq: false,
      ipam: { type: 'host-local', subnet: SUBNET, routes: [{ dst: '0.0.0.0/0' }], dataDir: path.join(dir, 'data') },
    },
    // bridge finds host-local through CNI_PATH, but Go's exec and iptables lookups want PATH too.
    baseEnv: { PATH: SYSTEM_PATH },
    ipamDir: path.join(dir, 'data'),
  };
}

/** The wrapper every timed process goes through: nsenter into a node namespace, then exec. */
export function inNode(nodeNetns: string, argv: readonly string[]): string[] {
  return [NSENTER, `--net=${nodeNetns}`, '--', ...argv];
}

export function cniInvocation(plugin: PluginUnderTest, command: CniCommand, pod?: Pod, prevResult?: unknown): Invocation {
  const env: Record<string, string> = { ...plugin.baseEnv, CNI_COMMAND: command };
  if (pod) {
    Object.assign(env, {
      CNI_CONTAINERID: pod.containerId,
      CNI_NETNS: pod.netns,
      CNI_IFNAME: IFNAME,
      CNI_PATH,
      // What kubelet's runtimes pass.
      CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME=${pod.podName};K8S_POD_INFRA_CONTAINER_ID=${pod.containerId}`,
    });
  }
  const netconf = prevResult === undefined ? plugin.netconf : { ...plugin.netconf, prevResult };
  return { argv: inNode(plugin.nodeNetns, [plugin.executable]), env, input: command === 'VERSION' ? '' : JSON.stringify(netconf) };
}

/** ADD must exit 0 and print a result with an address. */
export function expectAddResult(invocation: Invocation, outcome: Outcome): AddResult {
  expectSuccess(invocation, outcome);
  let json: { ips?: { address?: unknown }[] };
  try {
    json = JSON.parse(outcome.stdout);
  } catch {
    throw new Error(`ADD printed no JSON result: ${describe(invocation, outcome)}`);
  }
  const address = json.ips?.[0]?.address;
  if (typeof address !== 'string') throw new Error(`ADD result has no ips[0].address: ${describe(invocation, outcome)}`);
  return { address, json };
}

export function expectSuccess(invocation: Invocation, outcome: Outcome): void {
  if (outcome.exitCode !== 0) throw new Error(`${invocation.env.CNI_COMMAND} failed: ${describe(invocation, outcome)}`);
}

/** The plugin's CNI version: 1.1.0 when it accepts it, else the newest 1.x it lists. */
export async function negotiateVersion(executable: string, nodeNetns: string): Promise<string> {
  const { stdout } = await mustRun({ argv: inNode(nodeNetns, [executable]), env: { CNI_COMMAND: 'VERSION' }, input: '' });
  const supported = (JSON.parse(stdout) as { supportedVersions?: string[] }).supportedVersions ?? [];
  if (supported.includes('1.1.0')) return '1.1.0';
  if (supported.includes('1.0.0')) return '1.0.0';
  throw new Error(`${executable} supports neither CNI 1.1.0 nor 1.0.0 (${supported.join(', ')})`);
}

/** Ports still enslaved to the bridge in the plugin's node namespace. */
export async function bridgePorts(plugin: PluginUnderTest): Promise<string[]> {
  if (plugin.listPorts) return plugin.listPorts();
  const { stdout } = await mustRun({ argv: inNode(plugin.nodeNetns, [IP, '-j', 'link', 'show', 'master', BRIDGE]), env: helperEnv() });
  return (JSON.parse(stdout || '[]') as { ifname: string }[]).map((link) => link.ifname);
}

/**
 * Files named like an address anywhere under the IPAM directory: live reservations. IPv6 ones
 * are fd00:99::2 in host-local's directory and fd00-99--2 in ours.
 */
export function ipamReservations(plugin: PluginUnderTest): string[] {
  if (!fs.existsSync(plugin.ipamDir)) return [];
  return (fs.readdirSync(plugin.ipamDir, { recursive: true }) as string[]).filter((name) =>
    /^\d{1,3}(\.\d{1,3}){3}$|^[0-9a-f]{0,4}([:-][0-9a-f]{0,4}){2,7}$/.test(path.basename(name)),
  );
}
