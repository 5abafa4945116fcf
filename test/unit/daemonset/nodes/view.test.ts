// daemonset/nodes/view.ts and changedNodes (nodes/peers.ts): which node updates count as changes.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { changedNodes, type ClusterNode } from '../../../../daemonset/nodes/peers.ts';
import { NodeView } from '../../../../daemonset/nodes/view.ts';
import { ETH1_ANNOTATION } from '../../../../lib/names.ts';

const node = (name: string, extra: Partial<ClusterNode> = {}): ClusterNode => ({
  name,
  podCIDRs: ['10.244.1.0/24'],
  internalIPs: ['192.168.1.1'],
  annotations: {},
  ...extra,
});

describe('NodeView', () => {
  test('a new node is a change; the same routing facts again are not', () => {
    const view = new NodeView();
    assert.equal(view.upsert(node('a')), true);
    assert.equal(view.upsert(node('a')), false);
    assert.equal(view.upsert(node('a', { annotations: { 'example.com/x': 'y' } })), false, 'other annotations do not matter');
  });

  test('podCIDRs, InternalIPs and the eth1 annotation each count', () => {
    const view = new NodeView();
    view.upsert(node('a'));
    assert.equal(view.upsert(node('a', { podCIDRs: ['10.244.2.0/24'] })), true);
    assert.equal(view.upsert(node('a', { podCIDRs: ['10.244.2.0/24'], internalIPs: ['192.168.1.2'] })), true);
    assert.equal(view.upsert(node('a', { podCIDRs: ['10.244.2.0/24'], internalIPs: ['192.168.1.2'], annotations: { [ETH1_ANNOTATION]: '192.168.50.1' } })), true);
    assert.equal(view.list()[0]!.annotations[ETH1_ANNOTATION], '192.168.50.1');
  });

  test('a runtime upgrade counts (it can change the conflist\'s cniVersion)', () => {
    const view = new NodeView();
    view.upsert(node('a', { containerRuntimeVersion: 'containerd://1.7.22' }));
    assert.equal(view.upsert(node('a', { containerRuntimeVersion: 'containerd://1.7.22' })), false);
    assert.equal(view.upsert(node('a', { containerRuntimeVersion: 'containerd://2.0.4' })), true);
    assert.equal(view.list()[0]!.containerRuntimeVersion, 'containerd://2.0.4');
  });

  test('remove: true only for a known node', () => {
    const view = new NodeView();
    view.upsert(node('a'));
    assert.equal(view.remove('b'), false);
    assert.equal(view.remove('a'), true);
    assert.deepEqual(view.list(), []);
  });

  test('list is sorted by name and reused until the next change', () => {
    const view = new NodeView();
    for (const name of ['c', 'a', 'b']) view.upsert(node(name));
    const first = view.list();
    assert.deepEqual(first.map((n) => n.name), ['a', 'b', 'c']);
    assert.equal(view.list(), first, 'no re-sort without a change');
    view.upsert(node('b'));
    assert.equal(view.list(), first, 'an update that changes nothing keeps it');
    view.upsert(node('d'));
    assert.notEqual(view.list(), first);
    assert.deepEqual(view.list().map((n) => n.name), ['a', 'b', 'c', 'd']);
  });
});

describe('changedNodes', () => {
  test('added, removed and re-addressed nodes; equal copies and other annotations are not changes', () => {
    const before = [node('a'), node('b'), node('c'), node('d')];
    const after = [
      before[0]!, // the same object
      node('b', { annotations: { 'example.com/x': 'y' } }), // an equal copy
      node('c', { annotations: { [ETH1_ANNOTATION]: '192.168.50.3' } }),
      node('e'),
    ];
    const changed = changedNodes(before, after);
    assert.deepEqual(changed.after.map((n) => n.name), ['c', 'e']);
    assert.deepEqual(changed.before.map((n) => n.name), ['c', 'd'], 'c as it was, d removed');
    assert.equal(changed.before[0], before[2]);
  });

  test('no change: both sides empty', () => {
    const list = [node('a'), node('b')];
    assert.deepEqual(changedNodes(list, list.map((n) => ({ ...n }))), { before: [], after: [] });
  });
});
