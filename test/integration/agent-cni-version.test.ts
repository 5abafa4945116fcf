// The real agent in Kubernetes mode against the fake API server: the conflist's cniVersion comes
// from its own Node's status.nodeInfo.containerRuntimeVersion, follows a runtime upgrade, and a
// version the runtime provably cannot speak is reported everywhere instead of claimed ready.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { skipUnlessAgent } from './harness.ts';
import { eventually, withCluster, type SimCluster, type SimNode } from '../support/cluster.ts';
import { withKubeAgent as runKubeAgent } from '../fixtures/kube-agent.ts';
import { makeNode, startFakeApiServer, type FakeApiServer, type JsonObject } from '../support/fake-apiserver.ts';

const skip = skipUnlessAgent;

const condition = (node: JsonObject | undefined, type: string) =>
  ((node?.status as JsonObject)?.conditions as JsonObject[] | undefined)?.find((c) => c.type === type);

const cniVersionOf = (node: SimNode) => (fs.existsSync(node.conflistPath) ? JSON.parse(fs.readFileSync(node.conflistPath, 'utf8')).cniVersion : undefined);

/** Runs fn with node-0's agent in Kubernetes mode against a fake API server holding both nodes. */
async function withKubeAgent(runtime: string, extra: string[], fn: (ctx: { cluster: SimCluster; a: SimNode; api: FakeApiServer }) => Promise<void>) {
  await withCluster(2, async (cluster) => {
    const [a, b] = cluster.nodes as [SimNode, SimNode];
    const api = await startFakeApiServer([
      makeNode({ name: a.name, podCIDR: a.podCIDR, internalIP: a.eth1IP, containerRuntimeVersion: runtime }),
      makeNode({ name: b.name, podCIDR: b.podCIDR, internalIP: b.eth1IP, containerRuntimeVersion: runtime }),
    ]);
    await runKubeAgent(cluster, a, api, extra, () => fn({ cluster, a, api }));
  });
}

describe('node agent: the conflist\'s cniVersion from the Node\'s runtime', { skip }, () => {
  test('containerd 1.6.20 gets 1.0.0; an upgrade to containerd 2.0.1 rewrites it to 1.1.0; no spurious wait warning at start', () =>
    withKubeAgent('containerd://1.6.20', [], async ({ cluster, a, api }) => {
      const ready = await eventually(async () => {
        const r = await cluster.health(a, '/readyz');
        return r.status === 200 ? r : undefined;
      }, 20_000, 'ready');
      assert.equal(cniVersionOf(a), '1.0.0');
      assert.match(ready.body, /^conflist cniVersion 1\.0\.0 \(runtime: containerd:\/\/1\.6\.20 speaks CNI up to 1\.0\.0\)$/m);
      assert.match((await cluster.health(a, '/metrics')).body, /^bridgeway_conflist_info\{cni_version="1\.0\.0",source="runtime"\} 1$/m);
      assert.match(a.agentLog, /"msg":"conflist cniVersion 1\.0\.0: containerd:\/\/1\.6\.20 speaks CNI up to 1\.0\.0"/);
      // Issue 12 item 3: the agent publishes its annotation before the informer has listed; that is not a wait.
      assert.doesNotMatch(a.agentLog, /waiting: node node-0 is not in the node list yet/);
      assert.equal(condition(api.node(a.name), 'NetworkUnavailable')?.status, 'False');

      api.modifyNode(a.name, (n) => {
        ((n.status as JsonObject).nodeInfo as JsonObject).containerRuntimeVersion = 'containerd://2.0.1';
      });
      await eventually(async () => cniVersionOf(a) === '1.1.0', 15_000, 'the conflist rewritten for containerd 2.0.1');
      await eventually(async () => /^bridgeway_conflist_info\{cni_version="1\.1\.0",source="runtime"\} 1$/m.test((await cluster.health(a, '/metrics')).body), 5000, 'the metric label');
      assert.match(a.agentLog, /"msg":"conflist cniVersion 1\.1\.0: containerd:\/\/2\.0\.1 speaks CNI up to 1\.1\.0"/);
      assert.equal((await cluster.health(a, '/readyz')).status, 200);
    }));

  test('an explicit --cni-version 1.1.0 on containerd 1.6.20: not ready with the reason, NetworkUnavailable True, one Warning event, a metric', () =>
    withKubeAgent('containerd://1.6.20', ['--cni-version', '1.1.0'], async ({ cluster, a, api }) => {
      const notReady = await eventually(async () => {
        const r = await cluster.health(a, '/readyz');
        return r.status === 503 && /is newer than/.test(r.body) ? r : undefined;
      }, 20_000, '/readyz to report the mismatch');
      assert.match(notReady.body, /^not ready: the conflist's cniVersion 1\.1\.0 \(--cni-version 1\.1\.0\) is newer than containerd:\/\/1\.6\.20 speaks \(up to 1\.0\.0\)/);
      assert.equal(cniVersionOf(a), '1.1.0', 'the explicit version wins');
      const unavailable = await eventually(async () => condition(api.node(a.name), 'NetworkUnavailable'), 10_000, 'the condition');
      assert.equal(unavailable.status, 'True');
      assert.match(String(unavailable.message), /newer than containerd:\/\/1\.6\.20 speaks/);
      assert.match((await cluster.health(a, '/metrics')).body, /^bridgeway_conflist_runtime_mismatch 1$/m);
      // Two full syncs later (each one reports the mismatch again) there is still exactly one event.
      await cluster.moreSyncs(a, 2);
      const events = api.events();
      assert.equal(events.length, 1, JSON.stringify(events));
      const [event] = events as [JsonObject];
      assert.equal(event.type, 'Warning');
      assert.equal(event.reason, 'CNIVersionUnsupported');
      assert.deepEqual([(event.involvedObject as JsonObject).kind, (event.involvedObject as JsonObject).name], ['Node', a.name]);
      assert.equal((event.metadata as JsonObject).namespace, 'default');

      // The runtime is upgraded: the same flag is fine now, and the node says so.
      api.modifyNode(a.name, (n) => {
        ((n.status as JsonObject).nodeInfo as JsonObject).containerRuntimeVersion = 'containerd://2.0.1';
      });
      await eventually(async () => (await cluster.health(a, '/readyz')).status === 200, 15_000, 'ready after the upgrade');
      await eventually(async () => condition(api.node(a.name), 'NetworkUnavailable')?.status === 'False', 10_000, 'NetworkUnavailable False');
    }));
});
