// One full, level-triggered sync: the list of steps in steps.ts, run in order: desired state from
// the node list, actual state from the kernel, minimal changes in between. The first steps learn
// what the node is; the rest wait for its podCIDRs. A failing step stops the sync, keeps what the
// steps before it did, and is named in /readyz until a sync succeeds.
import { formatCidr } from '../../lib/cidr.ts';
import { NodePrerequisites } from '../host/prerequisites.ts';
import { OncePerChange } from './once-per-change.ts';
import { runStep, SyncStepError } from './step.ts';
import { syncSteps, type SyncStepDeps, type SyncStepName } from './steps.ts';
import { learned, type NodeFacts, type NodeSync } from './sync.ts';

export type ReconcilerDeps = SyncStepDeps & {
  /**
   * Called between the steps that learn what the node is and those that program it, i.e. after
   * the kernel read: main.ts collects garbage there (loop/memory.ts), so the read's garbage is
   * gone before the route step makes its own, instead of the two adding up to the agent's peak.
   */
  betweenPhases?: () => void;
};

export class Reconciler {
  private readonly deps: ReconcilerDeps;
  private readonly steps: ReturnType<typeof syncSteps>;
  /** Read when /readyz or /metrics is served, not at sync time (prerequisites.ts says why). */
  private readonly prerequisites: NodePrerequisites;
  private readonly m;
  /** Why the sync waits ('' when it does not), said once per change. */
  private readonly waiting = new OncePerChange('');
  private synced = false;
  private failure: SyncStepError | undefined;
  private conflist: NodeSync['found']['conflist'];
  /** Per family, what the last successful sync put in place, for /readyz. */
  private familyDetail: string[] = [];

  constructor(deps: ReconcilerDeps) {
    this.deps = deps;
    this.steps = syncSteps(deps);
    const { metrics } = deps;
    this.prerequisites = new NodePrerequisites({ metrics, families: deps.config.clusterCIDRs.map((c) => c.family), procSys: deps.procSys, bridgeType: deps.config.bridgeType });
    this.m = {
      syncs: metrics.counter('bridgeway_syncs_total', 'Full syncs, by result (and the failing step).'),
      duration: metrics.gauge('bridgeway_sync_duration_seconds', 'Duration of the last full sync.'),
      ready: metrics.gauge('bridgeway_ready', '1 once routes, rules and the conflist are in place.'),
      familyReady: metrics.gauge('bridgeway_family_ready', '1 once routes and rules of this IP family are in place (and the conflist names its range).'),
    };
  }

  /** Everything in place, the node view is trustworthy, and the runtime can use the conflist. */
  ready(): boolean {
    return this.syncNotReadyReason() === undefined;
  }

  /** Why the agent is not ready, for /readyz: the sync's reason, else NetworkPolicy's table not loaded yet. */
  notReadyReason(): string | undefined {
    const policy = this.deps.policy?.notLoaded();
    return this.syncNotReadyReason() ?? (policy && `NetworkPolicy enforcement not ready: ${policy}`);
  }

  /** Why routes, rules or the conflist are not in place (bridgeway_ready and --once; policy has its own gauge). */
  syncNotReadyReason(): string | undefined {
    if (!this.deps.source.connected()) return 'the node list is not available (API server unreachable or nodes file invalid)';
    if (this.failure) return `the last sync failed at ${this.failure.message}`;
    if (this.waiting.last) return this.waiting.last;
    if (!this.synced) return 'first sync not finished';
    if (this.conflist?.held) return `no conflist yet: it waits for the NetworkPolicy table (${this.conflist.held})`;
    return this.conflist?.mismatch;
  }

  /**
   * What /readyz shows besides the verdict: the conflist's cniVersion and why, per family what is
   * in place (with IPv6), and every node prerequisite that is off right now. A prerequisite
   * does not make the agent unready: the routes, rules and conflist are in place and most
   * traffic flows; the line names what does not and its fix.
   */
  readyDetail(): string[] {
    const conflist = this.conflist;
    return [
      ...(conflist ? [`conflist cniVersion ${conflist.choice.version} (${conflist.choice.source}: ${conflist.choice.reason})`] : []),
      ...this.familyDetail,
      ...this.prerequisites.detail(),
      ...[this.steps.steering.describe()].filter((line) => line !== undefined),
      ...(this.deps.policy?.detail() ?? []), // none in standalone mode: there is no API to watch
    ];
  }

  async sync(): Promise<void> {
    const started = performance.now();
    try {
      await this.syncOnce();
      this.failure = undefined;
      this.m.syncs.inc({ result: 'success' });
    } catch (error) {
      this.failure = error instanceof SyncStepError ? error : new SyncStepError('node-view' satisfies SyncStepName, error);
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
    const { config, log } = this.deps;
    const facts: NodeFacts = {};
    for (const step of this.steps.learn) await runStep(step.name, () => step.run(facts));
    this.deps.betweenPhases?.();
    const { listed, nodes, self, own } = learned(facts.view, 'node-view');
    const { iface, mainTable } = learned(facts.host, 'read-node-interface');
    if (!own || !('cidrs' in own)) {
      const families = config.clusterCIDRs.map((c) => c.family);
      // A podCIDR that does not fit the cluster CIDR is bad input, not a wait: say what to fix.
      if (own && 'error' in own) this.wait(listed, own.error, 'error');
      else this.wait(listed, self ? `node ${config.nodeName} has no ${families.length === 1 ? `IPv${families[0]} ` : ''}podCIDR yet` : `node ${config.nodeName} is not in the node list yet`);
      return;
    }
    const podCIDRs = own.cidrs;
    this.waiting.whenChanged('', () => log.info({ podCIDRs: podCIDRs.map(formatCidr) }, 'own podCIDR known'));

    const sync: NodeSync = { nodes, self, iface, mainTable, podCIDRs, found: {} };
    try {
      for (const step of this.steps.program) await runStep(step.name, () => step.run(sync));
    } finally {
      // What /readyz shows is what the conflist step found, even when the status step after it failed.
      if (sync.found.conflist) this.showFound(sync);
    }
    this.synced = true;
  }

  private showFound({ podCIDRs, found }: NodeSync): void {
    this.conflist = found.conflist;
    // Per family only where IPv6 is in play: an IPv4-only node's /readyz reads as before.
    this.familyDetail = podCIDRs.length === 1 && podCIDRs[0]!.family === 4 ? [] : podCIDRs.map((cidr) => {
      const family = found.routes?.[cidr.family];
      return `IPv${cidr.family}: podCIDR ${formatCidr(cidr)}, ${family?.programmed ?? 0} peer routes, ${family?.missing ?? 0} peers not routed, ` +
        `${cidr.family === 6 ? 'ip6tables' : 'iptables'}-${found.iptablesMode} chains in place`;
    });
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
