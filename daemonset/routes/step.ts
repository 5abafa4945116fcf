// Step: routes to every peer's podCIDR over the node interface, and the early route step that
// puts an event's change in the kernel before the full read.
import { formatCidr, type IpCidr, type IpFamily } from '../../lib/cidr.ts';
import { errorMessage } from '../../lib/errors.ts';
import type { KernelRoute } from '../../lib/kernel/route.ts';
import type { Logger } from '../../lib/log.ts';
import { realClock, type Clock } from '../loop/clock.ts';
import type { NodeInterface } from '../host/interface.ts';
import type { HostNetwork } from '../host/network.ts';
import { OncePerChange } from '../loop/once-per-change.ts';
import type { SyncStep } from '../loop/step.ts';
import { learned, type NodeFacts, type NodeSync } from '../loop/sync.ts';
import type { Metrics } from '../serve/metrics.ts';
import { changedNodes, peersOf, podCidrsOf, type ClusterNode } from '../nodes/peers.ts';
import { countRouteChanges, diffRoutes, planRoutes, routeFamily, routesAfter, type RouteDiff, type Unreachable } from './plan.ts';
import { formatGrace, UNROUTED_GRACE_MS, UnroutedGrace } from './unrouted-grace.ts';

export interface RoutesInput {
  nodes: readonly ClusterNode[];
  iface: NodeInterface;
  /** Our own podCIDR of each family the cluster uses. */
  podCIDRs: readonly IpCidr[];
  mainTable: readonly KernelRoute[];
}

export interface RoutesOutcome {
  peers: number;
  /** Our routes in place after this step. */
  programmed: number;
  changes: number;
  unreachable: Unreachable[];
  conflicts: { dst: string; owner: string }[];
  /** Per family: routes in place, and peers with no route of that family (see unreachable). */
  families: Partial<Record<IpFamily, { programmed: number; missing: number }>>;
}

export class RouteSync implements SyncStep<NodeSync, 'routes'> {
  readonly name = 'routes';
  private readonly deps: { network: HostNetwork; log: Logger; nodeName: string };
  private readonly m;
  private readonly reported = new OncePerChange();
  /** Whether a peer's problem is still expected (it is joining): logged at info, not warned. */
  private readonly grace: UnroutedGrace;
  private readonly graceText: string;
  /** The node list planned last, and the interface and main table as that sync left them; see applyAhead. */
  private lastSeen: { nodes: readonly ClusterNode[]; iface: NodeInterface; routes: KernelRoute[] } | undefined;

  constructor(deps: { network: HostNetwork; log: Logger; metrics: Metrics; nodeName: string; clock?: Pick<Clock, 'now'>; unroutedGraceMs?: number }) {
    this.deps = deps;
    this.grace = new UnroutedGrace(deps.clock ?? realClock, deps.unroutedGraceMs);
    this.graceText = formatGrace(deps.unroutedGraceMs ?? UNROUTED_GRACE_MS);
    const { metrics } = deps;
    this.m = {
      routes: metrics.gauge('bridgeway_routes_programmed', 'Routes to peer podCIDRs in place after the last sync.'),
      peers: metrics.gauge('bridgeway_peers', 'Other nodes known with a podCIDR.'),
      unreachable: metrics.gauge('bridgeway_peers_unreachable', 'Peers not routable over the node interface (see logs); dual-stack: counted once per family.'),
      conflicts: metrics.gauge('bridgeway_route_conflicts', 'Peer podCIDRs routed by someone else; left alone.'),
      routeChanges: metrics.counter('bridgeway_route_changes_total', 'Routes added, replaced or deleted.'),
      familyRoutes: metrics.gauge('bridgeway_family_routes_programmed', 'Routes to peer podCIDRs in place after the last sync, per IP family.'),
      familyMissing: metrics.gauge('bridgeway_family_peers_not_routed', 'Peers without a route of this IP family (no podCIDR or address of it, or unreachable; see logs).'),
    };
  }

  /** The early route step (applyAhead), run before the node interface is read; it never fails. */
  readonly ahead: SyncStep<NodeFacts, 'routes-ahead'> = {
    name: 'routes-ahead',
    run: async (facts) => {
      const { nodes, own } = learned(facts.view, 'node-view');
      if (own && 'cidrs' in own) await this.applyAhead(nodes, own.cidrs);
    },
  };

  async run(sync: NodeSync): Promise<void> {
    sync.found.routes = (await this.sync(sync)).families;
  }

  /** The kernel may be anywhere between two states (a sync failed): read it before acting again. */
  forget(): void {
    this.lastSeen = undefined;
  }

  /**
   * An event's route change goes to the kernel before the full sync reads it: planned for the
   * changed nodes alone, against the main table as the last sync left it. At 5,000 nodes the
   * kernel read (~45 ms) and a full plan (~20 ms) were most of the latency of one change. The
   * full read, plan and diff still follow in this same sync, so drift is repaired on every event
   * as before, and anything this step got wrong is corrected there. A stale view is safe:
   * `replace` and `del` (tolerating "missing") are idempotent, and new routes are `add`ed, which
   * the kernel refuses if someone else routed that prefix meanwhile. Never throws.
   */
  async applyAhead(nodes: readonly ClusterNode[], podCIDRs: readonly IpCidr[]): Promise<{ changes: number }> {
    // Sources hand out the same array until something changes (resyncs take this exit).
    if (!this.lastSeen || this.lastSeen.nodes === nodes) return { changes: 0 };
    const changed = changedNodes(this.lastSeen.nodes, nodes);
    const touched = new Set([...changed.before, ...changed.after].flatMap((n) => Object.values(podCidrsOf(n).cidrs)).map(formatCidr));
    if (touched.size === 0) return { changes: 0 };
    const { diff } = this.plan({ nodes: changed.after, iface: this.lastSeen.iface, podCIDRs, mainTable: this.lastSeen.routes.filter((r) => touched.has(r.dst)) });
    if (diff.changes.length === 0) return { changes: 0 };
    try {
      await this.apply(diff);
      return { changes: diff.changes.length };
    } catch (error) {
      // The full sync plans against the real kernel and reports what is wrong.
      this.deps.log.debug({ err: errorMessage(error) }, 'route change ahead of the kernel read failed');
      return { changes: 0 };
    }
  }

  async sync(input: RoutesInput): Promise<RoutesOutcome> {
    const { log } = this.deps;
    const { peers, problems, plan, diff } = this.plan(input);
    if (diff.changes.length > 0) await this.apply(diff);
    this.lastSeen = { nodes: input.nodes, iface: input.iface, routes: routesAfter(plan.routes, input.mainTable) };
    const unreachable: Unreachable[] = [...plan.unreachable, ...problems.map((p) => ({ peer: p.name, reason: p.reason, ...(p.pending && { pending: p.pending }) }))];
    this.grace.observe(input.nodes.map((n) => n.name));
    const levels = unreachable.map((u) => this.grace.level(u));
    // The levels are part of the key: a pending problem that outlasts its grace is said again, as a warning.
    this.reported.whenChanged(JSON.stringify([unreachable, levels, diff.conflicts]), () => {
      unreachable.forEach((u, i) => {
        if (levels[i] === 'info') log.info({ peer: u.peer }, `peer not routed yet: ${u.reason} (expected while it joins; a warning if it lasts ${this.graceText})`);
        else log.warn({ peer: u.peer }, `peer not routed: ${u.reason}`);
      });
      for (const c of diff.conflicts) log.warn({ dst: c.dst, owner: c.owner }, 'a route we would add exists and is not ours: left alone');
    });
    // Per family: routes in place (not lost to a conflict), and the other nodes without one.
    const families: RoutesOutcome['families'] = {};
    const conflicted = new Set(diff.conflicts.map((c) => c.dst));
    const others = input.nodes.filter((n) => n.name !== this.deps.nodeName).length;
    for (const { family } of input.podCIDRs) {
      const routes = plan.routes.filter((r) => routeFamily(r) === family && !conflicted.has(r.dst));
      const stats = { programmed: routes.length, missing: others - new Set(routes.map((r) => r.peer)).size };
      families[family] = stats;
      this.m.familyRoutes.set(stats.programmed, { family: `ipv${family}` });
      this.m.familyMissing.set(stats.missing, { family: `ipv${family}` });
    }
    const outcome: RoutesOutcome = {
      peers: new Set(peers.map((p) => p.name)).size,
      programmed: plan.routes.length - diff.conflicts.length,
      changes: diff.changes.length,
      unreachable,
      conflicts: diff.conflicts.map((c) => ({ dst: c.dst, owner: c.owner })),
      families,
    };
    this.m.peers.set(outcome.peers);
    this.m.routes.set(outcome.programmed);
    this.m.unreachable.set(unreachable.length);
    this.m.conflicts.set(diff.conflicts.length);
    return outcome;
  }

  private plan(input: RoutesInput) {
    const { peers, problems } = peersOf(input.nodes, this.deps.nodeName, input.podCIDRs.map((c) => c.family));
    const plan = planRoutes(peers, { name: input.iface.name, addresses: input.iface.subnets }, input.podCIDRs);
    return { peers, problems, plan, diff: diffRoutes(plan.routes, input.mainTable) };
  }

  private async apply(diff: RouteDiff): Promise<void> {
    await this.deps.network.changeRoutes(diff.changes);
    this.deps.log.info(countRouteChanges(diff.changes), 'routes changed');
    this.m.routeChanges.inc({}, diff.changes.length);
  }
}
