// One full, level-triggered sync: desired state from the node list, actual state from the
// kernel, minimal changes in between. Order matters: the plugin is installed before the conflist,
// and the conflist (which tells the runtime the network is ready) is written last.
import fs from 'node:fs';
import path from 'node:path';
import { formatCidr, formatIpv4, type Ipv4Cidr } from '../lib/cidr.ts';
import { errorMessage } from '../lib/errors.ts';
import type { Runner } from '../lib/exec.ts';
import { parseInterfaceAddresses } from '../lib/iproute2/addr.ts';
import { queryIpJson, runIpBatch } from '../lib/iproute2/batch.ts';
import { parseRoutes, type KernelRoute } from '../lib/iproute2/route.ts';
import { detectBackend, type IptablesBackend } from '../lib/iptables/backend.ts';
import { parseIptablesSave } from '../lib/iptables/save.ts';
import type { Logger } from '../lib/log.ts';
import type { AgentConfig } from './config.ts';
import { CONFLIST_NAME, renderConflist } from './conflist.ts';
import { checkHost, ensureIpForward } from './host-checks.ts';
import { BinaryInstaller, writeFileIfChanged } from './install.ts';
import { selectInterface, type NodeInterface } from './interface.ts';
import type { Metrics } from './metrics.ts';
import { changedNodes, peersOf, podCidrOf, type ClusterNode } from './node-info.ts';
import type { NodeSource, NodeStatusApi } from './node-source.ts';
import { planIptables, restorePayload } from './plan-iptables.ts';
import { diffRoutes, planRoutes, routesAfter, type RouteDiff } from './plan-routes.ts';

export interface ReconcilerDeps {
  run: Runner;
  log: Logger;
  metrics: Metrics;
  config: AgentConfig;
  source: NodeSource;
  nodeStatus?: NodeStatusApi;
  /** /proc/sys, replaceable in tests. */
  procSys?: string;
}

export class Reconciler {
  private readonly deps: ReconcilerDeps;
  private readonly installer: BinaryInstaller;
  private backend: IptablesBackend | undefined;
  private randomFully: boolean | undefined;
  private portmapVersions: string[] | undefined;
  private waitingReason: string | undefined;
  private reported = { unreachable: '', host: '', published: '', condition: false };
  private synced = false;
  /** The node list planned last, and the interface and main table as that sync left them; see applyAheadOfRead. */
  private lastSeen: { nodes: readonly ClusterNode[]; iface: NodeInterface; routes: KernelRoute[] } | undefined;
  private readonly m;

  constructor(deps: ReconcilerDeps) {
    this.deps = deps;
    this.installer = new BinaryInstaller(deps.config.pluginBinary, path.join(deps.config.cniBinDir, 'bridgeway'));
    const { metrics } = deps;
    this.m = {
      syncs: metrics.counter('bridgeway_syncs_total', 'Full syncs, by result.'),
      duration: metrics.gauge('bridgeway_sync_duration_seconds', 'Duration of the last full sync.'),
      routes: metrics.gauge('bridgeway_routes_programmed', 'Routes to peer podCIDRs in place after the last sync.'),
      peers: metrics.gauge('bridgeway_peers', 'Other nodes known with a podCIDR.'),
      unreachable: metrics.gauge('bridgeway_peers_unreachable', 'Peers not routable over the node interface (see logs).'),
      conflicts: metrics.gauge('bridgeway_route_conflicts', 'Peer podCIDRs routed by someone else; left alone.'),
      routeChanges: metrics.counter('bridgeway_route_changes_total', 'Routes added, replaced or deleted.'),
      iptablesWrites: metrics.counter('bridgeway_iptables_restores_total', 'Times our chains had to be (re)written.'),
      ready: metrics.gauge('bridgeway_ready', '1 once routes, rules and the conflist are in place.'),
    };
  }

  /** First full sync done and the node view is trustworthy. */
  ready(): boolean {
    return this.synced && this.deps.source.connected();
  }

  /** Why the agent is not ready, for /readyz. */
  notReadyReason(): string | undefined {
    if (!this.deps.source.connected()) return 'the node list is not available (API server unreachable or nodes file invalid)';
    if (this.waitingReason) return this.waitingReason;
    return this.synced ? undefined : 'first sync not finished';
  }

  async sync(): Promise<void> {
    const started = performance.now();
    try {
      await this.syncOnce();
      this.m.syncs.inc({ result: 'success' });
    } catch (error) {
      this.m.syncs.inc({ result: 'error' });
      this.lastSeen = undefined; // the kernel may be anywhere between two states: read it first next time
      throw error;
    } finally {
      this.m.duration.set((performance.now() - started) / 1000);
      this.m.ready.set(this.ready() ? 1 : 0);
    }
  }

  private async syncOnce(): Promise<void> {
    const { config, log, run } = this.deps;
    const nodes = this.deps.source.nodes();
    const self = nodes.find((n) => n.name === config.nodeName);
    const podCIDR = self && podCidrOf(self);
    if (podCIDR) await this.applyAheadOfRead(nodes, podCIDR);
    // Peers need our address before we have a podCIDR of our own: publish it first.
    // Addresses and routes in one process (`route show` lists the IPv4 main table).
    const [addrJson, routeJson] = await queryIpJson(run, [['addr', 'show'], ['route', 'show', 'table', 'main']]);
    const iface = selectInterface(parseInterfaceAddresses(addrJson!), { iface: config.iface, ifaceCidr: config.ifaceCidr });
    await this.publishAddress(iface);
    if (!podCIDR) {
      // Never crash-loop on this: kube-controller-manager assigns podCIDRs a little after join.
      const reason = self ? `node ${config.nodeName} has no IPv4 podCIDR yet` : `node ${config.nodeName} is not in the node list yet`;
      if (reason !== this.waitingReason) log.warn(`waiting: ${reason}`);
      this.waitingReason = reason;
      return;
    }
    if (this.waitingReason) log.info({ podCIDR: formatCidr(podCIDR) }, 'own podCIDR known');
    this.waitingReason = undefined;

    if (ensureIpForward(this.deps.procSys)) log.info('enabled net.ipv4.ip_forward');
    this.reportHost(iface);
    if (this.installer.ensure() === 'written') log.info({ dir: config.cniBinDir }, 'installed the bridgeway plugin');

    await this.syncRoutes(nodes, iface, podCIDR, parseRoutes(routeJson!));
    await this.syncIptables(podCIDR);
    const conflist = renderConflist({
      cniVersion: config.cniVersion,
      podCIDR,
      mtu: iface.mtu,
      bridge: config.bridge,
      portmap: await this.portmapUsable(),
      logLevel: config.logLevel === 'silent' ? 'info' : config.logLevel,
      dataDir: config.dataDir,
      logFile: config.cniLogFile,
    });
    if (writeFileIfChanged(path.join(config.cniConfDir, CONFLIST_NAME), conflist) === 'written') {
      log.info({ file: path.join(config.cniConfDir, CONFLIST_NAME), podCIDR: formatCidr(podCIDR), mtu: iface.mtu }, 'wrote the CNI conflist');
    }
    await this.markNetworkAvailable();
    this.synced = true;
  }

  /**
   * Chain portmap (hostPorts) only if it speaks the conflist's version: a chained plugin that
   * refuses the version fails every DEL, and the runtime then leaks the pod's veth and address.
   */
  private async portmapUsable(): Promise<boolean> {
    const { config, run, log } = this.deps;
    const portmap = path.join(config.cniBinDir, 'portmap');
    if (!fs.existsSync(portmap)) return false;
    if (this.portmapVersions === undefined) {
      try {
        const { stdout } = await run([portmap], { env: { CNI_COMMAND: 'VERSION' }, input: '{}' });
        this.portmapVersions = (JSON.parse(stdout) as { supportedVersions?: string[] }).supportedVersions ?? [];
      } catch (error) {
        this.portmapVersions = [];
        log.warn({ err: errorMessage(error) }, 'portmap did not answer VERSION');
      }
      if (!this.portmapVersions.includes(config.cniVersion)) {
        log.warn({ supported: this.portmapVersions }, `portmap does not support CNI ${config.cniVersion}: not chained, so hostPorts will not work; upgrade it or set --cni-version`);
      }
    }
    return this.portmapVersions.includes(config.cniVersion);
  }

  private async publishAddress(iface: NodeInterface): Promise<void> {
    const address = formatIpv4(iface.address);
    if (this.reported.published === address) return;
    this.deps.log.info({ iface: iface.name, address, mtu: iface.mtu }, 'node interface chosen');
    await this.deps.nodeStatus?.publishEth1Address(this.deps.config.nodeName, address);
    this.reported.published = address;
  }

  private reportHost(iface: NodeInterface): void {
    const findings = checkHost({ iface: iface.name, bridge: this.deps.config.bridge, root: this.deps.procSys });
    const key = JSON.stringify(findings);
    if (key === this.reported.host) return;
    this.reported.host = key;
    for (const finding of findings) this.deps.log.warn(finding, `host setting ${finding.setting}: ${finding.problem}`);
  }

  /**
   * An event's route change goes to the kernel before the full sync reads it: planned for the
   * changed nodes alone, against the main table as the last sync left it. At 5,000 nodes the
   * kernel read (~45 ms) and a full plan (~20 ms) were most of the latency of one change. The
   * full read, plan and diff still follow in this same sync, so drift is repaired on every event
   * as before, and anything this step got wrong is corrected there. A stale view is safe:
   * `replace` and `del` (tolerating "missing") are idempotent, and new routes are `add`ed, which
   * the kernel refuses if someone else routed that prefix meanwhile.
   */
  private async applyAheadOfRead(nodes: readonly ClusterNode[], podCIDR: Ipv4Cidr): Promise<void> {
    // Sources hand out the same array until something changes (resyncs take this exit).
    if (!this.lastSeen || this.lastSeen.nodes === nodes) return;
    const changed = changedNodes(this.lastSeen.nodes, nodes);
    const touched = new Set([...changed.before, ...changed.after].map(podCidrOf).filter((c) => c !== undefined).map(formatCidr));
    if (touched.size === 0) return;
    const { diff } = this.planRouteChanges(changed.after, this.lastSeen.iface, podCIDR, this.lastSeen.routes.filter((r) => touched.has(r.dst)));
    if (diff.commands.length === 0) return;
    try {
      await this.applyRouteDiff(diff);
    } catch (error) {
      // The full sync below plans against the real kernel and reports what is wrong.
      this.deps.log.debug({ err: errorMessage(error) }, 'route change ahead of the kernel read failed');
    }
  }

  private planRouteChanges(nodes: readonly ClusterNode[], iface: NodeInterface, podCIDR: Ipv4Cidr, actual: readonly KernelRoute[]) {
    const { peers, problems } = peersOf(nodes, this.deps.config.nodeName);
    const plan = planRoutes(peers, { name: iface.name, ipv4: iface.subnets }, podCIDR);
    return { peers, problems, plan, diff: diffRoutes(plan.routes, actual) };
  }

  private async applyRouteDiff(diff: RouteDiff): Promise<void> {
    await runIpBatch(this.deps.run, diff.commands);
    this.deps.log.info({ added: diff.added, replaced: diff.replaced, deleted: diff.deleted }, 'routes changed');
    this.m.routeChanges.inc({}, diff.commands.length);
  }

  private async syncRoutes(nodes: readonly ClusterNode[], iface: NodeInterface, podCIDR: Ipv4Cidr, actual: KernelRoute[]): Promise<void> {
    const { log } = this.deps;
    const { peers, problems, plan, diff } = this.planRouteChanges(nodes, iface, podCIDR, actual);
    if (diff.commands.length > 0) await this.applyRouteDiff(diff);
    this.lastSeen = { nodes, iface, routes: routesAfter(plan.routes, actual) };
    const unreachable = [...plan.unreachable, ...problems.map((p) => ({ peer: p.name, reason: p.reason }))];
    const key = JSON.stringify([unreachable, diff.conflicts]);
    if (key !== this.reported.unreachable) {
      this.reported.unreachable = key;
      for (const u of unreachable) log.warn({ peer: u.peer }, `peer not routed: ${u.reason}`);
      for (const c of diff.conflicts) log.warn({ dst: c.dst, owner: c.owner }, 'a route we would add exists and is not ours: left alone');
    }
    this.m.peers.set(peers.length);
    this.m.routes.set(plan.routes.length - diff.conflicts.length);
    this.m.unreachable.set(unreachable.length);
    this.m.conflicts.set(diff.conflicts.length);
  }

  private async syncIptables(podCIDR: Ipv4Cidr): Promise<void> {
    const { run, log, config } = this.deps;
    if (!this.backend) {
      this.backend = await detectBackend(run, { forced: config.iptables });
      log.info({ mode: this.backend.mode, why: this.backend.reason }, `using iptables-${this.backend.mode}`);
    }
    if (this.randomFully === undefined) {
      const help = await run([this.backend.iptables, '-j', 'MASQUERADE', '--help']).catch((e: unknown) => ({ stdout: errorMessage(e) }));
      this.randomFully = help.stdout.includes('random-fully');
    }
    const specs = planIptables({ clusterCIDR: config.clusterCIDR!, podCIDR, randomFully: this.randomFully });
    const actual = parseIptablesSave((await run([this.backend.save])).stdout);
    const payload = restorePayload(specs, actual);
    if (!payload) return;
    await run([this.backend.restore, '--noflush', '-w', '5'], { input: payload });
    this.m.iptablesWrites.inc();
    log.info({ chains: specs.map((s) => s.chain) }, 'iptables chains written');
  }

  private async markNetworkAvailable(): Promise<void> {
    if (this.reported.condition || !this.deps.nodeStatus) return;
    await this.deps.nodeStatus.setNetworkUnavailable(this.deps.config.nodeName, false, 'bridgeway routes and rules are in place');
    this.reported.condition = true;
  }
}
