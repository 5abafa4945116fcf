// Chaos and load for the agent's policy enforcer (issue 19): 300 pods over 6 namespaces and 2
// nodes, 20 policies, then a long run of random changes (pod relabels, pods replaced with new
// addresses, namespace relabels, policies replaced, added and deleted), each applied by the
// enforcer as the agent applies it (policy/enforcer.ts over policy/kernel.ts: `nft -f` of the
// minimal diff) into a namespace's kernel. After every step the kernel's table must equal a fresh
// load of the compiler's output for that step (in a second namespace), object for object and
// element for element. 200 steps in `npm test`; POLICY_CHURN_STEPS=1000 for the run,
// POLICY_SEED to replay one.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRunner, type Runner } from '../../lib/exec.ts';
import { compilePolicies } from '../../daemonset/policy/compile.ts';
import { PolicyEnforcer } from '../../daemonset/policy/enforcer.ts';
import { nftPolicyKernel } from '../../daemonset/policy/kernel.ts';
import type { LabelSelector, Namespace, NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort, Pod } from '../../daemonset/policy/model.ts';
import { renderReplace } from '../../daemonset/policy/nft-text.ts';
import type { PolicySource } from '../../daemonset/policy/source.ts';
import { Metrics } from '../../daemonset/serve/metrics.ts';
import { execIn, run } from '../support/exec-in.ts';
import { canonicalPolicyListing } from '../support/policy-listing.ts';
import { Lab, reportProblems, uniquePrefix } from '../support/lab.ts';
import { FakeClock } from '../fixtures/fake-clock.ts';
import { captureLogger } from '../fixtures/kube-kit.ts';
import { NODE, namespace, pod, policy, rng } from '../fixtures/policy-objects.ts';

const STEPS = Number(process.env.POLICY_CHURN_STEPS ?? 200);
const SEED = Number(process.env.POLICY_SEED ?? 19);
const skip = process.getuid?.() !== 0 ? 'needs root (network namespaces)' : await run(['nft', '--version']).then(() => false, () => 'nft is missing');

const NAMESPACES = ['a', 'b', 'c', 'd', 'e', 'f'];
const APPS = ['web', 'api', 'db', 'cache', 'job'];

function cluster(random: () => number) {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const maybe = (p = 0.5) => random() < p;
  let serial = 0;
  const newPod = (): Pod => {
    const n = ++serial;
    const ips = [`10.${n >> 8 & 255}.${n & 255}.${1 + (n % 200)}`, ...(maybe(0.3) ? [`fd00::${n.toString(16)}`] : [])];
    return pod(`${pick(NAMESPACES)}/p${n}`, ips, { app: pick(APPS), ...(maybe(0.4) ? { tier: pick(['front', 'back']) } : {}) }, {
      node: maybe(0.5) ? NODE : 'node-2',
      ports: maybe(0.7) ? [{ name: 'http', containerPort: pick([80, 8080]) }, { name: 'dns', containerPort: 53, protocol: 'UDP' }] : [],
    });
  };
  const selector = (): LabelSelector => pick<() => LabelSelector>([
    () => ({}),
    () => ({ matchLabels: { app: pick(APPS) } }),
    () => ({ matchExpressions: [{ key: pick(['app', 'tier', 'team']), operator: pick(['In', 'NotIn'] as const), values: [pick([...APPS, 'front', 'x'])] }] }),
    () => ({ matchExpressions: [{ key: pick(['tier', 'team']), operator: pick(['Exists', 'DoesNotExist'] as const) }] }),
  ])();
  const peer = (): NetworkPolicyPeer => pick<() => NetworkPolicyPeer>([
    () => ({ podSelector: selector() }),
    () => ({ namespaceSelector: selector() }),
    () => ({ podSelector: selector(), namespaceSelector: selector() }),
    () => ({ ipBlock: pick([{ cidr: '10.0.0.0/16', except: ['10.0.1.0/24'] }, { cidr: '0.0.0.0/0', except: ['10.0.0.0/8'] }, { cidr: 'fd00::/112' }]) }),
  ])();
  const port = (): NetworkPolicyPort => pick<() => NetworkPolicyPort>([
    () => ({ port: pick([80, 443, 8080]) }),
    () => ({ port: 8000, endPort: pick([8080, 8100]) }),
    () => ({ port: pick(['http', 'dns']), ...(maybe() ? { protocol: 'UDP' as const } : {}) }),
    () => ({ protocol: pick(['TCP', 'UDP'] as const) }),
  ])();
  const rules = () => Array.from({ length: Math.floor(random() * 3) }, () => ({
    ...(maybe(0.85) ? { peers: Array.from({ length: 1 + Math.floor(random() * 2) }, peer) } : {}),
    ...(maybe(0.6) ? { ports: Array.from({ length: 1 + Math.floor(random() * 2) }, port) } : {}),
  }));
  let policySerial = 0;
  const newPolicy = (): NetworkPolicy => policy(`${pick(NAMESPACES)}/np${++policySerial}`, {
    podSelector: selector(),
    policyTypes: pick([['Ingress'], ['Egress'], ['Ingress', 'Egress']] as const).slice(),
    ingress: rules().map((r) => ({ ...(r.peers && { from: r.peers }), ...(r.ports && { ports: r.ports }) })),
    egress: rules().map((r) => ({ ...(r.peers && { to: r.peers }), ...(r.ports && { ports: r.ports }) })),
  });
  const state = {
    pods: Array.from({ length: 300 }, newPod),
    namespaces: NAMESPACES.map((n) => namespace(n, maybe() ? { team: pick(['red', 'blue']) } : {})) as Namespace[],
    policies: Array.from({ length: 20 }, newPolicy),
  };
  const index = (length: number) => Math.floor(random() * length);
  /** One random change; returns what it was, for a failure's message. */
  const change = (): string => {
    const kind = pick(['relabel', 'relabel', 'replace-pod', 'namespace', 'replace-policy', 'add-policy', 'delete-policy']);
    if (kind === 'relabel') {
      const i = index(state.pods.length);
      const p = state.pods[i]!;
      state.pods[i] = { ...p, metadata: { ...p.metadata, labels: { ...p.metadata.labels, app: pick(APPS) } } };
      return `relabel ${p.metadata.name}`;
    }
    if (kind === 'replace-pod') {
      const i = index(state.pods.length);
      const gone = state.pods[i]!.metadata.name;
      state.pods[i] = newPod();
      return `replace pod ${gone} with ${state.pods[i]!.metadata.name}`;
    }
    if (kind === 'namespace') {
      const i = index(state.namespaces.length);
      state.namespaces[i] = namespace(NAMESPACES[i]!, maybe() ? { team: pick(['red', 'blue']) } : {});
      return `relabel namespace ${NAMESPACES[i]}`;
    }
    if (kind === 'add-policy' || state.policies.length < 5) {
      state.policies.push(newPolicy());
      return 'add a policy';
    }
    const i = index(state.policies.length);
    const old = state.policies[i]!.metadata.name;
    if (kind === 'delete-policy') state.policies.splice(i, 1);
    else state.policies[i] = { ...newPolicy(), metadata: state.policies[i]!.metadata };
    return `${kind} ${old}`;
  };
  return { state, change };
}

describe(`the enforcer under churn: ${STEPS} random changes over 300 pods, the kernel checked after each (seed ${SEED})`, { skip }, () => {
  const lab = new Lab(uniquePrefix('bwchurn')).cleanupOnSignals();
  let kern = '';
  let ref = '';
  before(async () => {
    const [k, r] = await lab.addNamespaces(['kern', 'ref']);
    kern = lab.netnsPath(k!);
    ref = lab.netnsPath(r!);
  });
  after(() => reportProblems(lab.cleanup()));

  test('every step: the kernel holds exactly what the compiler says, reached by a minimal diff', { timeout: 600_000 }, async () => {
    const { state, change } = cluster(rng(SEED));
    const runner = createRunner();
    const inKern: Runner = (argv, options) => runner(['nsenter', `--net=${kern}`, '--', ...argv], options);
    const source: PolicySource = { start() {}, stop() {}, synced: () => true, connected: () => true, objects: () => state };
    const metrics = new Metrics();
    const enforcer = new PolicyEnforcer({ kernel: nftPolicyKernel(inKern), source, nodeName: NODE, enabled: true, families: [4, 6], sysctl: () => '1', log: captureLogger(), metrics, clock: new FakeClock() });
    assert.equal(await enforcer.sync({ verify: false }), 'whole');
    const hows = new Map<string, number>();
    let elements = 0;
    for (let step = 1; step <= STEPS; step++) {
      const what = change();
      enforcer.changed();
      const how = await enforcer.sync({ verify: false });
      hows.set(how!, (hows.get(how!) ?? 0) + 1);
      const { table } = compilePolicies({ ...state, nodeName: NODE });
      elements = table.sets.reduce((n, s) => n + s.elements.length, 0);
      await execIn(ref, ['nft', '-f', '-'], renderReplace(table));
      const [kernel, expected] = await Promise.all([canonicalPolicyListing(kern), canonicalPolicyListing(ref)]);
      assert.deepEqual(kernel, expected, `step ${step} (${what}, applied as ${how}): the kernel differs from a fresh load of the compiler's table`);
    }
    process.stderr.write(`policy churn: ${STEPS} steps, ${JSON.stringify(Object.fromEntries(hows))}, ${elements} elements at the end\n`);
    assert.equal(hows.get('whole-after-failure') ?? 0, 0, 'no diff was refused by the kernel');
    assert.doesNotMatch(metrics.render(), /^bridgeway_policy_errors_total\{kind="apply"\}/m);
    assert.equal((hows.get('diff') ?? 0) + (hows.get('none') ?? 0), STEPS, 'every change went in as a diff (or needed none: a change this node\'s table does not show)');
    assert.ok((hows.get('diff') ?? 0) >= STEPS / 2, 'most changes reach this node\'s table');
  });
});
