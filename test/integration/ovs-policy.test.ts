// Issue 21, NetworkPolicy on Open vSwitch: a simulated two-node dual-stack cluster on OVS bridges
// (test/support/ovs.ts, userspace datapath), the real agents in Kubernetes mode against the fake
// API server (policy-sim.ts). OVS switches frames between two pods of one node itself, past every
// netfilter hook; the agent's OpenFlow flows (daemonset/ovs/steering.ts) steer them through the
// node, where the policy table judges them as routed traffic. A deny-all-ingress policy on one pod
// blocks a same-node peer and a cross-node peer in both families; an allow rule then lets the
// named same-node peer through and no other; flows deleted behind the agent's back come back at
// its next sync and the policy still holds.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { skipUnlessAgent } from './harness.ts';
import { eventually, withCluster, type SimNode } from '../support/cluster.ts';
import { ovsMissing } from '../support/ovs.ts';
import { type JsonObject } from '../support/fake-apiserver.ts';
import { DEFAULT_BRIDGE } from '../../lib/names.ts';
import { addSimPod, namespaceObject, serve, startProber, type Prober, type SimPod, withPolicyAgents } from './policy-sim.ts';

const NS = 'ovsp';
const PORT = 80;
const PROBE_TIMEOUT_MS = 700;

function policy(ingress: JsonObject[] | undefined): JsonObject {
  return {
    kind: 'NetworkPolicy', apiVersion: 'networking.k8s.io/v1',
    metadata: { namespace: NS, name: 'guard-t' },
    spec: { podSelector: { matchLabels: { app: 't' } }, policyTypes: ['Ingress'], ...(ingress && { ingress }) },
  };
}

describe('NetworkPolicy on Open vSwitch (simulated cluster, fake API server)', { skip: skipUnlessAgent || ovsMissing }, () => {
  test('deny-all ingress blocks same-node and cross-node peers, both families; an allow rule lets the named same-node peer through', { timeout: 120_000 }, () =>
    withCluster(2, async (cluster) => {
      const nodes = cluster.nodes as [SimNode, SimNode];
      const probers: Prober[] = [];
      await withPolicyAgents(cluster, { seed: (api) => api.addObject('namespaces', namespaceObject(NS)), logTail: 4000 }, async (api) => {
        // t is guarded; p and q share its node (and its OVS bridge), r is on the other node.
        const [n0, n1] = nodes;
        const t = await addSimPod(cluster, api, n0, `${NS}/t`, { app: 't' });
        const p = await addSimPod(cluster, api, n0, `${NS}/p`, { app: 'p' });
        const q = await addSimPod(cluster, api, n0, `${NS}/q`, { app: 'q' });
        const r = await addSimPod(cluster, api, n1, `${NS}/r`, { app: 'r' });
        await serve(cluster, t.netns);
        const peers = [p, q, r];
        const byPeer = new Map<SimPod, Prober>();
        for (const peer of peers) {
          const prober = await startProber(cluster, peer.netns);
          probers.push(prober);
          byPeer.set(peer, prober);
        }
        // The bridge came with the first pod: the agent's steering flows follow it, and only then
        // does /readyz say that same-node traffic is judged.
        await eventually(async () => (await n0.ovs!.ourFlows(DEFAULT_BRIDGE)).length === 5, 10_000, 'the steering flows on node-0');
        await eventually(async () => {
          const body = (await cluster.health(n0, '/readyz')).body;
          return /^NetworkPolicy enforced: /m.test(body) && !/Open vSwitch bridge bypasses/.test(body);
        }, 10_000, 'node-0 says NetworkPolicy is enforced on its OVS bridge');

        /** Who reaches t on TCP 80, per family: "p4 p6 q4 ...". */
        const reach = async (): Promise<string> => {
          const seen: string[] = [];
          for (const peer of peers) {
            const [v4, v6] = await byPeer.get(peer)!.probe([{ to: t.v4, proto: 'tcp', port: PORT }, { to: t.v6, proto: 'tcp', port: PORT }], PROBE_TIMEOUT_MS);
            const name = peer.ref.split('/')[1]!;
            if (v4) seen.push(`${name}4`);
            if (v6) seen.push(`${name}6`);
          }
          return seen.join(' ');
        };
        const settle = (want: string, what: string) => eventually(async () => (await reach()) === want, 15_000, what).catch(async (error: Error) => {
          throw new Error(`${error.message}: reached by "${await reach()}", want "${want}"`);
        });

        await settle('p4 p6 q4 q6 r4 r6', 'every peer reaches t before any policy');
        api.addObject('networkpolicies', policy(undefined));
        await settle('', 'deny-all ingress: neither the same-node peers (through the node, by the flows) nor the cross-node peer reach t');
        assert.match((await cluster.health(n0, '/readyz')).body, /NetworkPolicy enforced: 1 policies, this node's pods isolated 1 ingress/);

        api.modifyObject('networkpolicies', `${NS}/guard-t`, (object) => void ((object.spec as JsonObject).ingress = [{ from: [{ podSelector: { matchLabels: { app: 'p' } } }] }]));
        await settle('p4 p6', 'allow from app=p: the named same-node peer only, both families');

        // Our flows removed behind the agent's back (as an ovs-vswitchd restart would): the next
        // sync (--resync 1s) puts them back, and q stays denied.
        await n0.ovs!.ofctl(['del-flows', DEFAULT_BRIDGE, 'cookie=0x6272777900000000/0xffffffff00000000']);
        await eventually(async () => (await n0.ovs!.ourFlows(DEFAULT_BRIDGE)).length === 5, 10_000, 'the agent restoring its flows');
        await settle('p4 p6', 'still only p once the flows are back');

        api.deleteObject('networkpolicies', `${NS}/guard-t`);
        await settle('p4 p6 q4 q6 r4 r6', 'the policy gone: everyone again');
      }).finally(() => {
        for (const prober of probers) prober.close();
      });
    }, { dualStack: true, bridge: 'ovs' }));
});
