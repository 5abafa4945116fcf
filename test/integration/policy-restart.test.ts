// No gap through an agent's SIGKILL (issue 19, "Agent restart"): two dual-stack nodes, the real
// agents and plugin against the fake API server, six pods (x/a, y/a, z/a on node-0; x/b, y/b, z/b
// on node-1). While a churn of policy and label changes runs, and each node's agent in turn, then
// both at once, is SIGKILLed a moment after a change and started again a change or a few later,
// every pod probes its peers continuously (a new TCP connection per pair and family every
// PROBE_INTERVAL_MS, not waiting for the earlier ones). The probed pairs are those whose verdict is the same in every state the
// churn passes through, the API's states in between included (a replaced policy is added before
// the old one is deleted):
//   denied:  y/* and z/* -> x/*   (x admits only its own pods, by one policy or its replacement)
//   allowed: x/a <-> x/b, x/* -> y/*, y/a <-> y/b   (y is unisolated or admits everyone)
// Not one denied probe may connect, and not one allowed probe may fail (a connect may take up to
// PROBE_TIMEOUT_MS, so a dropped SYN's retransmit still counts as allowed). z's pairs change
// verdict with the churn and are not probed. After the churn each node's table must equal a fresh
// load of the compiler's output for the final objects (test/support/policy-listing.ts).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { compilePolicies } from '../../daemonset/policy/compile.ts';
import type { Namespace, NetworkPolicy, Pod } from '../../daemonset/policy/model.ts';
import { renderReplace } from '../../daemonset/policy/nft-text.ts';
import { skipUnlessAgent } from './harness.ts';
import { eventually, withCluster, type SimNode } from '../support/cluster.ts';
import { type FakeApiServer, type JsonObject } from '../support/fake-apiserver.ts';
import { execIn } from '../support/exec-in.ts';
import { canonicalPolicyListing } from '../support/policy-listing.ts';
import { rng } from '../support/rng.ts';
import { addSimPod, namespaceObject, PROBE, serve, startKubeAgent, type SimPod, withPolicyAgents } from './policy-sim.ts';

const PROBE_INTERVAL_MS = 200;
const PROBE_TIMEOUT_MS = 3000;
/** Time between two churn steps: a few of the agents' debounce-and-apply cycles. */
const STEP_MS = 500;

const DENIED: [string, string][] = ['y/a', 'y/b', 'z/a', 'z/b'].flatMap((from) => ['x/a', 'x/b'].map((to): [string, string] => [from, to]));
const ALLOWED: [string, string][] = [['x/a', 'x/b'], ['x/b', 'x/a'], ['x/a', 'y/a'], ['x/a', 'y/b'], ['x/b', 'y/a'], ['x/b', 'y/b'], ['y/a', 'y/b'], ['y/b', 'y/a']];

const np = (ref: string, spec: JsonObject): JsonObject => {
  const [namespace, name] = ref.split('/') as [string, string];
  return { kind: 'NetworkPolicy', apiVersion: 'networking.k8s.io/v1', metadata: { namespace, name }, spec };
};

describe('NetworkPolicy through an agent SIGKILL, probed continuously', { skip: skipUnlessAgent }, () => {
  test('a churn of policies and labels with each agent killed and restarted: no denied probe connects, no allowed probe fails; the tables equal the compiler\'s after', { timeout: 180_000 }, () =>
    withCluster(2, async (cluster) => {
      const nodes = cluster.nodes as [SimNode, SimNode];
      const random = rng(Number(process.env.POLICY_SEED ?? 19));
      const seed = (api: FakeApiServer) => {
        for (const ns of ['x', 'y', 'z']) api.addObject('namespaces', namespaceObject(ns));
        // x admits only its own pods from the start: the invariant denied pairs are denied before the first probe.
        api.addObject('networkpolicies', np('x/same-ns-only', { podSelector: {}, policyTypes: ['Ingress'], ingress: [{ from: [{ podSelector: {} }] }] }));
      };
      await withPolicyAgents(cluster, { seed, enforcing: /NetworkPolicy enforced/ }, async (api, enforcing) => {

        const pods = new Map<string, SimPod>();
        for (const ns of ['x', 'y', 'z']) {
          for (const [name, node] of [['a', nodes[0]], ['b', nodes[1]]] as const) pods.set(`${ns}/${name}`, await addSimPod(cluster, api, node, `${ns}/${name}`, { pod: name }));
        }
        await Promise.all([...pods.values()].map((p) => serve(cluster, p.netns)));

        // The pairs, both families, grouped by source pod: one `watch` process per pod.
        interface Stream { from: string; to: string; family: 4 | 6; allowed: boolean; ok: number; failed: number; starts: number[]; wrong: number[] }
        const streams: Stream[] = [...DENIED.map(([from, to]) => ({ from, to, allowed: false })), ...ALLOWED.map(([from, to]) => ({ from, to, allowed: true }))]
          .flatMap((p) => ([4, 6] as const).map((family) => ({ ...p, family, ok: 0, failed: 0, starts: [], wrong: [] })));
        // Settled before probing starts: every invariant pair already has its verdict (the probes
        // that follow then test the churn and the restarts, not the start).
        await eventually(async () => {
          const answers = await Promise.all(streams.map(async (s) => {
            const to = pods.get(s.to)!;
            const { stdout } = await execIn(pods.get(s.from)!.netns, [process.execPath, PROBE, 'probe', JSON.stringify([{ to: s.family === 4 ? to.v4 : to.v6, proto: 'tcp', port: 80 }]), '700']);
            return (JSON.parse(stdout) as boolean[])[0] === s.allowed;
          }));
          return answers.every(Boolean);
        }, 20_000, 'every probed pair at its verdict before the churn');

        const watchers = [...pods.keys()].filter((from) => streams.some((s) => s.from === from)).map((from) => {
          const mine = streams.filter((s) => s.from === from);
          const probes = mine.map((s) => ({ to: s.family === 4 ? pods.get(s.to)!.v4 : pods.get(s.to)!.v6, proto: 'tcp', port: 80 }));
          const child = spawn('nsenter', [`--net=${pods.get(from)!.netns}`, '--', process.execPath, PROBE, 'watch', JSON.stringify(probes), String(PROBE_INTERVAL_MS), String(PROBE_TIMEOUT_MS)], { stdio: ['pipe', 'pipe', 'inherit'] });
          cluster.lab.track(child);
          let buffer = '';
          const ended = new Promise<void>((resolve, reject) => {
            child.stdout!.on('data', (d: Buffer) => {
              buffer += d;
              const lines = buffer.split('\n');
              buffer = lines.pop()!;
              for (const line of lines) {
                if (line === 'end') { resolve(); continue; }
                const [index, ok, start] = line.split(' ').map(Number) as [number, number, number];
                const s = mine[index]!;
                if (ok) s.ok += 1; else s.failed += 1;
                s.starts.push(start);
                if (Boolean(ok) !== s.allowed) s.wrong.push(start);
              }
            });
            child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`the prober in ${from} exited (${code})`))));
          });
          return { stop: () => child.stdin!.end(), ended };
        });

        // The churn. Each step is one change through the API; every state in between keeps the
        // invariants above. z's verdicts change all along; x and y change in ways that must not
        // show (a policy replaced by its equal, an allow-all isolation, labels no rule reads).
        const steps: [string, () => void][] = [
          ['z: deny all in and out', () => api.addObject('networkpolicies', np('z/deny-all', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] }))],
          ['y labelled team=blue', () => api.modifyObject('namespaces', 'y', (n) => void ((n.metadata as JsonObject).labels = { ...((n.metadata as JsonObject).labels as JsonObject), team: 'blue' }))],
          ['z admits namespaces team=blue', () => api.addObject('networkpolicies', np('z/from-blue', { podSelector: {}, policyTypes: ['Ingress'], ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'blue' } } }] }] }))],
          ['y isolated, admitting everything', () => api.addObject('networkpolicies', np('y/allow-all-in', { podSelector: {}, policyTypes: ['Ingress'], ingress: [{}] }))],
          ['x: an equal policy by other selectors added', () => api.addObject('networkpolicies', np('x/same-ns-only-v2', { podSelector: { matchExpressions: [{ key: 'pod', operator: 'Exists' }] }, policyTypes: ['Ingress'], ingress: [{ from: [{ podSelector: { matchExpressions: [{ key: 'pod', operator: 'Exists' }] } }] }] }))],
          ['x: the first policy deleted', () => api.deleteObject('networkpolicies', 'x/same-ns-only')],
          ['x/b labelled tier=front', () => api.modifyObject('pods', 'x/b', (p) => void ((p.metadata as JsonObject).labels = { pod: 'b', tier: 'front' }))],
          ['x: tier=front may send anywhere', () => api.addObject('networkpolicies', np('x/front-egress', { podSelector: { matchLabels: { tier: 'front' } }, policyTypes: ['Egress'], egress: [{}] }))],
          ['z: deny-all deleted', () => api.deleteObject('networkpolicies', 'z/deny-all')],
          ['z admits every namespace', () => api.modifyObject('networkpolicies', 'z/from-blue', (p) => void (p.spec = { podSelector: {}, policyTypes: ['Ingress'], ingress: [{ from: [{ namespaceSelector: {} }] }] }))],
          ['y unlabelled', () => api.modifyObject('namespaces', 'y', (n) => void ((n.metadata as JsonObject).labels = { 'kubernetes.io/metadata.name': 'y', ns: 'y' }))],
          ['y: admits every pod, by a second policy', () => api.addObject('networkpolicies', np('y/all-pods-in', { podSelector: {}, policyTypes: ['Ingress'], ingress: [{ from: [{ namespaceSelector: {} }] }] }))],
          ['y: the allow-all deleted', () => api.deleteObject('networkpolicies', 'y/allow-all-in')],
          ['x: tier=front may send to every pod', () => api.modifyObject('networkpolicies', 'x/front-egress', (p) => void (p.spec = { podSelector: { matchLabels: { tier: 'front' } }, policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: {} }] }] }))],
          ['z/a labelled role=client, z isolated again', () => {
            api.modifyObject('pods', 'z/a', (p) => void ((p.metadata as JsonObject).labels = { pod: 'a', role: 'client' }));
            api.addObject('networkpolicies', np('z/deny-all', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] }));
          }],
          ['x/b unlabelled: its egress policy selects nothing', () => api.modifyObject('pods', 'x/b', (p) => void ((p.metadata as JsonObject).labels = { pod: 'b' }))],
          ['z: egress to x allowed (x still refuses it)', () => api.addObject('networkpolicies', np('z/egress-to-x', { podSelector: {}, policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: { matchLabels: { ns: 'x' } } }] }] }))],
        ];
        /** Kill the agents of `nodes` right after step `at` (0-150 ms after it), start them again after step `until`. */
        const kills = [{ nodes: [nodes[1]], at: 3, until: 7 }, { nodes: [nodes[0]], at: 10, until: 12 }, { nodes, at: 13, until: 15 }];
        const downtimes: { agents: string; from: number; to: number }[] = [];
        const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
        await sleep(1000);
        const churnStart = Date.now();
        for (const [i, [what, apply]] of steps.entries()) {
          apply();
          process.stderr.write(`step ${i + 1}: ${what}\n`);
          const kill = kills.find((k) => k.at === i);
          if (kill) {
            await sleep(Math.floor(random() * 150));
            const agents = kill.nodes.map((n) => n.agent!);
            const exited = Promise.all(agents.map((agent) => new Promise((resolve) => agent.once('exit', resolve))));
            for (const agent of agents) agent.kill('SIGKILL');
            await exited;
            downtimes.push({ agents: kill.nodes.length > 1 ? 'both agents' : `${kill.nodes[0]!.name}'s agent`, from: Date.now(), to: 0 });
            process.stderr.write(`  ${downtimes.at(-1)!.agents} SIGKILLed\n`);
          }
          const restart = kills.find((k) => k.until === i);
          if (restart) {
            for (const node of restart.nodes) startKubeAgent(cluster, node, api);
            await Promise.all(restart.nodes.map(enforcing));
            downtimes.at(-1)!.to = Date.now();
            process.stderr.write(`  ${downtimes.at(-1)!.agents} restarted and enforcing\n`);
          }
          await sleep(STEP_MS);
        }
        await sleep(2000); // the last step reaches the kernels while the probes go on
        const churnEnd = Date.now();
        for (const w of watchers) w.stop();
        await Promise.all(watchers.map((w) => w.ended));

        // Every probe as the invariants say, and probes made all through the churn and the downtimes.
        const total = (f: (s: Stream) => number, allowed: boolean) => streams.filter((s) => s.allowed === allowed).reduce((n, s) => n + f(s), 0);
        const during = (s: Stream, from: number, to: number) => s.starts.filter((t) => t >= from && t <= to).length;
        const line = (allowed: boolean) => `${total((s) => s.ok + s.failed, allowed)} probes of ${streams.filter((s) => s.allowed === allowed).length} ${allowed ? 'allowed' : 'denied'} pair-families (${total((s) => s.ok, allowed)} connected, ${total((s) => s.failed, allowed)} not; ${total((s) => during(s, churnStart, churnEnd), allowed)} during the churn, ${downtimes.map((d) => `${total((s) => during(s, d.from, d.to), allowed)} while ${d.agents} ${d.agents === 'both agents' ? 'were' : 'was'} down`).join(', ')})`;
        process.stderr.write(`policy restart: ${line(false)}\npolicy restart: ${line(true)}\n`);
        const wrong = streams.filter((s) => s.wrong.length > 0).map((s) => `  ${s.from} -> ${s.to} (IPv${s.family}): ${s.wrong.length} of ${s.ok + s.failed} probes ${s.allowed ? 'failed' : 'connected'}, the first started at +${s.wrong[0]! - churnStart} ms of the churn (downtimes ${downtimes.map((d) => `${d.agents} +${d.from - churnStart}..+${d.to - churnStart} ms`).join(', ')})`);
        assert.deepEqual(wrong, [], `probes against the invariants:\n${wrong.join('\n')}`);
        for (const s of streams) {
          assert.ok(during(s, churnStart, churnEnd) >= 20, `${s.from} -> ${s.to} (IPv${s.family}): probed all through the churn`);
          for (const d of downtimes) assert.ok(during(s, d.from, d.to) >= 1, `${s.from} -> ${s.to} (IPv${s.family}): probed while ${d.agents} ${d.agents === 'both agents' ? 'were' : 'was'} down`);
        }

        // Each node's table holds exactly what the compiler makes of the final objects.
        const objects = {
          pods: api.objects('pods') as unknown as Pod[],
          namespaces: api.objects('namespaces') as unknown as Namespace[],
          policies: api.objects('networkpolicies') as unknown as NetworkPolicy[],
        };
        const ref = cluster.lab.netnsPath(await cluster.lab.addNamespace('polref'));
        for (const node of nodes) {
          const { table, errors } = compilePolicies({ ...objects, nodeName: node.name });
          assert.deepEqual(errors, []);
          await execIn(ref, ['nft', '-f', '-'], renderReplace(table));
          const expected = await canonicalPolicyListing(ref);
          await eventually(async () => JSON.stringify(await canonicalPolicyListing(node.path)) === JSON.stringify(expected), 10_000, `${node.name}'s table equal to the compiler's`)
            .catch(async () => assert.deepEqual(await canonicalPolicyListing(node.path), expected, `${node.name}'s table differs from a fresh load of the compiler's output`));
        }
      });
    }, { dualStack: true }));
});
