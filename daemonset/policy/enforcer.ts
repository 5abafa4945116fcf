// NetworkPolicy on this node, kept in the kernel: compile (pods, namespaces, policies, this node)
// -> the table (compile.ts, pure), then the least that makes the kernel hold it:
//   - the first apply after start loads the whole table in one transaction (nft-text.ts's
//     replace: created if missing, ours replaced atomically), so a restart never opens a window:
//     the previous agent's table enforces until the new one is in;
//   - later, the minimal change (diff.ts) in one transaction; if that fails, the whole table
//     again; if that fails too, the next attempt (backoff) starts whole;
//   - nothing is compiled before every kind has been listed once: an empty cache is no news, and
//     compiling it would lift every isolation the kernel holds. While the API server is away the
//     last view stays compiled and enforced.
// Changes arrive from the informers (changed()); a burst of them within DEBOUNCE_MS coalesces into
// one compile and one transaction, which reaches the kernel well within a second. The full sync's
// step (step.ts) runs the same sync and checks that the table is still there (drift repair).
// With BRIDGEWAY_NETWORK_POLICY=false the table is removed and nothing is compiled.
//
// After every transaction that changed the table, the conntrack entries it now denies are deleted
// (conntrack-cut.ts; over ctnetlink from this process where the runtime has FFI): the first rule
// lets established connections through, so without this a denied flow would keep flowing.
import type { Logger } from '../../lib/log.ts';
import { errorMessage } from '../../lib/errors.ts';
import { Backoff, DEFAULT_BACKOFF, type BackoffPolicy } from '../loop/backoff.ts';
import { realClock, type Clock } from '../loop/clock.ts';
import type { Metrics } from '../serve/metrics.ts';
import { compilePolicies, type CompiledPolicy } from './compile.ts';
import { diffTables } from './diff.ts';
import type { PolicyKernel } from './kernel.ts';
import { deniedEntries, ipKey } from './conntrack-cut.ts';
import type { ConntrackEntry } from '../../lib/netlink/conntrack.ts';
import { parseIp, type IpAddress } from '../../lib/cidr.ts';
import type { PolicyObjects, PolicySource } from './source.ts';
import type { PolicyTable } from './table.ts';

/** Changes within this window coalesce: a Deployment's rollout, a namespace relabel, a relist. */
export const DEBOUNCE_MS = 75;

const BRIDGE_NF = { 4: 'net.bridge.bridge-nf-call-iptables', 6: 'net.bridge.bridge-nf-call-ip6tables' } as const;

/** The node's conntrack table (lib/netlink/conntrack.ts over a NETLINK_NETFILTER socket). */
export interface ConntrackTable {
  dump(): ConntrackEntry[];
  /** False when the entry was already gone. */
  remove(entry: ConntrackEntry): boolean;
}

export interface EnforcerDeps {
  kernel: PolicyKernel;
  /** Absent where the agent has no netlink (the Node build): denied connections are then not cut. */
  conntrack?: ConntrackTable;
  /**
   * Every address of this node now (rtnetlink): the connections it opened or that end at it never
   * pass the forward hook, so a change never cuts them. Absent: only pods' connections are judged.
   */
  nodeAddresses?: () => readonly IpAddress[];
  source: PolicySource;
  nodeName: string;
  enabled: boolean;
  families: readonly (4 | 6)[];
  /** Reads a sysctl now (undefined: absent): br_netfilter's switches decide readiness. */
  sysctl: (key: string) => string | undefined;
  /** The pods' switch (--bridge-type); on Open vSwitch br_netfilter never sees pod-to-pod frames. */
  bridgeType?: 'linux' | 'ovs';
  /**
   * Open vSwitch: why same-node pod traffic is not steered through the node now (ovs/steering-step.ts),
   * undefined when it is. Absent on OVS: never steered.
   */
  sameNodeSteering?: () => string | undefined;
  log: Logger;
  metrics: Metrics;
  clock?: Clock;
  /** Monotonic milliseconds (performance.now). */
  now?: () => number;
  debounceMs?: number;
  backoff?: BackoffPolicy;
  /** After each compile and apply (loop/memory.ts: the agent collects its garbage). */
  afterApply?: () => void;
  /**
   * Inside a compile and between the compile, the diff and the nft text (loop/memory.ts: a cheap
   * young collection), so their garbage does not add up to the agent's peak RSS. `force`: after
   * the compile (always); without it, inside the compile and after the diff (as often as it is cheap).
   */
  checkpoint?: (force?: boolean) => void;
}

export type ApplyHow = 'whole' | 'diff' | 'none' | 'whole-after-failure';

/** What the agent's sync and /readyz use of the enforcer. */
export type NodePolicy = Pick<PolicyEnforcer, 'sync' | 'notLoaded' | 'detail'>;

export class PolicyEnforcer {
  private readonly deps: EnforcerDeps;
  private readonly clock: Clock;
  private readonly now: () => number;
  private readonly backoff: Backoff;
  private readonly m;
  /** What the kernel holds, as far as we know (undefined: load it whole next time). */
  private applied: PolicyTable | undefined;
  /**
   * The last compile, without what each rule stands for (`rules`: explain's, a set of addresses
   * per rule, ~70,000 entries at 5,000 pods): the agent needs only the table, errors and counts.
   */
  private compiled: Omit<CompiledPolicy, 'rules'> | undefined;
  /** Every pod's address (`family:value`) in the last compile's input: whose connections may be cut. */
  private podAddresses = new Set<string>();
  private removed = false;
  /** A watched object changed since the last compile (or the last attempt failed): compile again. */
  private dirty = true;
  private lastError: string | undefined;
  private reportedErrors = new Set<string>();
  /** When the oldest change not yet in the kernel arrived. */
  private changeAt: number | undefined;
  private timer: unknown;
  private stopped = false;
  private queue: Promise<void> = Promise.resolve();
  private maxLatency = 0;

  constructor(deps: EnforcerDeps) {
    this.deps = deps;
    this.clock = deps.clock ?? realClock;
    this.now = deps.now ?? (() => performance.now());
    this.backoff = new Backoff(deps.backoff ?? DEFAULT_BACKOFF);
    const { metrics } = deps;
    this.m = {
      compile: metrics.gauge('bridgeway_policy_compile_seconds', 'Duration of the last NetworkPolicy compile.'),
      apply: metrics.gauge('bridgeway_policy_apply_seconds', 'Duration of the last nft transaction of the policy table.'),
      latency: metrics.gauge('bridgeway_policy_change_to_enforced_seconds', 'From a watched change to the nft transaction holding it done: the last one (kind="last") and the largest since start (kind="max").'),
      applies: metrics.counter('bridgeway_policy_applies_total', 'Policy syncs by what they sent the kernel: whole table, a diff, nothing, or the whole table after a failed diff.'),
      errors: metrics.counter('bridgeway_policy_errors_total', 'Policy errors: kind="compile" (a policy that cannot be compiled; it isolates and allows nothing), kind="apply" (an nft transaction failed).'),
      policies: metrics.gauge('bridgeway_policy_policies', 'NetworkPolicies compiled.'),
      isolated: metrics.gauge('bridgeway_policy_isolated_pods', 'This node\'s pods isolated, by direction.'),
      objects: metrics.gauge('bridgeway_policy_table_objects', 'The policy table\'s size: chains, rules, sets and set elements.'),
      cut: metrics.counter('bridgeway_policy_conntrack_cut_total', 'Established connections (conntrack entries) deleted because a policy change denies them.'),
      ready: metrics.gauge('bridgeway_policy_enforcement_ready', '1 when NetworkPolicy is enforced on all this node\'s pod traffic (table in place, bridge-nf-call switches on); 0 otherwise (read when served).'),
    };
    metrics.collect(() => this.m.ready.set(this.enabled && this.notReady().length === 0 ? 1 : 0));
  }

  get enabled(): boolean {
    return this.deps.enabled;
  }

  /** A watched object changed: compile and apply once the burst is over. */
  changed(): void {
    if (this.stopped || !this.deps.enabled) return;
    this.dirty = true;
    this.changeAt ??= this.now();
    if (this.timer === undefined) this.timer = this.clock.setTimeout(() => this.fire(), this.deps.debounceMs ?? DEBOUNCE_MS);
  }

  private fire(): void {
    this.timer = undefined;
    this.sync({ verify: false }).then(
      () => this.backoff.reset(),
      (error: unknown) => {
        const retryInMs = this.backoff.fail();
        this.deps.log.error({ err: errorMessage(error), retryInMs }, 'NetworkPolicy apply failed; retrying');
        if (!this.stopped && this.timer === undefined) this.timer = this.clock.setTimeout(() => this.fire(), retryInMs);
      },
    );
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Resolves when every sync queued so far has finished. */
  get idle(): Promise<void> {
    return this.queue;
  }

  /**
   * Compiles and applies now (one at a time: a call waits for the one in flight). `verify`: first
   * ask the kernel whether the table is still there (the full sync's drift check).
   */
  sync(options: { verify: boolean }): Promise<ApplyHow | undefined> {
    const result = this.queue.then(() => this.syncOnce(options));
    this.queue = result.then(() => undefined, () => undefined);
    return result;
  }

  private async syncOnce({ verify }: { verify: boolean }): Promise<ApplyHow | undefined> {
    const { kernel, source, log } = this.deps;
    if (!this.deps.enabled) {
      if (!this.removed) {
        await kernel.remove();
        this.removed = true;
        log.info('NetworkPolicy enforcement is off (BRIDGEWAY_NETWORK_POLICY=false): the policy table is removed');
      }
      return undefined;
    }
    if (!source.synced()) return undefined; // the kernel keeps what it has until the first full view
    const since = this.changeAt;
    this.changeAt = undefined;
    try {
      const how = await this.compileAndApply(verify);
      this.lastError = undefined;
      if (since !== undefined && how !== 'none') {
        const seconds = (this.now() - since) / 1000;
        this.maxLatency = Math.max(this.maxLatency, seconds);
        this.m.latency.set(seconds, { kind: 'last' });
        this.m.latency.set(this.maxLatency, { kind: 'max' });
      }
      // After the latency: the table enforces new connections from here; this cuts old ones.
      if (how !== 'none') this.cutDenied(this.applied!);
      return how;
    } catch (error) {
      this.changeAt ??= since;
      this.dirty = true;
      this.applied = undefined; // the kernel may hold either table: load whole next time
      this.lastError = errorMessage(error);
      this.m.errors.inc({ kind: 'apply' });
      throw error;
    } finally {
      this.deps.afterApply?.();
    }
  }

  private async compileAndApply(verify: boolean): Promise<ApplyHow> {
    const { kernel, source, log, nodeName } = this.deps;
    // A full sync with nothing changed since (every node change, every resync) does not compile:
    // at 5,000 pods a compile's working set on top of the node sync's set the agent's peak RSS.
    const recompile = this.dirty || !this.compiled;
    this.dirty = false; // a change arriving from here on marks it again
    if (recompile) {
      const started = this.now();
      const objects = source.objects();
      const { rules: _explainOnly, ...kept } = compilePolicies({ ...objects, nodeName }, { rules: false, ...(this.deps.checkpoint ? { checkpoint: () => this.deps.checkpoint!() } : {}) });
      this.compiled = kept;
      this.podAddresses = podAddressesOf(objects.pods);
      this.m.compile.set((this.now() - started) / 1000);
      this.report(this.compiled);
    }
    this.deps.checkpoint?.(true);
    const compiled = this.compiled!;
    const table = compiled.table;
    if (verify && this.applied && !(await kernel.present())) {
      log.warn('the policy table is not in the kernel (flushed or deleted by someone else); loading it whole');
      this.applied = undefined;
    }
    const applyStarted = this.now();
    let how: ApplyHow;
    if (!this.applied) {
      await kernel.loadWhole(table);
      how = 'whole';
    } else if (!recompile) {
      how = 'none';
    } else {
      const changes = diffTables(this.applied, table);
      this.deps.checkpoint?.(); // only after a long diff: most are a few ms and make little garbage
      if (changes.length === 0) how = 'none';
      else {
        try {
          await kernel.applyChanges(changes);
          how = 'diff';
        } catch (error) {
          this.m.errors.inc({ kind: 'apply' });
          log.warn({ err: errorMessage(error), changes: changes.length }, 'the policy change failed; loading the whole table instead');
          this.applied = undefined;
          await kernel.loadWhole(table);
          how = 'whole-after-failure';
        }
      }
    }
    if (how !== 'none') this.m.apply.set((this.now() - applyStarted) / 1000);
    this.applied = table;
    this.removed = false;
    this.m.applies.inc({ how });
    if (how !== 'none') log.debug({ how, policies: compiled.stats.policies, elements: compiled.stats.elements }, 'NetworkPolicy applied');
    return how;
  }

  /**
   * Deletes the conntrack entries `table` denies. A failure here is logged and counted, not
   * thrown: the table is in place, and new connections are judged by it either way.
   */
  private cutDenied(table: PolicyTable): void {
    const { conntrack, log } = this.deps;
    if (!conntrack) return;
    try {
      const node = this.deps.nodeAddresses && new Set(this.deps.nodeAddresses().map(ipKey));
      const denied = deniedEntries(table, conntrack.dump(), this.podAddresses, node);
      let cut = 0;
      for (const entry of denied) if (conntrack.remove(entry)) cut++;
      if (cut > 0) {
        this.m.cut.inc({}, cut);
        log.info({ connections: cut }, 'cut established connections the policy change denies');
      }
    } catch (error) {
      this.m.errors.inc({ kind: 'conntrack' });
      log.warn({ err: errorMessage(error) }, 'could not cut the connections the policy change denies; they flow until they end');
    }
  }

  /** Metrics from a compile, and each policy error logged once (and counted once) while it lasts. */
  private report(compiled: Omit<CompiledPolicy, 'rules'>): void {
    const { stats, table } = compiled;
    this.m.policies.set(stats.policies);
    this.m.isolated.set(stats.isolatedPods.ingress, { direction: 'ingress' });
    this.m.isolated.set(stats.isolatedPods.egress, { direction: 'egress' });
    this.m.objects.set(table.chains.length, { object: 'chains' });
    this.m.objects.set(table.chains.reduce((n, c) => n + c.rules.length, 0), { object: 'rules' });
    this.m.objects.set(table.sets.length, { object: 'sets' });
    this.m.objects.set(stats.elements, { object: 'elements' });
    const now = new Set(compiled.errors.map((e) => `${e.policy}: ${e.message}`));
    for (const text of now) {
      if (this.reportedErrors.has(text)) continue;
      this.m.errors.inc({ kind: 'compile' });
      this.deps.log.error({ policy: text.split(':')[0] }, `NetworkPolicy ${text} (it isolates what it selects and allows nothing)`);
    }
    this.reportedErrors = now;
  }

  /** Why NetworkPolicy is not (fully) enforced on this node now, each with its fix; empty: it is. */
  notReady(): string[] {
    if (!this.deps.enabled) return [];
    const reasons: string[] = [];
    if (this.deps.bridgeType === 'ovs') {
      // OVS switches pods' frames itself, past every netfilter hook, whatever br_netfilter says:
      // only our OpenFlow flows bring same-node traffic to the table. Said, not hidden.
      const why = this.deps.sameNodeSteering ? this.deps.sameNodeSteering() : 'nothing steers it through the node';
      if (why) reasons.push(`traffic between two pods of this node on the Open vSwitch bridge bypasses the policy table: ${why}  fix: see the agent's log (step ovs-steering)`);
    } else for (const family of this.deps.families) {
      const key = BRIDGE_NF[family];
      const value = this.deps.sysctl(key);
      if (value !== '1') {
        reasons.push(`${key} is ${value ?? 'absent (br_netfilter not loaded)'}: same-node pod traffic bypasses the policy table  fix: modprobe br_netfilter; sysctl -w ${key}=1, persisted in /etc/sysctl.d/`);
      }
    }
    const unloaded = this.notLoaded();
    return unloaded ? [...reasons, unloaded] : reasons;
  }

  /**
   * Why no policy table is in the kernel yet, or undefined once one is. This one holds /readyz
   * back: a node whose agent cannot enforce the cluster's policies is not ready, and a rollout
   * waits on it. A switch that is off does not: the table is loaded and judges cross-node traffic.
   */
  notLoaded(): string | undefined {
    if (!this.deps.enabled || this.applied) return undefined;
    if (!this.deps.source.synced()) return 'the first list of pods, namespaces and networkpolicies has not arrived';
    return this.lastError ? `the last apply failed: ${this.lastError}` : 'the policy table is not loaded yet';
  }

  /** /readyz's lines about NetworkPolicy. */
  detail(): string[] {
    if (!this.deps.enabled) return ['NetworkPolicy: not enforced by bridgeway (BRIDGEWAY_NETWORK_POLICY=false)'];
    const reasons = this.notReady();
    const errors = (this.compiled?.errors ?? []).map((e) => `NetworkPolicy ${e.policy} cannot be compiled (isolates what it selects, allows nothing): ${e.message}`);
    if (reasons.length > 0) return [...reasons.map((r) => `NetworkPolicy enforcement not ready: ${r}`), ...errors];
    const stats = this.compiled!.stats;
    const stale = this.deps.source.connected() ? '' : ' (API server unreachable: the last known policies stay enforced)';
    return [`NetworkPolicy enforced: ${stats.policies} policies, this node's pods isolated ${stats.isolatedPods.ingress} ingress / ${stats.isolatedPods.egress} egress, ${stats.elements} set elements${stale}`, ...errors];
  }
}

/** Addresses of the pods whose connections may be cut: not hostNetwork ones (theirs is a node's). */
function podAddressesOf(pods: PolicyObjects['pods']): Set<string> {
  const out = new Set<string>();
  for (const pod of pods) {
    if (pod.spec.hostNetwork) continue;
    for (const text of pod.status?.podIPs?.map((p) => p.ip) ?? (pod.status?.podIP ? [pod.status.podIP] : [])) {
      const ip = parseIp(text);
      if (ip) out.add(ipKey(ip));
    }
  }
  return out;
}
