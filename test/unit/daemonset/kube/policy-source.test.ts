// daemonset/kube/policy-source.ts against the fake API server: Pods, Namespaces and
// NetworkPolicies listed in pages, slimmed, watched; only changes the compiler reads wake it.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createKubePolicySource } from '../../../../daemonset/kube/policy-source.ts';
import { slimPod } from '../../../../daemonset/kube/policy-objects.ts';
import { Metrics } from '../../../../daemonset/serve/metrics.ts';
import { startFakeApiServer, type JsonObject } from '../../../support/fake-apiserver.ts';
import { FakeClock } from '../../../fixtures/fake-clock.ts';
import { BACKOFF, captureLogger, waitFor } from '../../../fixtures/kube-kit.ts';

/** A Pod as kubelet and the scheduler leave it: most of it is of no interest to a policy. */
function kubeletPod(namespace: string, name: string, ip: string, labels: Record<string, string> = {}): JsonObject {
  return {
    kind: 'Pod', apiVersion: 'v1',
    metadata: { namespace, name, uid: `uid-${name}`, labels, annotations: { 'kubectl.kubernetes.io/restartedAt': 'x' }, managedFields: [{ manager: 'kubelet', fieldsV1: { 'f:status': {} } }] },
    spec: {
      nodeName: 'node-1',
      volumes: [{ name: 'token', projected: { sources: [] } }],
      containers: [{ name: 'web', image: 'nginx', ports: [{ name: 'http', containerPort: 80 }, { containerPort: 9000 }, { name: 'dns', containerPort: 53, protocol: 'UDP' }], env: [{ name: 'A', value: 'b' }] }],
    },
    status: { phase: 'Running', podIP: ip, podIPs: [{ ip }], conditions: [{ type: 'Ready', status: 'True' }], containerStatuses: [{ name: 'web', ready: true, restartCount: 0 }] },
  };
}

describe('policy source', () => {
  test('slimPod keeps what the compiler reads and nothing else', () => {
    assert.deepEqual(slimPod({ ...kubeletPod('x', 'a', '10.244.1.5', { app: 'a' }), metadata: { ...(kubeletPod('x', 'a', '10.244.1.5', { app: 'a' }).metadata as JsonObject), resourceVersion: '7' } }), {
      metadata: { namespace: 'x', name: 'a', resourceVersion: '7', labels: { app: 'a' } },
      spec: { nodeName: 'node-1', containers: [{ ports: [{ name: 'http', containerPort: 80 }, { name: 'dns', containerPort: 53, protocol: 'UDP' }] }] },
      status: { phase: 'Running', podIPs: [{ ip: '10.244.1.5' }] },
    });
    assert.deepEqual(slimPod({ metadata: { namespace: 'x', name: 'h' }, spec: { hostNetwork: true }, status: { podIP: '192.168.50.10' } }).spec, { hostNetwork: true });
  });

  test('lists every kind in pages (relisting on an expired continue token), watches, and wakes only on what the compiler reads', async () => {
    const server = await startFakeApiServer();
    for (let i = 0; i < 600; i++) server.addObject('pods', kubeletPod(`ns${i % 3}`, `p${i}`, `10.244.${i >> 8}.${i & 255}`, { app: `a${i % 5}` }));
    server.addObject('namespaces', { kind: 'Namespace', apiVersion: 'v1', metadata: { name: 'ns0', labels: { team: 'x' } }, status: { phase: 'Active' } });
    server.addObject('networkpolicies', { kind: 'NetworkPolicy', apiVersion: 'networking.k8s.io/v1', metadata: { namespace: 'ns0', name: 'deny', annotations: { a: 'b' } }, spec: { podSelector: {}, policyTypes: ['Ingress'] } });
    server.expireContinues(1);
    const log = captureLogger();
    let changes = 0;
    const source = createKubePolicySource({ kubeconfig: server.kubeconfig, log, metrics: new Metrics(), clock: new FakeClock(), backoff: BACKOFF, onChange: () => changes++ });
    try {
      assert.equal(source.synced(), false);
      source.start();
      await waitFor('every kind listed', () => source.synced() && source.connected());
      const podLists = server.requests.filter((r) => r.path === '/api/v1/pods' && r.query.watch !== 'true').map((r) => (r.query.continue ? 'continue' : 'first'));
      assert.deepEqual(podLists, ['first', 'continue', 'first', 'continue', 'continue', 'continue', 'continue', 'continue'], 'pages of 100; the expired page restarts the list');
      const objects = source.objects();
      assert.equal(objects.pods.length, 600);
      const stored = server.object('namespaces', 'ns0')!.metadata as JsonObject;
      assert.deepEqual(objects.namespaces.map((n) => n.metadata), [{ name: 'ns0', resourceVersion: stored.resourceVersion, labels: { team: 'x' } }], 'labels kept, status dropped');
      assert.deepEqual(objects.policies[0]!.spec, { podSelector: {}, policyTypes: ['Ingress'] });
      assert.equal(JSON.stringify(objects.policies[0]!.metadata).includes('annotations'), false);
      for (const r of ['pods', 'namespaces', 'networkpolicies']) assert.ok(server.requests.some((q) => q.query.watch === 'true' && q.path.endsWith(r) && q.query.allowWatchBookmarks === 'true'), r);

      const before = changes;
      // kubelet's status update: a new resourceVersion, nothing the compiler reads.
      server.modifyObject('pods', 'ns0/p0', (p) => ((p.status as JsonObject).conditions = [{ type: 'Ready', status: 'False' }]));
      server.modifyObject('pods', 'ns0/p3', (p) => ((p.metadata as JsonObject).labels = { app: 'new' }));
      await waitFor('label change', () => source.objects().pods.some((p) => p.metadata.name === 'p3' && p.metadata.labels?.app === 'new'));
      assert.equal(changes, before + 1, 'the status update woke nothing, the label change did');
      server.deleteObject('networkpolicies', 'ns0/deny');
      await waitFor('policy deleted', () => source.objects().policies.length === 0);
      assert.equal(changes, before + 2);
    } finally {
      source.stop();
      await server.close();
    }
  });

  test('the API server going away keeps the last view (synced, not connected) until it is back', async () => {
    const server = await startFakeApiServer();
    server.addObject('pods', kubeletPod('x', 'a', '10.244.1.5'));
    const clock = new FakeClock();
    const source = createKubePolicySource({ kubeconfig: server.kubeconfig, log: captureLogger(), metrics: new Metrics(), clock, backoff: BACKOFF, onChange: () => {} });
    try {
      source.start();
      await waitFor('listed', () => source.connected());
      await server.down();
      await waitFor('disconnected', () => !source.connected());
      assert.equal(source.synced(), true, 'the last complete view stays usable');
      assert.equal(source.objects().pods.length, 1);
    } finally {
      source.stop();
      await server.close();
    }
  });
});
