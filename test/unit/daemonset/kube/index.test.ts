// daemonset/kube/index.ts is the one import main.ts (and other helpers' code) takes the Kubernetes side
// from; each module behind it has its own test (kube/node, kube/informer, kube/status, kube/http).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as kube from '../../../../daemonset/kube/index.ts';
import { loadKubeConfig } from '../../../../daemonset/kube/config.ts';
import { slimNode, toClusterNode } from '../../../../daemonset/kube/node.ts';
import { createKubeNodeSource } from '../../../../daemonset/kube/informer.ts';
import { createKubeNodeApi } from '../../../../daemonset/kube/status.ts';

test('kube/index.ts re-exports the names its importers use, from the modules that define them', () => {
  assert.equal(kube.createKubeNodeSource, createKubeNodeSource);
  assert.equal(kube.createKubeNodeApi, createKubeNodeApi);
  assert.equal(kube.loadKubeConfig, loadKubeConfig);
  assert.equal(kube.toClusterNode, toClusterNode);
  assert.equal(kube.slimNode, slimNode);
  assert.equal(kube.NODES_PATH, '/api/v1/nodes');
});
