// daemonset/policy/enforcer.ts against a recording kernel and a fake clock: what reaches the
// kernel when, and what /readyz and the metrics say.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PolicyEnforcer, DEBOUNCE_MS } from '../../../../daemonset/policy/enforcer.ts';
import type { PolicyKernel } from '../../../../daemonset/policy/kernel.ts';
import type { PolicyObjects, PolicySource } from '../../../../daemonset/policy/source.ts';
import type { TableChange } from '../../../../daemonset/policy/diff.ts';
import type { PolicyTable } from '../../../../daemonset/policy/table.ts';
import { Metrics } from '../../../../daemonset/serve/metrics.ts';
import { FakeClock } from '../../../fixtures/fake-clock.ts';
import { captureLogger, metric } from '../../../fixtures/kube-kit.ts';
import { NODE, namespace, pod, policy } from '../../../fixtures/policy-objects.ts';
import { formatIp, parseIp } from '../../../../lib/cidr.ts';

type Call = { op: 'whole'; table: PolicyTable } | { op: 'diff'; changes: readonly TableChange[] } | { op: 'present' } | { op: 'remove' };

function harness(options: { enabled?: boolean; bridgeNf?: string; bridgeType?: 'linux' | 'ovs'; checkpoint?: (force?: boolean) => void; steering?: () => string | undefined } = {}) {
  const calls: Call[] = [];
  const kernel = {
    failDiff: false, failWhole: false, present: true,
  };
  const k: PolicyKernel = {
    async loadWhole(table) {
      calls.push({ op: 'whole', table });
      if (kernel.failWhole) throw new Error('nft: whole failed');
    },
    async applyChanges(changes) {
      calls.push({ op: 'diff', changes });
      if (kernel.failDiff) throw new Error('nft: diff failed');
    },
    async present() {
      calls.push({ op: 'present' });
      return kernel.present;
    },
    async remove() {
      calls.push({ op: 'remove' });
    },
  };
  const state = { synced: false, connected: false, objects: { pods: [pod('x/a', ['10.244.1.2'], { app: 'a' }), pod('y/b', ['10.244.2.3'], { app: 'b' }, { node: 'node-2' })], namespaces: [namespace('x'), namespace('y')], policies: [] } as PolicyObjects };
  const source: PolicySource = { start() {}, stop() {}, synced: () => state.synced, connected: () => state.connected, objects: () => state.objects };
  const clock = new FakeClock();
  const metrics = new Metrics();
  let now = 0;
  const enforcer = new PolicyEnforcer({
    kernel: k, source, nodeName: NODE, enabled: options.enabled ?? true, families: [4],
    sysctl: () => options.bridgeNf ?? '1', ...(options.bridgeType && { bridgeType: options.bridgeType }), ...(options.steering && { sameNodeSteering: options.steering }), log: captureLogger(), metrics, clock, now: () => now,
    ...(options.checkpoint ? { checkpoint: options.checkpoint } : {}),
  });
  return { calls, kernel, state, clock, metrics, enforcer, tick: (ms: number) => (now += ms) };
}

const deny = policy('x/deny', { podSelector: {}, policyTypes: ['Ingress'] });

describe('policy enforcer', () => {
  test('nothing reaches the kernel before every kind is listed: the table already there keeps enforcing', async () => {
    const h = harness();
    h.enforcer.changed();
    await h.clock.advance(DEBOUNCE_MS);
    await h.enforcer.idle;
    assert.equal(await h.enforcer.sync({ verify: true }), undefined);
    assert.deepEqual(h.calls, []);
    assert.match(h.enforcer.detail()[0]!, /not ready: the first list of pods, namespaces and networkpolicies has not arrived/);
    assert.equal(h.enforcer.notLoaded(), 'the first list of pods, namespaces and networkpolicies has not arrived', '/readyz is held back');
  });

  test('first apply whole, then minimal diffs; a burst of changes is one transaction; latency measured from the first change', async () => {
    const h = harness();
    h.state.synced = h.state.connected = true;
    assert.equal(await h.enforcer.sync({ verify: true }), 'whole');
    assert.deepEqual(h.calls.map((c) => c.op), ['whole'], 'no presence check before the first load');
    h.state.objects = { ...h.state.objects, policies: [deny] };
    h.enforcer.changed();
    h.tick(10);
    h.enforcer.changed();
    h.enforcer.changed();
    assert.deepEqual(h.clock.pending().length, 1, 'one timer for the burst');
    h.tick(DEBOUNCE_MS);
    await h.clock.advance(DEBOUNCE_MS);
    await h.enforcer.idle;
    assert.deepEqual(h.calls.map((c) => c.op), ['whole', 'diff']);
    const diff = h.calls[1] as { op: 'diff'; changes: readonly TableChange[] };
    assert.ok(diff.changes.some((c) => c.op === 'add-elements' && c.set === 'to_pod4'), 'x/a became isolated: an element of to_pod4');
    assert.equal(metric(h.metrics, 'bridgeway_policy_policies'), 1);
    assert.match(h.metrics.render(), /bridgeway_policy_change_to_enforced_seconds\{kind="last"\} 0\.085/);
    assert.equal(await h.enforcer.sync({ verify: false }), 'none', 'nothing changed: nothing sent');
    assert.match(h.enforcer.detail()[0]!, /^NetworkPolicy enforced: 1 policies, this node's pods isolated 1 ingress \/ 0 egress/);
    assert.match(h.metrics.render(), /bridgeway_policy_enforcement_ready 1/);
  });

  test('a failed diff loads the whole table; a failed whole load is retried whole, with backoff, and /readyz says why', async () => {
    const h = harness();
    h.state.synced = true;
    await h.enforcer.sync({ verify: false });
    h.state.objects = { ...h.state.objects, policies: [deny] };
    h.enforcer.changed();
    h.kernel.failDiff = true;
    assert.equal(await h.enforcer.sync({ verify: false }), 'whole-after-failure');
    assert.deepEqual(h.calls.map((c) => c.op), ['whole', 'diff', 'whole']);
    h.state.objects = { ...h.state.objects, policies: [] };
    h.enforcer.changed();
    h.kernel.failWhole = true;
    await assert.rejects(h.enforcer.sync({ verify: false }), /whole failed/);
    assert.match(h.enforcer.detail()[0]!, /not ready: the last apply failed: nft: whole failed/);
    assert.match(h.enforcer.notLoaded() ?? '', /^the last apply failed: nft: whole failed/, '/readyz is held back');
    assert.match(h.metrics.render(), /bridgeway_policy_errors_total\{kind="apply"\} 3/);
    h.kernel.failWhole = false;
    h.enforcer.changed();
    await h.clock.advance(DEBOUNCE_MS);
    await h.enforcer.idle;
    assert.equal(h.calls.at(-1)!.op, 'whole', 'after a failure the next apply is whole, not a diff against an unknown kernel');
  });

  test('a resync finds the table gone and loads it whole', async () => {
    const h = harness();
    h.state.synced = true;
    await h.enforcer.sync({ verify: true });
    h.kernel.present = false;
    assert.equal(await h.enforcer.sync({ verify: true }), 'whole');
    assert.deepEqual(h.calls.map((c) => c.op), ['whole', 'present', 'whole']);
  });

  test('a policy that cannot be compiled is counted once and named in /readyz', async () => {
    const h = harness();
    h.state.synced = true;
    h.state.objects = { ...h.state.objects, policies: [policy('x/bad', { podSelector: { matchExpressions: [{ key: 'a', operator: 'In' }] } })] };
    await h.enforcer.sync({ verify: false });
    await h.enforcer.sync({ verify: false });
    assert.match(h.metrics.render(), /bridgeway_policy_errors_total\{kind="compile"\} 1/);
    assert.ok(h.enforcer.detail().some((l) => /NetworkPolicy x\/bad cannot be compiled/.test(l)), h.enforcer.detail().join('\n'));
  });

  test('bridge-nf-call-iptables off: enforcement not ready, with the fix, and the metric says 0', async () => {
    const h = harness({ bridgeNf: '0' });
    h.state.synced = true;
    await h.enforcer.sync({ verify: false });
    assert.match(h.enforcer.detail()[0]!, /not ready: net\.bridge\.bridge-nf-call-iptables is 0: same-node pod traffic bypasses the policy table  fix: modprobe br_netfilter; sysctl -w net\.bridge\.bridge-nf-call-iptables=1/);
    assert.match(h.metrics.render(), /bridgeway_policy_enforcement_ready 0/);
    assert.equal(h.enforcer.notLoaded(), undefined, 'the table judges cross-node traffic: /readyz is not held back by a switch');
  });

  test('Open vSwitch: ready on same-node traffic exactly when the steering flows are in place, whatever br_netfilter says', async () => {
    let why: string | undefined = 'the flows that steer it through the node are not installed yet';
    const h = harness({ bridgeType: 'ovs', bridgeNf: '0', steering: () => why });
    h.state.synced = true;
    await h.enforcer.sync({ verify: false });
    assert.deepEqual(h.enforcer.notReady().length, 1);
    assert.match(h.enforcer.detail()[0]!, /not ready: traffic between two pods of this node on the Open vSwitch bridge bypasses the policy table: the flows that steer it through the node are not installed yet/);
    assert.doesNotMatch(h.enforcer.detail().join('\n'), /br_netfilter/);
    assert.match(h.metrics.render(), /bridgeway_policy_enforcement_ready 0/);
    assert.equal(h.enforcer.notLoaded(), undefined, 'the table judges routed traffic: /readyz is not held back');
    why = undefined;
    assert.deepEqual(h.enforcer.notReady(), []);
    assert.match(h.enforcer.detail()[0]!, /^NetworkPolicy enforced: /);
    assert.match(h.metrics.render(), /bridgeway_policy_enforcement_ready 1/);
    // OVS without anything steering (no step wired): said, never assumed.
    const bare = harness({ bridgeType: 'ovs' });
    bare.state.synced = true;
    await bare.enforcer.sync({ verify: false });
    assert.match(bare.enforcer.detail()[0]!, /bypasses the policy table: nothing steers it through the node/);
  });

  test('BRIDGEWAY_NETWORK_POLICY=false: the table is removed once, nothing compiled, changes ignored', async () => {
    const h = harness({ enabled: false });
    h.state.synced = true;
    await h.enforcer.sync({ verify: true });
    await h.enforcer.sync({ verify: true });
    h.enforcer.changed();
    assert.deepEqual(h.clock.pending(), []);
    assert.deepEqual(h.calls.map((c) => c.op), ['remove']);
    assert.deepEqual(h.enforcer.detail(), ['NetworkPolicy: not enforced by bridgeway (BRIDGEWAY_NETWORK_POLICY=false)']);
    assert.equal(h.enforcer.notLoaded(), undefined);
  });
});

test('the checkpoint (a young collection): inside the compile unforced, forced after it, unforced after the diff, all before nft', async () => {
  const seen: string[] = [];
  // Each call records how many kernel calls were made before it.
  const h = harness({ checkpoint: (force) => void seen.push(`${force ? 'forced' : 'unforced'}@${h.calls.length}`) });
  h.state.synced = h.state.connected = true;
  h.state.objects = { ...h.state.objects, policies: [deny] };
  assert.equal(await h.enforcer.sync({ verify: false }), 'whole');
  // resolve: after the pods and after the one policy; after the classes; no peer set (deny allows nothing)
  assert.deepEqual(seen, ['unforced@0', 'unforced@0', 'unforced@0', 'forced@0']);
  seen.length = 0;
  h.state.objects = { ...h.state.objects, policies: [] };
  h.enforcer.changed();
  await h.clock.advance(DEBOUNCE_MS);
  await h.enforcer.idle;
  assert.deepEqual(h.calls.map((c) => c.op), ['whole', 'diff']);
  assert.deepEqual(seen, ['unforced@1', 'unforced@1', 'forced@1', 'unforced@1']);
});

test('a full sync with nothing changed since does not compile; one with a change does', async () => {
  const h = harness();
  h.state.synced = true;
  await h.enforcer.sync({ verify: true });
  const compiles = () => Number(/^bridgeway_policy_compile_seconds /m.test(h.metrics.render()));
  let reads = 0;
  const objects = h.state.objects;
  Object.defineProperty(h.state, 'objects', { get: () => (reads++, objects), set: () => {}, configurable: true });
  assert.equal(await h.enforcer.sync({ verify: true }), 'none');
  assert.equal(reads, 0, 'nothing read, nothing compiled');
  assert.equal(compiles(), 1);
  h.enforcer.changed();
  await h.enforcer.sync({ verify: true });
  assert.equal(reads, 1, 'a change: compiled again');
  h.kernel.present = false;
  assert.equal(await h.enforcer.sync({ verify: true }), 'whole', 'the table gone: the last compile loaded whole');
  assert.equal(reads, 1);
});

test('after a transaction that changed the table, the entries it denies are cut; a conntrack failure is counted, not thrown', async () => {
  const calls: string[] = [];
  let fail = false;
  const h = harness();
  const entry = (src: string, dst: string) => ({
    orig: { src: parseIp(src)!, dst: parseIp(dst)!, proto: 6, sport: 40000, dport: 80 },
    reply: { src: parseIp(dst)!, dst: parseIp(src)!, proto: 6, sport: 80, dport: 40000 },
    key: { family: 2, orig: new Uint8Array() },
  });
  const conntrack = {
    dump() {
      calls.push('dump');
      if (fail) throw new Error('ctnetlink: EPERM');
      return [entry('10.244.2.3', '10.244.1.2')]; // y/b -> x/a
    },
    remove(e: ReturnType<typeof entry>) {
      calls.push(`remove ${formatIp(e.orig.src)}`);
      return true;
    },
  };
  (h.enforcer as unknown as { deps: { conntrack: unknown } }).deps.conntrack = conntrack;
  h.state.synced = true;
  await h.enforcer.sync({ verify: false });
  assert.deepEqual(calls, ['dump'], 'the first load: nothing isolated, nothing cut');
  h.state.objects = { ...h.state.objects, policies: [deny] };
  h.enforcer.changed();
  await h.enforcer.sync({ verify: false });
  assert.deepEqual(calls, ['dump', 'dump', 'remove 10.244.2.3']);
  assert.match(h.metrics.render(), /^bridgeway_policy_conntrack_cut_total 1$/m);
  await h.enforcer.sync({ verify: true });
  assert.equal(calls.length, 3, 'nothing changed: no dump');
  fail = true;
  h.state.objects = { ...h.state.objects, policies: [] };
  h.enforcer.changed();
  assert.equal(await h.enforcer.sync({ verify: false }), 'diff');
  assert.match(h.metrics.render(), /bridgeway_policy_errors_total\{kind="conntrack"\} 1/);
});
