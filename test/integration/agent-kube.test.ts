// The real agent executable in Kubernetes mode on a simulated node, against the fake API server.
// The node's namespace cannot reach this process's loopback, so the API server's port is relayed
// into it (test/support/api-relay.ts).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { skipUnlessAgent } from './harness.ts';
import { eventually, withCluster, type SimNode } from '../support/cluster.ts';
import { withKubeAgent } from '../fixtures/kube-agent.ts';
import { makeNode, startFakeApiServer, type JsonObject } from '../support/fake-apiserver.ts';

const skip = skipUnlessAgent;

const condition = (node: JsonObject | undefined, type: string) =>
  ((node?.status as JsonObject)?.conditions as JsonObject[] | undefined)?.find((c) => c.type === type);

describe('node agent in Kubernetes mode', { skip }, () => {
  test('publishes its eth1 address, waits for its podCIDR, routes from watch events, sets NetworkUnavailable=False, survives the API server going away', () =>
    withCluster(2, async (cluster) => {
      const [a, b] = cluster.nodes as [SimNode, SimNode];
      // node-0 has no podCIDR yet; node-1 is known only by its InternalIP (no annotation).
      const api = await startFakeApiServer([
        makeNode({ name: a.name, internalIP: a.eth1IP }),
        makeNode({ name: b.name, podCIDR: b.podCIDR, internalIP: b.eth1IP }),
      ]);
      await withKubeAgent(cluster, a, api, [], async () => {

        await eventually(async () => (api.node(a.name)?.metadata as JsonObject)?.annotations && ((api.node(a.name)!.metadata as JsonObject).annotations as JsonObject)['bridgeway.io/eth1-ip'] === a.eth1IP, 15_000, 'eth1 annotation');
        const waiting = await cluster.health(a, '/readyz');
        assert.equal(waiting.status, 503);
        assert.match(waiting.body, /no IPv4 podCIDR yet/);
        assert.ok(!fs.existsSync(a.conflistPath));

        api.modifyNode(a.name, (n) => {
          n.spec = { podCIDR: a.podCIDR!, podCIDRs: [a.podCIDR!] };
        });
        await eventually(async () => (await cluster.health(a, '/readyz')).status === 200, 15_000, 'ready after podCIDR');
        assert.deepEqual(await a.agentRoutes(), [`${b.podCIDR} via ${b.eth1IP}`], 'peer routed via its InternalIP');
        const unavailable = condition(api.node(a.name), 'NetworkUnavailable');
        assert.equal(unavailable?.status, 'False');
        assert.equal(condition(api.node(a.name), 'Ready')?.status, 'True', 'kubelet\'s Ready condition survived the patch');
        const statusPatch = api.requests.find((r) => r.method === 'PATCH' && r.path.endsWith('/status'));
        assert.equal(statusPatch?.contentType, 'application/strategic-merge-patch+json');

        // A new node: routed via its annotation, on the watch event (the resync is 1 s; the
        // event path is what the ordering of these checks exercises).
        api.addNode(makeNode({ name: 'node-9', podCIDR: '10.244.9.0/24', internalIP: '10.1.1.1', annotations: { 'bridgeway.io/eth1-ip': '192.168.50.19' } }));
        await eventually(async () => (await a.agentRoutes()).includes('10.244.9.0/24 via 192.168.50.19'), 10_000, 'route to the added node');
        api.deleteNode(b.name);
        await eventually(async () => !(await a.agentRoutes()).some((r) => r.startsWith(b.podCIDR!)), 10_000, 'route of the deleted node removed');

        // The API server goes away: routes stay, readiness says why; changes made meanwhile arrive.
        await api.down();
        await eventually(async () => (await cluster.health(a, '/readyz')).status === 503, 15_000, 'not ready while the API is down');
        assert.deepEqual(await a.agentRoutes(), ['10.244.9.0/24 via 192.168.50.19']);
        api.modifyNode('node-9', (n) => {
          ((n.metadata as JsonObject).annotations as JsonObject)['bridgeway.io/eth1-ip'] = '192.168.50.29';
        });
        await api.up();
        await eventually(async () => (await a.agentRoutes()).includes('10.244.9.0/24 via 192.168.50.29'), 20_000, 'change made during the outage');
        await eventually(async () => (await cluster.health(a, '/readyz')).status === 200, 20_000, 'ready again');
        assert.match((await cluster.health(a, '/metrics')).body, /^bridgeway_informer_restarts_total \d+$/m);
      });
    }));

  // The informer and the status writes over node:https on Bun (daemonset/kube/http.ts), with each
  // way a kubeconfig authenticates: the CA from the kubeconfig, a bearer token, a client certificate.
  for (const auth of ['token', 'client-certificate'] as const) {
    test(`over HTTPS with a ${auth === 'token' ? 'bearer token' : 'client certificate'}: lists, publishes, routes, and follows a watch event`, () =>
      withCluster(2, async (cluster) => {
        const [a, b] = cluster.nodes as [SimNode, SimNode];
        const api = await startFakeApiServer([
          makeNode({ name: a.name, podCIDR: a.podCIDR, internalIP: a.eth1IP }),
          makeNode({ name: b.name, podCIDR: b.podCIDR, internalIP: b.eth1IP }),
        ], { tls: { auth } });
        await withKubeAgent(cluster, a, api, [], async () => {
          await eventually(async () => (await cluster.health(a, '/readyz')).status === 200, 15_000, 'ready');
          assert.deepEqual(await a.agentRoutes(), [`${b.podCIDR} via ${b.eth1IP}`]);
          assert.equal(((api.node(a.name)!.metadata as JsonObject).annotations as JsonObject)['bridgeway.io/eth1-ip'], a.eth1IP, 'published over HTTPS');
          api.modifyNode(b.name, (n) => {
            (n.metadata as JsonObject).annotations = { 'bridgeway.io/eth1-ip': '192.168.50.77' };
          });
          await eventually(async () => (await a.agentRoutes()).includes(`${b.podCIDR} via 192.168.50.77`), 10_000, 'route from the watch event');
        });
      }));
  }
});
