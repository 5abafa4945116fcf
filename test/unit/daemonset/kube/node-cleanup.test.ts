// daemonset/kube/node-cleanup.ts: uninstall removes from its Node what the agent put there (the
// eth1 annotations, its NetworkUnavailable condition) and nothing else, against the fake API
// server, which applies merge patches and the strategic `$patch: delete` as kube-apiserver does.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createNodeCleanup, nodeMarks } from '../../../../daemonset/kube/node-cleanup.ts';
import { makeNode, startFakeApiServer, type FakeApiServer, type JsonObject } from '../../../support/fake-apiserver.ts';
import { captureLogger } from '../../../fixtures/kube-kit.ts';
import { ETH1_ANNOTATION, ETH1_IPV6_ANNOTATION } from '../../../../lib/names.ts';

const READY = { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status' };
const OURS = { type: 'NetworkUnavailable', status: 'False', reason: 'BridgewayIsUp', message: 'bridgeway routes and rules are in place' };

async function withNode(node: JsonObject, body: (server: FakeApiServer, cleanup: ReturnType<typeof createNodeCleanup>) => Promise<void>): Promise<void> {
  const server = await startFakeApiServer([node]);
  try {
    await body(server, createNodeCleanup({ kubeconfig: server.kubeconfig, log: captureLogger() }));
  } finally {
    await server.close();
  }
}
const patches = (server: FakeApiServer) => server.requests.filter((r) => r.method === 'PATCH');
const conditionsOf = (server: FakeApiServer) => (server.node('a')!.status as JsonObject).conditions as JsonObject[];

describe('uninstall: the Node object', () => {
  test('our annotations and condition go, in two patches; other annotations and kubelet\'s conditions stay', async () => {
    const node = makeNode({
      name: 'a',
      annotations: { [ETH1_ANNOTATION]: '192.168.50.10', [ETH1_IPV6_ANNOTATION]: 'fd00:50::10', 'other.io/keep': 'yes' },
      conditions: [OURS, READY],
    });
    await withNode(node, async (server, cleanup) => {
      const said = await cleanup.removeMarks('a');
      assert.equal(said, `node a: removed the annotations ${ETH1_ANNOTATION}, ${ETH1_IPV6_ANNOTATION}; removed its NetworkUnavailable condition`);
      assert.deepEqual((server.node('a')!.metadata as JsonObject).annotations, { 'other.io/keep': 'yes' });
      assert.deepEqual(conditionsOf(server), [READY]);
      assert.deepEqual(patches(server).map((p) => [p.path, p.contentType, p.body]), [
        ['/api/v1/nodes/a', 'application/merge-patch+json', { metadata: { annotations: { [ETH1_ANNOTATION]: null, [ETH1_IPV6_ANNOTATION]: null } } }],
        ['/api/v1/nodes/a/status', 'application/strategic-merge-patch+json', { status: { conditions: [{ type: 'NetworkUnavailable', $patch: 'delete' }] } }],
      ]);
      assert.equal(await cleanup.removeMarks('a'), 'node a: no eth1 annotation of ours; no NetworkUnavailable condition', 'a second run finds nothing');
      assert.equal(patches(server).length, 2, 'and writes nothing');
    });
  });

  test('a NetworkUnavailable condition another plugin set is left, and said so', async () => {
    const flannel = { type: 'NetworkUnavailable', status: 'False', reason: 'FlannelIsUp', message: 'Flannel is running on this node' };
    await withNode(makeNode({ name: 'a', annotations: { [ETH1_ANNOTATION]: '192.168.50.10' }, conditions: [flannel, READY] }), async (server, cleanup) => {
      assert.equal(await cleanup.removeMarks('a'), `node a: removed the annotation ${ETH1_ANNOTATION}; left the NetworkUnavailable condition: its reason "FlannelIsUp" is not one of ours`);
      assert.deepEqual(conditionsOf(server), [flannel, READY]);
    });
  });

  test('a failure names the Node and the API server\'s reason', async () => {
    await withNode(makeNode({ name: 'a' }), async (_server, cleanup) => {
      await assert.rejects(cleanup.removeMarks('gone'), /^Error: reading node gone: 404 nodes "gone" not found$/);
    });
  });

  test('pure: which marks are ours', () => {
    const v1 = (annotations: Record<string, string>, reason?: string) => ({ metadata: { annotations }, status: { conditions: reason ? [{ type: 'NetworkUnavailable', status: 'True', reason }] : [] } }) as never;
    assert.deepEqual(nodeMarks(v1({ 'x.io/y': '1' })), { annotations: [], condition: undefined });
    const down = nodeMarks(v1({ [ETH1_IPV6_ANNOTATION]: 'fd00:50::10' }, 'BridgewayIsDown'));
    assert.deepEqual(down.annotations, [ETH1_IPV6_ANNOTATION]);
    assert.deepEqual(down.condition, { ours: true });
    assert.ok(down.statusPatch && down.metadataPatch);
    assert.deepEqual(nodeMarks(v1({}, 'CalicoIsDown')).condition, { ours: false, reason: 'CalicoIsDown' });
    assert.equal(nodeMarks(v1({}, 'CalicoIsDown')).statusPatch, undefined);
  });
});
