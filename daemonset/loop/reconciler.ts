// One full, level-triggered sync as an ordered list of steps (each concern's step.ts under daemonset/): desired state
// from the node list, actual state from the kernel, minimal changes in between. Order matters:
// the plugin is installed before the conflist, and the conflist (which tells the runtime the
// network is ready) is written after routes and rules. A failing step stops the sync, keeps what
// the steps before it did, and is named in /readyz until a sync succeeds.
import { formatCidr, type IpCidr } from '../../lib/cidr.ts';
import type { Runner } from '../../lib/exec.ts';
import type { Logger } from '../../lib/log.ts';
import type { AgentConfig } from '../config.ts';
import type { Metrics } from '../serve/metrics.ts';
import { ownPodCidrs } from '../nodes/peers.ts';
import type { NodeSource, NodeStatusApi } from '../nodes/source.ts';
import { ConflistSync, type ConflistOutcome } from '../conflist/step.ts';
import { IptablesSync } from '../iptables/step.ts';
import { AddressPublisher, readNodeInterface } from '../host/interface-step.ts';
import { HostSettings, PluginInstall } from '../host/setup-step.ts';
import { RouteSync } from '../routes/step.ts';
import { StatusReport } from '../status/step.ts';
import { OncePerChange } from './once-per-change.ts';
import { runStep, SyncStepError } from './step.ts';

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
  private readonly steps;
  private readonly m;
  /** Why the sync waits ('' when it does not), said once per change. */
  private readonly waiting = new OncePerChange('');
  private synced = false;
  private failure: SyncStepError | undefined;
  private conflist: ConflistOutcome | undefined;
  /** Per family, what the last successful sync put in place, for /readyz. */
  private familyDetail: string[] = [];

  constructor(deps: ReconcilerDeps) {
    this.deps = deps;
    const { run, log, metrics, config, nodeStatus } = deps;
    this.steps = {
      publish: new AddressPublisher({ log, nodeName: config.nodeName, nodeStatus }),
      host: new HostSettings({ log, bridge: config.bridge, procSys: deps.procSys, families: config.clusterCIDRs.map((c) => c.family) }),
      install: new PluginInstall({ log, pluginBinary: config.pluginBinary, cniBinDir: config.cniBinDir }),
      routes: new RouteSync({ run, log, metrics, nodeName: config.nodeName }),
      iptables: new IptablesSync({ run, log, metrics, clusterCIDRs: config.clusterCIDRs, forced: config.iptables }),
      conflist: new ConflistSync({
        run, log, metrics,
        settings: {
          explicit: config.cniVersion,
          standalone: config.nodesFile !== undefined,
          cniConfDir: config.cniConfDir,
          cniBinDir: config.cniBinDir,
          bridge: config.bridge,
          dataDir: config.dataDir,
          cniLogFile: config.cniLogFile,
          logLevel: config.logLevel === 'silent' ? 'info' : config.logLevel,
        },
      }),
      status: new StatusReport({ nodeName: config.nodeName, nodeStatus }),
    };
    this.m = {
      syncs: metrics.counter('bridgeway_syncs_total', 'Full syncs, by result (and the failing step).'),
      duration: metrics.gauge('bridgeway_sync_duration_seconds', 'Duration of the last full sync.'),
      ready: metrics.gauge('bridgeway_ready', '1 once routes, rules and the conflist are in place.'),
      familyReady: metrics.gauge('bridgeway_family_ready', '1 once routes and rules of this IP family are in place (and the conflist names its range).'),
    };
  }

  /** Everything in place, the node view is trustworthy, and the runtime can use the conflist. */
  ready(): boolean {
    return this.notReadyReason() === undefined;
  }

  /** Why the agent is not ready, for /readyz. */
  notReadyReason(): string | undefined {
    if (!this.deps.source.connected()) return 'the node list is not available (API server unreachable or nodes file invalid)';
    if (this.failure) return `the last sync failed at ${this.failure.message}`;
    if (this.waiting.last) return this.waiting.last;
    if (!this.synced) return 'first sync not finished';
    return this.conflist?.mismatch;
  }

  /** What /readyz shows besides the verdict: the conflist's cniVersion and why. */
  readyDetail(): string[] {
    const conflist = this.conflist;
    return [...(conflist ? [`conflist cniVersion ${conflist.choice.version} (${conflist.choice.source}: ${conflist.choice.reason})`] : []), ...this.familyDetail];
  }

  async sync(): Promise<void> {
    const started = performance.now();
    try {
      await this.syncOnce();
      this.failure = undefined;
      this.m.syncs.inc({ result: 'success' });
    } catch (error) {
      this.failure = error instanceof SyncStepError ? error : new SyncStepError('node-view', error);
      this.m.syncs.inc({ result: 'error', step: this.failure.step });
      this.steps.routes.forget(); // the kernel may be anywhere between two states: read it first next time
      throw this.failure;
    } finally {
      this.m.duration.set((performance.now() - started) / 1000);
      const ready = this.ready() ? 1 : 0;
      this.m.ready.set(ready);
      for (const cidr of this.deps.config.clusterCIDRs) this.m.familyReady.set(ready, { family: `ipv${cidr.family}` });
    }
  }

  private async syncOnce(): Promise<void> {
    const { config, log, run, source } = this.deps;
    const steps = this.steps;
    // The view as of now: the list may arrive while the steps below wait on the kernel or the API.
    const { listed, nodes, self, own } = await runStep('node-view', () => {
      const nodes = source.nodes();
      const self = nodes.find((n) => n.name === config.nodeName);
      return { listed: source.connected(), nodes, self, own: self ? ownPodCidrs(self, config.clusterCIDRs) : undefined };
    });
    const podCIDRs: IpCidr[] | undefined = own && 'cidrs' in own ? own.cidrs : undefined;
    if (podCIDRs) await steps.routes.applyAhead(nodes, podCIDRs);
    const families = config.clusterCIDRs.map((c) => c.family);
    const host = await runStep('read-node-interface', () => readNodeInterface(run, { iface: config.iface, ifaceCidr: config.ifaceCidr, families }));
    await runStep('publish-address', () => steps.publish.publish(host.iface));
    if (!podCIDRs) {
      // A podCIDR that does not fit the cluster CIDR is bad input, not a wait: say what to fix.
      if (own && 'error' in own) this.wait(listed, own.error, 'error');
      else this.wait(listed, self ? `node ${config.nodeName} has no ${families.length === 1 ? `IPv${families[0]} ` : ''}podCIDR yet` : `node ${config.nodeName} is not in the node list yet`);
      return;
    }
    this.waiting.whenChanged('', () => log.info({ podCIDRs: podCIDRs.map(formatCidr) }, 'own podCIDR known'));

    await runStep('sysctls', () => steps.host.ensure(host.iface.name));
    await runStep('install', () => steps.install.ensure());
    const routes = await runStep('routes', () => steps.routes.sync({ nodes, iface: host.iface, podCIDRs, mainTable: host.mainTable }));
    const rules = await runStep('iptables', () => steps.iptables.sync(podCIDRs));
    this.conflist = await runStep('conflist', () => steps.conflist.sync({ podCIDRs, iface: host.iface, runtimeVersion: self?.containerRuntimeVersion }));
    // Per family only where IPv6 is in play: an IPv4-only node's /readyz reads as before.
    this.familyDetail = podCIDRs.length === 1 && podCIDRs[0]!.family === 4 ? [] : podCIDRs.map((cidr) => {
      const family = routes.families[cidr.family];
      return `IPv${cidr.family}: podCIDR ${formatCidr(cidr)}, ${family?.programmed ?? 0} peer routes, ${family?.missing ?? 0} peers not routed, ` +
        `${cidr.family === 6 ? 'ip6tables' : 'iptables'}-${rules.mode} chains in place`;
    });
    const mismatch = this.conflist.mismatch;
    await runStep('status', () => steps.status.report(mismatch ? { mismatch } : {}));
    this.synced = true;
  }

  /**
   * Never crash-loop on a missing podCIDR: kube-controller-manager assigns it a little after
   * join. Warn only about a real wait: in a view taken before the node list had arrived (the
   * first sync of a Kubernetes-mode start races the informer's list, and the list's arrival
   * triggers the next sync), an absent node is no news (issue 12 item 3).
   */
  private wait(listed: boolean, reason: string, level: 'warn' | 'error' = 'warn'): void {
    const key = listed ? reason : 'the node list has not arrived yet';
    this.waiting.whenChanged(key, () => {
      if (listed) this.deps.log[level](`waiting: ${reason}`);
      else this.deps.log.debug(`waiting: ${key}`);
    });
  }
}
