// daemonset/kube/status.ts against a fake API server: the writes the agent makes about its own
// Node (annotation, NetworkUnavailable condition, Events), what they send, and how they fail.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createKubeNodeApi } from '../../../../daemonset/kube/status.ts';
import { makeNode, startFakeApiServer, type FakeApiServer, type JsonObject } from '../../../support/fake-apiserver.ts';
import { captureLogger, type CapturingLogger } from '../../../fixtures/kube-kit.ts';
import { ETH1_ANNOTATION, ETH1_IPV6_ANNOTATION } from '../../../../lib/names.ts';

/** 2026-12-02T03:00:00.250Z: the fraction must not reach the API (whole seconds). */
const NOW = Date.UTC(2026, 11, 2, 3, 0, 0, 250);

async function withApi(body: (server: FakeApiServer, api: ReturnType<typeof createKubeNodeApi>, log: CapturingLogger) => Promise<void>): Promise<void> {
  const server = await startFakeApiServer([makeNode({ name: 'a', annotations: { 'other.io/keep': 'yes' } })]);
  const log = captureLogger();
  try {
    await body(server, createKubeNodeApi({ kubeconfig: server.kubeconfig, log, clock: { now: () => NOW } }), log);
  } finally {
    await server.close();
  }
}
const patches = (server: FakeApiServer) => server.requests.filter((r) => r.method === 'PATCH');

describe('node api', () => {
  test('publishEth1Address: a JSON merge patch of one annotation, skipped when already there', async () => {
    await withApi(async (server, api) => {
      await api.publishEth1Address('a', '192.168.50.11');
      assert.deepEqual(patches(server), [
        {
          method: 'PATCH',
          path: '/api/v1/nodes/a',
          query: {},
          contentType: 'application/merge-patch+json',
          body: { metadata: { annotations: { [ETH1_ANNOTATION]: '192.168.50.11' } } },
        },
      ]);
      assert.deepEqual((server.node('a')!.metadata as JsonObject).annotations, { 'other.io/keep': 'yes', [ETH1_ANNOTATION]: '192.168.50.11' });
      await api.publishEth1Address('a', '192.168.50.11');
      assert.equal(patches(server).length, 1, 'unchanged: no patch');
      await api.publishEth1Address('a', '192.168.50.99');
      assert.equal(patches(server).length, 2);
      assert.equal(((server.node('a')!.metadata as JsonObject).annotations as JsonObject)[ETH1_ANNOTATION], '192.168.50.99');
    });
  });

  test('publishEth1Address of the IPv6 address: its own annotation, the IPv4 one untouched', async () => {
    await withApi(async (server, api) => {
      await api.publishEth1Address('a', '192.168.50.11');
      await api.publishEth1Address('a', 'fd00:50::11', ETH1_IPV6_ANNOTATION);
      assert.deepEqual(patches(server).at(-1)!.body, { metadata: { annotations: { [ETH1_IPV6_ANNOTATION]: 'fd00:50::11' } } });
      assert.deepEqual((server.node('a')!.metadata as JsonObject).annotations, { 'other.io/keep': 'yes', [ETH1_ANNOTATION]: '192.168.50.11', [ETH1_IPV6_ANNOTATION]: 'fd00:50::11' });
      await api.publishEth1Address('a', 'fd00:50::11', ETH1_IPV6_ANNOTATION);
      assert.equal(patches(server).length, 2, 'unchanged: no patch');
    });
  });

  test('setNetworkUnavailable: a strategic merge patch of the status subresource that keeps the other conditions', async () => {
    await withApi(async (server, api) => {
      await api.setNetworkUnavailable('a', false, 'bridgeway is running');
      const [first] = patches(server);
      assert.equal(first!.path, '/api/v1/nodes/a/status');
      assert.equal(first!.contentType, 'application/strategic-merge-patch+json');
      const sent = ((first!.body as JsonObject).status as JsonObject).conditions as JsonObject[];
      assert.equal(sent.length, 1);
      const { lastTransitionTime, lastHeartbeatTime, ...rest } = sent[0]!;
      assert.deepEqual(rest, { type: 'NetworkUnavailable', status: 'False', reason: 'BridgewayIsUp', message: 'bridgeway is running' });
      assert.equal(lastTransitionTime, '2026-12-02T03:00:00Z', 'the clock\'s time, in whole seconds');
      assert.equal(lastHeartbeatTime, lastTransitionTime);
      const conditions = () => (server.node('a')!.status as JsonObject).conditions as JsonObject[];
      assert.deepEqual(conditions().map((c) => `${c.type}=${c.status}`), ['Ready=True', 'NetworkUnavailable=False']);

      await api.setNetworkUnavailable('a', false, 'bridgeway is running');
      assert.equal(patches(server).length, 1, 'unchanged: no patch');

      await api.setNetworkUnavailable('a', false, 'still running');
      const kept = (((patches(server)[1]!.body as JsonObject).status as JsonObject).conditions as JsonObject[])[0]!;
      assert.equal(kept.lastTransitionTime, lastTransitionTime, 'same status: the transition time stays');

      await api.setNetworkUnavailable('a', true, 'no podCIDR yet');
      assert.equal(patches(server).length, 3);
      assert.deepEqual(
        conditions().map((c) => `${c.type}=${c.status}/${c.reason ?? ''}`),
        ['Ready=True/KubeletReady', 'NetworkUnavailable=True/BridgewayIsDown'],
      );
    });
  });

  test('recordNodeEvent: a core/v1 Event about the Node, in namespace default, from bridgeway-agent', async () => {
    await withApi(async (server, api, log) => {
      const message = 'the conflist says cniVersion 1.1.0; containerd://1.7.22 speaks up to 1.0.0';
      await api.recordNodeEvent('a', { type: 'Warning', reason: 'CNIVersionUnsupported', message });
      const posts = server.requests.filter((r) => r.method === 'POST');
      assert.deepEqual(posts.map((r) => [r.path, r.contentType]), [['/api/v1/namespaces/default/events', 'application/json']]);
      assert.deepEqual(posts[0]!.body, {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { generateName: 'a.', namespace: 'default' },
        involvedObject: { apiVersion: 'v1', kind: 'Node', name: 'a', uid: 'a' },
        type: 'Warning',
        reason: 'CNIVersionUnsupported',
        message,
        source: { component: 'bridgeway-agent', host: 'a' },
        firstTimestamp: '2026-12-02T03:00:00Z',
        lastTimestamp: '2026-12-02T03:00:00Z',
        count: 1,
      });
      const [stored] = server.events();
      assert.match(String((stored!.metadata as JsonObject).name), /^a\.\w+$/, 'the server completed the name');
      assert.ok(log.entries.some((e) => e.level === 'info' && e.msg === 'recorded a Node event' && (e.obj as { reason?: string }).reason === 'CNIVersionUnsupported'));

      await api.recordNodeEvent('a', { type: 'Normal', reason: 'CNIVersionChosen', message: 'cniVersion 1.0.0' });
      assert.deepEqual(server.events().map((e) => `${e.type}/${e.reason}`), ['Warning/CNIVersionUnsupported', 'Normal/CNIVersionChosen'], 'each call is one Event');
      assert.equal(patches(server).length, 0, 'the Node itself is not touched');
    });
  });

  test('API errors reject with a short message and crash nothing', async () => {
    await withApi(async (server, api) => {
      await assert.rejects(api.publishEth1Address('missing', '192.168.50.1'), /publishing bridgeway.io\/eth1-ip on node missing: 404 nodes "missing" not found/);
      // The kept connection the server just cut fails as "socket hang up"; the request is sent
      // again on a new connection, which is refused.
      await server.down();
      await assert.rejects(api.setNetworkUnavailable('a', false, 'x'), /setting NetworkUnavailable on node a: .*ECONNREFUSED/);
      await assert.rejects(api.recordNodeEvent('a', { type: 'Warning', reason: 'Test', message: 'x' }), /recording event Test on node a: .*ECONNREFUSED/);
    });
  });
});
