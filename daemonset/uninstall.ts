// `bridgeway-agent uninstall`: remove everything the agent and the plugin put on the node for the
// agent's network, and what the agent wrote on its Node object. Keeps going past errors so one
// stuck object does not keep the rest in place. Run once by hand, or kept running by the
// uninstall DaemonSet (uninstall-daemon.ts, manifests/uninstall.yaml).
// The plugin keeps each network's reservations in <dataDir>/<network>/; other bridgeway networks
// on the node (a second conflist, a Multus secondary network) may have live pods there, whose
// addresses would be handed out twice if their state went too: only our network's is removed.
import fs from 'node:fs';
import path from 'node:path';
import { errorMessage } from '../lib/errors.ts';
import type { Runner } from '../lib/exec.ts';
import { backendFor } from '../lib/iptables/backend.ts';
import { parseIptablesSave } from '../lib/iptables/save.ts';
import type { Logger } from '../lib/log.ts';
import type { AgentConfig } from './config.ts';
import { removalPayload } from './iptables/plan.ts';
import type { HostNetwork } from './host/network.ts';
import { ANTISPOOF_TABLE, CONFLIST_NAME, NETWORK_NAME, PLUGIN_TYPE, POLICY_TABLE, ROUTE_PROTO } from '../lib/names.ts';
import { DELETE_TABLE, nftAbsence } from '../lib/antispoof/nft-cli.ts';
import { nftPolicyKernel } from './policy/kernel.ts';
import { foreignPorts, releaseUplinks } from '../lib/uplink/release.ts';
import { readUplinkState } from '../lib/uplink/read.ts';
import type { Kernel } from '../lib/kernel/kernel.ts';
import { connectOvsdb } from '../lib/ovsdb/client.ts';
import { uninstallOvsBridge, type OpenOvsdb } from './ovs/uninstall.ts';
import { uninstallSteering } from './ovs/steering-step.ts';

/** Uninstall's writes to the API (kube/node-cleanup.ts), given only in Kubernetes mode. */
export interface NodeMarksApi {
  /** Removes the agent's annotations and condition from the Node; resolves with what it did, in words. */
  removeMarks(nodeName: string): Promise<string>;
}

export interface UninstallDeps {
  run: Runner;
  /** The node's links and routes (host/network.ts). */
  network: HostNetwork;
  /**
   * The plugin's kernel vocabulary (lib/kernel), for the uplink bridges: rtnetlink on Bun (the
   * agent's image has no `ip`), iproute2 on the Node build.
   */
  kernel: Kernel;
  log: Logger;
  /**
   * Kubernetes mode: opens the API (loading the kubeconfig may fail: that is the step's failure).
   * Absent in standalone mode (--nodes-file), where the agent writes nothing to any API.
   */
  nodeMarks?: () => Promise<NodeMarksApi>;
  /** --bridge-type ovs: opens the database (the in-process client by default; a test's fake). */
  openOvsdb?: OpenOvsdb;
}

/** The plugin log's own directory, removed once empty; a directory of another name (--cni-log-file) is the admin's. */
const LOG_DIR_NAME = 'bridgeway';

export async function uninstall(config: AgentConfig, deps: UninstallDeps): Promise<string[]> {
  const { run, network, log } = deps;
  const failures: string[] = [];
  // An action may say in its own words what it found instead ("nothing to remove, because ...").
  const step = async (what: string, action: () => Promise<unknown> | unknown) => {
    try {
      const said = await action();
      log.info(typeof said === 'string' ? said : `removed ${what}`);
    } catch (error) {
      failures.push(`${what}: ${errorMessage(error)}`);
    }
  };
  // The conflist first: from then on the runtime stops sending new pods to a half-removed network.
  await step('the conflist', () => fs.rmSync(path.join(config.cniConfDir, CONFLIST_NAME), { force: true }));
  await step('routes', async () => {
    // Both families' main table in one read: an IPv4-only config may follow a dual-stack one, so
    // IPv6 routes of ours are removed whatever the config says now.
    const ours = (await network.read()).mainTable.filter((r) => r.protocol === ROUTE_PROTO);
    await network.changeRoutes(ours.map((r) => ({ op: 'delete-route', dst: r.dst })));
  });
  // Chains are removed from both backends and both families: a previous run may have used any.
  for (const [mode, family] of [['nft', 4], ['legacy', 4], ['nft', 6], ['legacy', 6]] as const) {
    const backend = backendFor(mode, 'uninstall', family);
    await step(`${family === 6 ? 'ip6tables' : 'iptables'}-${mode} chains`, async () => {
      let saved: string;
      try {
        saved = (await run([backend.save])).stdout;
      } catch {
        return; // this backend is not available: nothing of ours can be there
      }
      const payload = removalPayload(parseIptablesSave(saved));
      if (payload) await run([backend.restore, '--noflush', '-w', '5'], { input: payload });
    });
  }
  await step(`the nftables table bridge ${ANTISPOOF_TABLE}`, () => removeAntispoofTable(run));
  await step(`the nftables table inet ${POLICY_TABLE}`, () => removePolicyTable(run));
  // Before the bridge: an uplink's bridge may be any bridge, and the node's addresses are on it.
  // Through the iproute2 Kernel, on Bun too: the agent may start processes (the plugin may not),
  // and `ip` is in its image; the steps are the same kernel changes the plugin's move applied.
  const { kernel } = deps;
  await step('the uplink bridges (the NIC\'s addresses and routes back on the NIC)', () => releaseUplinks(kernel, log));
  if (config.ovs) {
    // Only our network's ports, proven by their external_ids; the bridge only when no other port is left.
    const { socket } = config.ovs;
    await step(`the OpenFlow flows of bridge ${config.bridge}`, () => uninstallSteering(socket, config.bridge));
    await step(`the Open vSwitch bridge ${config.bridge}`, () => uninstallOvsBridge(deps.openOvsdb ?? connectOvsdb, { socket, bridge: config.bridge, network: NETWORK_NAME }));
  } else await step('the bridge', async () => {
    // A VM's tap (libvirt's vnetN) on the pods' bridge is not ours: deleting the bridge would cut it off.
    const foreign = foreignPorts(await readUplinkState(kernel), config.bridge);
    if (foreign.length) return `left the bridge ${config.bridge} in place for the ports that are not ours (${foreign.join(', ')}): delete it with \`ip link del ${config.bridge}\` once they are gone`;
    await network.deleteLinksIfPresent([config.bridge]);
    return undefined;
  });
  await step('the plugin', () => fs.rmSync(path.join(config.cniBinDir, PLUGIN_TYPE), { force: true }));
  await step(`the IPAM state of network ${NETWORK_NAME}`, () => {
    const { left } = removeNetworkState(config.dataDir, NETWORK_NAME);
    if (left.length) log.info({ dataDir: config.dataDir, networks: left }, `left IPAM state of networks ${left.join(', ')} in ${config.dataDir}`);
  });
  await step(`the plugin log ${config.cniLogFile}`, () => removePluginLog(config.cniLogFile));
  // Last: the node is clean before the cluster is told it no longer carries our network.
  const { nodeMarks } = deps;
  if (nodeMarks && config.nodeName) await step(`the Node object ${config.nodeName}`, async () => (await nodeMarks()).removeMarks(config.nodeName));
  else if (nodeMarks) log.info('no --node-name (NODE_NAME): the Node object\'s bridgeway.io annotations and NetworkUnavailable condition were not looked at');
  return failures;
}

/**
 * The plugin's log file (the conflist's logFile), and its directory when that is ours and empty.
 * Returns what to log when there was nothing to remove.
 */
export function removePluginLog(file: string): string | undefined {
  let removed = true;
  try {
    fs.unlinkSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    removed = false;
  }
  const dir = path.dirname(file);
  if (path.basename(dir) === LOG_DIR_NAME) {
    try {
      fs.rmdirSync(dir); // not recursive: anything else in it is not the plugin's
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // ENOTEMPTY: someone else's files; EBUSY: a mount point (a hostPath of this container).
      if (code !== 'ENOENT' && code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'EBUSY') throw error;
    }
  }
  return removed ? undefined : `no plugin log at ${file} (no pod started, or already removed)`;
}

/**
 * The plugin's anti-spoofing table (lib/antispoof/ruleset.ts). Like the plugin executable it is
 * shared by every bridgeway network on the node, and like it, it goes whole: without the plugin
 * no ADD or DEL keeps its elements right. Returns what to log when there was nothing to remove.
 */
async function removeAntispoofTable(run: Runner): Promise<string | undefined> {
  try {
    await run(DELETE_TABLE);
    return undefined;
  } catch (error) {
    const absence = nftAbsence(error);
    if (absence === 'no-such-object') return `no nftables table bridge ${ANTISPOOF_TABLE} to remove (no pod ran with anti-spoofing, or already removed)`;
    // The image installs nft (Dockerfile); without it, e.g. an agent run by hand on a bare host,
    // we cannot look. The plugin makes the table over netlink, without nft, so it may be there:
    // say how to remove it rather than claim nothing is left.
    if (absence === 'no-nft') return `nft is not installed, so the nftables table bridge ${ANTISPOOF_TABLE} was not removed; where pods ran with anti-spoofing, remove it with \`${DELETE_TABLE.join(' ')}\``;
    throw error;
  }
}

/**
 * The agent's NetworkPolicy table (policy/kernel.ts: one transaction that succeeds whether or not
 * the table is there). Without nft the agent never loaded it, so nothing can be left.
 */
async function removePolicyTable(run: Runner): Promise<string | undefined> {
  try {
    await nftPolicyKernel(run).remove();
    return undefined;
  } catch (error) {
    if (nftAbsence(error) === 'no-nft') return `nft is not installed: the agent never loaded the nftables table inet ${POLICY_TABLE}`;
    throw error;
  }
}

/**
 * Removes <dataDir>/<network>, then dataDir itself if nothing else is in it. Returns the entries
 * left in dataDir (other networks' state), sorted. A missing dataDir or network folder is fine.
 */
export function removeNetworkState(dataDir: string, network: string): { left: string[] } {
  // The name comes from our own conflist; a name that walks out of dataDir would be a bug here.
  if (!network || network === '.' || network === '..' || network.includes('/')) throw new Error(`not a network name: ${JSON.stringify(network)}`);
  fs.rmSync(path.join(dataDir, network), { recursive: true, force: true });
  let left: string[];
  try {
    left = fs.readdirSync(dataDir).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { left: [] };
    throw error;
  }
  if (left.length) return { left };
  try {
    fs.rmdirSync(dataDir); // not recursive: a plugin that just created a network's folder keeps it
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOTEMPTY' || code === 'EEXIST') return { left: fs.readdirSync(dataDir).sort() };
    // A mount point (the agent's DaemonSet mounts the data dir itself): emptied; the host keeps the directory.
    if (code === 'EBUSY') return { left: [] };
    if (code !== 'ENOENT') throw error;
  }
  return { left: [] };
}
