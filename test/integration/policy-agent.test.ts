// NetworkPolicy enforced by the real agents, the truth table: a two-node dual-stack simulation,
// both agents in Kubernetes mode against the fake API server (which serves Nodes, Pods, Namespaces
// and NetworkPolicies), nine pods made by the real plugin (x/a .. z/c; a and x/c, z/c on node-0,
// b and y/c on node-1, so every namespace pair has same-node and cross-node pairs) and posted as
// Pod objects with their addresses, each serving TCP and UDP on 80 and 81 (named container ports).
// The upstream Netpol cases (test/fixtures/netpol-cases.ts: upstream's whole list) run in order,
// each setting its policies and labels through the API; every pod probes every other pod on the
// case's port and protocol over IPv4 and IPv6 (SCTP checks excepted: no SCTP in this kernel), and
// the matrix must equal the expected one (the diff is printed otherwise). Then: a new pod
// is judged at once, `policy explain` agrees, and the agents report the change-to-enforced latency.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { skipUnlessAgent } from './harness.ts';
import { AGENT, eventually, withCluster, type SimCluster, type SimNode } from '../support/cluster.ts';
import { type JsonObject } from '../support/fake-apiserver.ts';
import { kubeAgentArgs } from '../fixtures/kube-agent.ts';
import { run } from '../support/exec-in.ts';
import { addSimPod, ECHO_PORT, namespaceObject, PROBE, serve, startKubeAgent, startProber, type Prober, type SimPod, withPolicyAgents } from './policy-sim.ts';
import { caseName, defaultNamespaceLabels, defaultPodLabels, NAMESPACES, netpolCases, POD_NAMES, Reachability, type Addresses, type Check } from '../fixtures/netpol-cases.ts';

const PROBE_TIMEOUT_MS = 700;
const ATTEMPTS = 4;
/**
 * How long after a change a check keeps probing while the matrix differs: the issue's goal is 1 s
 * at the p99 (bench:policy measures it; here the agents' own metric is printed); this leaves room
 * for a loaded machine.
 * The attempts are spaced: with a long-running prober a matrix that lets everything through comes
 * back in milliseconds, and four quick attempts would not outlast one late transaction.
 */
const SETTLE_MS = 3000;
const ATTEMPT_GAP_MS = 200;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A TCP connection from `from` to `to`'s echo port, a byte every 100 ms; `echoes()` counts the answers. */
function hold(cluster: SimCluster, from: Pick<SimPod, 'netns'>, to: SimPod): { echoes: () => number; stop: () => void } {
  const child = spawn('nsenter', [`--net=${from.netns}`, '--', process.execPath, PROBE, 'hold', to.v4, String(ECHO_PORT)], { stdio: ['ignore', 'pipe', 'ignore'] });
  cluster.lab.track(child);
  let echoes = 0;
  child.stdout!.on('data', (d: Buffer) => (echoes += d.length));
  return { echoes: () => echoes, stop: () => child.kill('SIGKILL') };
}

/** Whether the connection still carries echoes: any within `ms`. */
async function flowing(h: { echoes: () => number }, ms = 800): Promise<boolean> {
  const before = h.echoes();
  await new Promise((resolve) => setTimeout(resolve, ms));
  return h.echoes() > before;
}

const cutTotal = (metrics: string) => Number(/^bridgeway_policy_conntrack_cut_total (\d+)$/m.exec(metrics)?.[1] ?? 0);

/** Every pod to every other pod, both families, at once: `from to family` -> reached. */
async function probeAll(pods: SimPod[], probers: Map<SimPod, Prober>, check: Pick<Check, 'port' | 'protocol'>): Promise<Map<string, boolean>> {
  const proto = check.protocol.toLowerCase() as 'tcp' | 'udp';
  const results = new Map<string, boolean>();
  await Promise.all(pods.map(async (from) => {
    const targets = pods.filter((to) => to !== from).flatMap((to) => [{ to, family: 4, address: to.v4 }, { to, family: 6, address: to.v6 }]);
    const answers = await probers.get(from)!.probe(targets.map((t) => ({ to: t.address, proto, port: check.port })), PROBE_TIMEOUT_MS);
    targets.forEach((t, i) => results.set(`${from.ref} ${t.to.ref} ${t.family}`, answers[i]!));
  }));
  return results;
}

/** Lines `from -> to (IPv4/6): expected X, got Y` for every pair that differs. */
function mismatches(expected: Reachability, actual: Map<string, boolean>): string[] {
  const lines: string[] = [];
  for (const [key, reached] of actual) {
    const [from, to, family] = key.split(' ');
    const want = expected.allowed.get(`${from} ${to}`)!;
    if (want !== reached) lines.push(`  ${from} -> ${to} (IPv${family}): expected ${want ? 'allowed' : 'denied'}, got ${reached ? 'allowed' : 'denied'}`);
  }
  return lines;
}

/** The expected matrix printed as upstream prints its truth tables (. allowed, X denied). */
function table(pods: SimPod[], allowed: (from: string, to: string) => boolean | undefined): string {
  const refs = pods.map((p) => p.ref);
  return [`      ${refs.join(' ')}`, ...refs.map((f) => `${f.padEnd(5)} ${refs.map((t) => (f === t ? '-' : allowed(f, t) ? '.' : 'X').padEnd(3)).join(' ')}`)].join('\n');
}

async function metricsOf(cluster: SimCluster, node: SimNode): Promise<string> {
  return (await cluster.health(node, '/metrics')).body;
}

describe('NetworkPolicy enforced by the agents (the truth table)', { skip: skipUnlessAgent }, () => {
  test('the upstream Netpol cases, same-node and cross-node, both families; updates, label changes, a new pod; policy explain', { timeout: 300_000 }, () =>
    withCluster(2, async (cluster) => {
      const nodes = cluster.nodes as [SimNode, SimNode];
      await withPolicyAgents(cluster, { seed: (api) => { for (const ns of NAMESPACES) api.addObject('namespaces', namespaceObject(ns)); } }, async (api) => {
        // The table is in each node's namespace, and nothing of ours is in the root namespace.
        for (const node of nodes) await node.exec(['nft', 'list', 'chain', 'inet', 'bridgeway_policy', 'pods_forward']);
        assert.doesNotMatch((await run(['nft', 'list', 'tables'])).stdout, /bridgeway_policy/);

        const pods: SimPod[] = [];
        for (const ns of NAMESPACES) {
          for (const name of POD_NAMES) {
            const node = name === 'a' || (name === 'c' && ns !== 'y') ? nodes[0] : nodes[1];
            pods.push(await addSimPod(cluster, api, node, `${ns}/${name}`, defaultPodLabels(`${ns}/${name}`)));
          }
        }
        // Servers and probers started before the first case, so their start is not in its latency.
        const [, proberList] = await Promise.all([Promise.all(pods.map((p) => serve(cluster, p.netns))), Promise.all(pods.map((p) => startProber(cluster, p.netns)))]);
        const probers = new Map(pods.map((p, i) => [p, proberList[i]!]));
        await new Promise((resolve) => setTimeout(resolve, 500)); // and the agents have taken in the pods
        const ip: Addresses = { v4: Object.fromEntries(pods.map((p) => [p.ref, p.v4])), v6: Object.fromEntries(pods.map((p) => [p.ref, p.v6])) };

        const current = new Map<string, JsonObject>();
        // Each case's labels: the defaults, changed where the case says; only what differs from
        // now is sent, so a step that keeps its labels sends nothing.
        const nsLabels = new Map<string, Record<string, string>>(NAMESPACES.map((ns) => [ns, defaultNamespaceLabels(ns)]));
        const setLabels = (wanted: { ns: Map<string, Record<string, string>>; pods: Map<string, Record<string, string>> }) => {
          for (const [ns, labels] of wanted.ns) {
            if (JSON.stringify(nsLabels.get(ns)) === JSON.stringify(labels)) continue;
            nsLabels.set(ns, labels);
            api.modifyObject('namespaces', ns, (n) => ((n.metadata as JsonObject).labels = labels));
          }
          for (const [ref, labels] of wanted.pods) {
            const pod = pods.find((p) => p.ref === ref)!;
            if (JSON.stringify(pod.labels) === JSON.stringify(labels)) continue;
            pod.labels = labels;
            api.modifyObject('pods', ref, (p) => ((p.metadata as JsonObject).labels = labels));
          }
        };
        const failures: string[] = [];
        let checks = 0;
        let sctpChecks = 0;
        const started = Date.now();
        /** When the last change was sent: a check retries until SETTLE_MS after it (and at least ATTEMPTS times). */
        let changedAt = Date.now();
        const verify = async (name: string, check: Check) => {
          const expected = new Reachability(pods.map((p) => p.ref));
          check.expect(expected);
          let wrong: string[] = [];
          for (let attempt = 1; ; attempt++) {
            wrong = mismatches(expected, await probeAll(pods, probers, check));
            if (wrong.length === 0 || (attempt >= ATTEMPTS && Date.now() - changedAt > SETTLE_MS)) break;
            await sleep(ATTEMPT_GAP_MS);
          }
          checks += 1;
          if (wrong.length > 0) {
            failures.push(`${name}, ${check.port}/${check.protocol}:\nexpected (. allowed, X denied):\n${table(pods, (f, t) => expected.allowed.get(`${f} ${t}`))}\nmismatches:\n${wrong.join('\n')}`);
          }
        };

        for (const c of netpolCases(ip)) {
          const wanted = { ns: new Map(NAMESPACES.map((ns) => [ns as string, defaultNamespaceLabels(ns)])), pods: new Map(pods.map((p) => [p.ref, defaultPodLabels(p.ref)])) };
          for (const m of c.mutations ?? []) {
            if (m.kind === 'namespace-labels') wanted.ns.set(m.ns, { ...defaultNamespaceLabels(m.ns), ...m.labels });
            else wanted.pods.set(m.pod, m.labels);
          }
          setLabels(wanted);
          const policies = new Map(c.policies.map((p) => [`${p.metadata.namespace}/${p.metadata.name}`, p as unknown as JsonObject]));
          for (const key of current.keys()) if (!policies.has(key)) api.deleteObject('networkpolicies', key);
          for (const [key, policy] of policies) {
            const object = { kind: 'NetworkPolicy', apiVersion: 'networking.k8s.io/v1', ...structuredClone(policy) };
            if (!current.has(key)) api.addObject('networkpolicies', object);
            else if (JSON.stringify(current.get(key)) !== JSON.stringify(policy)) api.modifyObject('networkpolicies', key, (p) => void (p.spec = structuredClone(policy.spec as JsonObject)));
          }
          current.clear();
          for (const [key, policy] of policies) current.set(key, policy);
          changedAt = Date.now();
          await sleep(250); // the agents' debounce and transaction; a late one costs a retry
          for (const check of c.checks) {
            if (check.protocol === 'SCTP') sctpChecks += 1; // no SCTP in this kernel: the unit test judges these
            else await verify(caseName(c), check);
          }
        }
        const cases = netpolCases(ip);
        process.stderr.write(`netpol cases: ${cases.length} (${new Set(cases.filter((c) => c.suite !== 'bridgeway').map((c) => `${c.suite} ${c.it}`)).size} upstream cases, the rest steps or ours), ${checks} checks probed, ${sctpChecks} SCTP checks left to the unit test, in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);

        // Established connections a new policy denies are cut (their conntrack entries deleted on
        // the node whose table denies them); one it allows keeps flowing. x/a (node-0) serves
        // y/a (same node), z/b (node-1), x/c (node-0), node-1 itself (from outside the pods: an
        // ipBlock peer) and node-0 itself (kubelet's probes: never judged); then x/a admits its
        // own namespace's pods only.
        for (const key of current.keys()) api.deleteObject('networkpolicies', key);
        current.clear();
        changedAt = Date.now();
        await verify('no policy left', { port: 80, protocol: 'TCP', expect: () => {} });
        const ref = (r: string) => pods.find((p) => p.ref === r)!;
        const held = {
          'y/a': hold(cluster, ref('y/a'), ref('x/a')), 'z/b': hold(cluster, ref('z/b'), ref('x/a')), 'x/c': hold(cluster, ref('x/c'), ref('x/a')),
          'node-1': hold(cluster, { netns: nodes[1].path }, ref('x/a')), 'node-0': hold(cluster, { netns: nodes[0].path }, ref('x/a')),
        };
        await eventually(async () => Object.values(held).every((h) => h.echoes() >= 3), 10_000, 'five connections to x/a established');
        const cutBefore = cutTotal(await metricsOf(cluster, nodes[0]));
        api.addObject('networkpolicies', { kind: 'NetworkPolicy', apiVersion: 'networking.k8s.io/v1', metadata: { namespace: 'x', name: 'a-from-x-only' }, spec: { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ podSelector: {} }] }] } });
        await eventually(async () => !(await flowing(held['y/a'])) && !(await flowing(held['z/b'])) && !(await flowing(held['node-1'])), 10_000, 'the denied connections cut, the one from outside the pods too');
        assert.ok(await flowing(held['x/c']), 'the allowed connection x/c -> x/a keeps flowing');
        assert.ok(await flowing(held['node-0']), 'x/a\'s own node\'s connection (the output hook, never judged) keeps flowing');
        for (const h of Object.values(held)) h.stop();
        // At least the three held; the probes' closed connections to x/a still in conntrack count too.
        assert.ok(cutTotal(await metricsOf(cluster, nodes[0])) - cutBefore >= 3, 'node-0 (x/a\'s) cut the three held connections it denies');
        api.deleteObject('networkpolicies', 'x/a-from-x-only');

        // A new pod x/d on node-1 under x's default deny, allowed only from pods labelled `pod: d`:
        // judged from its first packet (its address reaches the tables as soon as the Pod does).
        api.addObject('networkpolicies', { kind: 'NetworkPolicy', apiVersion: 'networking.k8s.io/v1', metadata: { namespace: 'x', name: 'only-from-d' }, spec: { podSelector: {}, policyTypes: ['Ingress'], ingress: [{ from: [{ podSelector: sel('d') }] }] } });
        const d = await addSimPod(cluster, api, nodes[1], 'x/d', { pod: 'd' });
        pods.push(d);
        await serve(cluster, d.netns);
        probers.set(d, await startProber(cluster, d.netns));
        changedAt = Date.now();
        await sleep(250);
        await verify('a new pod x/d (x allows ingress only from pod d)', { port: 80, protocol: 'TCP', expect: (r) => r.expectPeer({}, { ns: 'x' }, false).expectPeer({ ns: 'x', pod: 'd' }, { ns: 'x' }, true) });

        // A Service: a kube-proxy-like DNAT on both nodes (ClusterIP 10.96.0.10:80 -> x/b:80, on
        // node-1). Egress to it and ingress at x/b are judged against the backend after the DNAT:
        // under x/only-from-d only x/d reaches it (cross-node from node-0's pods, same-node from node-1's).
        const backend = pods.find((p) => p.ref === 'x/b')!;
        for (const node of nodes) await node.exec(['iptables-nft', '-t', 'nat', '-A', 'PREROUTING', '-d', '10.96.0.10/32', '-p', 'tcp', '--dport', '80', '-j', 'DNAT', '--to-destination', `${backend.v4}:80`]);
        const clients = pods.filter((p) => p !== backend);
        let serviceWrong: string[] = [];
        changedAt = Date.now();
        for (let attempt = 1; ; attempt++) {
          const reached = await Promise.all(clients.map(async (from) => (await probers.get(from)!.probe([{ to: '10.96.0.10', proto: 'tcp', port: 80 }], PROBE_TIMEOUT_MS))[0]!));
          serviceWrong = clients.flatMap((from, i) => (reached[i] === (from.ref === 'x/d') ? [] : [`  ${from.ref} -> Service 10.96.0.10:80 (x/b): expected ${from.ref === 'x/d' ? 'allowed' : 'denied'}, got ${reached[i] ? 'allowed' : 'denied'}`]));
          if (serviceWrong.length === 0 || (attempt >= ATTEMPTS && Date.now() - changedAt > SETTLE_MS)) break;
          await sleep(ATTEMPT_GAP_MS);
        }
        checks += 1;
        if (serviceWrong.length) failures.push(`the Service's backend judged after DNAT:\n${serviceWrong.join('\n')}`);

        assert.equal(failures.length, 0, `${failures.length} of ${checks} checks differ from the truth table:\n\n${failures.join('\n\n')}`);

        // `policy explain` reads the same API and compiles as the agents do.
        const explain = (from: string, to: string, port: string) => run([AGENT, 'policy', 'explain', from, to, port, '--kubeconfig', api.kubeconfig]);
        const denied = (await explain('y/a', 'x/b', '80/tcp')).stdout;
        assert.match(denied, /^y\/a \(10\.244\.1\.\d+\) -> x\/b \(10\.244\.2\.\d+\) 80\/TCP: DENIED\n  egress \(node node-0\): not isolated, allowed$/m);
        assert.match(denied, /ingress \(node node-1\): DENIED: no rule of the policies isolating it allows this \(isolated by x\/only-from-d\)/);
        const allowed = (await explain('x/d', 'x/a', '80/tcp')).stdout;
        assert.match(allowed, /x\/d \(fd00:10:244:2::[0-9a-f]+\) -> x\/a \(fd00:10:244:1::[0-9a-f]+\) 80\/TCP: ALLOWED\n  egress \(node node-1\): not isolated, allowed\n  ingress \(node node-0\): allowed by x\/only-from-d ingress\[0\] \(isolated by x\/only-from-d\)/);
        await assert.rejects(explain('x/nope', 'x/a', '80/tcp'), /no pod x\/nope/);

        // Each agent measured every change from its arrival to the transaction holding it. How
        // fast is bench:policy's to say (p50/p99 side by side): under a loaded CI machine a
        // bound here would test the machine, not the agent.
        for (const node of nodes) {
          const text = await metricsOf(cluster, node);
          const max = Number(/^bridgeway_policy_change_to_enforced_seconds\{kind="max"\} (\S+)$/m.exec(text)?.[1]);
          assert.ok(max > 0, `${node.name}: the change-to-enforced latency is measured: ${max}`);
          assert.match(text, /^bridgeway_policy_enforcement_ready 1$/m);
          assert.match(text, /^bridgeway_policy_applies_total\{how="diff"\} \d+$/m);
          assert.doesNotMatch(text, /^bridgeway_policy_errors_total{/m, 'no compile or apply error');
          process.stderr.write(`${node.name}: slowest change to enforced ${(max * 1000).toFixed(0)} ms; ${/^bridgeway_policy_change_to_enforced_seconds\{kind="last"\} (\S+)$/m.exec(text)?.[1]} s the last\n`);
        }

        // The doctor sees the table and the agent's summary.
        const doctor = await nodes[1].exec([AGENT, 'doctor', '--json', ...kubeAgentArgs(cluster, nodes[1], api)]).catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? '' }));
        const policyFindings = (JSON.parse(doctor.stdout) as { findings: { severity: string; check: string; object: string; detail: string }[] }).findings.filter((f) => f.check === 'policy');
        assert.deepEqual(policyFindings.map((f) => `${f.severity} ${f.object}`), ['OK table inet bridgeway_policy', 'OK agent'], JSON.stringify(policyFindings));
        assert.match(policyFindings[1]!.detail, /^NetworkPolicy enforced: 1 policies/);

        // SIGKILL an agent: its table keeps enforcing while it is down; a change made meanwhile,
        // and nothing opens while the new agent lists (it loads nothing before its first full view).
        const denyToX = { port: 80 as const, protocol: 'TCP' as const, expect: (r: Reachability) => r.expectPeer({}, { ns: 'x' }, false).expectPeer({ ns: 'x', pod: 'd' }, { ns: 'x' }, true) };
        nodes[1].agent!.kill('SIGKILL');
        await new Promise((resolve) => nodes[1].agent!.once('exit', resolve));
        await verify('node-1\'s agent killed: its table still enforces', denyToX);
        api.deleteObject('networkpolicies', 'x/only-from-d');
        api.addObject('networkpolicies', { kind: 'NetworkPolicy', apiVersion: 'networking.k8s.io/v1', metadata: { namespace: 'y', name: 'deny-all' }, spec: { podSelector: {}, policyTypes: ['Ingress', 'Egress'] } });
        startKubeAgent(cluster, nodes[1], api);
        await eventually(async () => /NetworkPolicy enforced: 1 policies/.test((await cluster.health(nodes[1], '/readyz')).body), 15_000, 'node-1\'s new agent enforcing');
        changedAt = Date.now();
        await verify('after the restart: y denies all, x nothing', { port: 80, protocol: 'TCP', expect: (r) => r.expectPeer({}, { ns: 'y' }, false).expectPeer({ ns: 'y' }, {}, false) });
        assert.equal(failures.length, 0, failures.join('\n\n'));

        // BRIDGEWAY_NETWORK_POLICY=false removes the table; uninstall removes it too.
        nodes[0].agent!.kill('SIGKILL');
        await new Promise((resolve) => nodes[0].agent!.once('exit', resolve));
        startKubeAgent(cluster, nodes[0], api, ['--network-policy', 'false']);
        await eventually(async () => !(await nodes[0].exec(['nft', 'list', 'tables'])).stdout.includes('bridgeway_policy'), 15_000, 'the table removed with --network-policy false');
        assert.match((await cluster.health(nodes[0], '/readyz')).body, /NetworkPolicy: not enforced by bridgeway \(BRIDGEWAY_NETWORK_POLICY=false\)/);
        await cluster.stopAgent(nodes[1]);
        await nodes[1].exec([AGENT, 'uninstall', ...kubeAgentArgs(cluster, nodes[1], api)]);
        assert.doesNotMatch((await nodes[1].exec(['nft', 'list', 'tables'])).stdout, /bridgeway_policy/, 'uninstall removed the table');
      });
    }, { dualStack: true }));
});

function sel(pod: string) {
  return { matchLabels: { pod } };
}
