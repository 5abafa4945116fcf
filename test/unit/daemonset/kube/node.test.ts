// daemonset/kube/node.ts (pure): what the informer caches of a Node, and what the agent reads of it.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Node } from '@kubernetes/client-node';
import { nodePath, slimNode, toClusterNode } from '../../../../daemonset/kube/node.ts';
import { ETH1_ANNOTATION, ETH1_IPV6_ANNOTATION } from '../../../../lib/names.ts';

/** A Node as kubelet and kubeadm write it: most of it is of no interest to the agent. */
function kubeletNode(): V1Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: 'n1',
      uid: 'b4b2c0de',
      resourceVersion: '4711',
      labels: { 'kubernetes.io/hostname': 'n1', 'kubernetes.io/os': 'linux', 'node-role.kubernetes.io/worker': '' },
      annotations: { [ETH1_ANNOTATION]: '192.168.50.1', 'node.alpha.kubernetes.io/ttl': '0', 'volumes.kubernetes.io/controller-managed-attach-detach': 'true' },
      managedFields: [{ manager: 'kubelet', operation: 'Update', apiVersion: 'v1', fieldsType: 'FieldsV1', fieldsV1: { 'f:status': { 'f:images': {} } } }],
    },
    spec: { podCIDR: '10.244.1.0/24', podCIDRs: ['10.244.1.0/24'], providerID: 'kind://docker/kind/n1' },
    status: {
      addresses: [{ type: 'InternalIP', address: '172.18.0.3' }, { type: 'Hostname', address: 'n1' }],
      conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status' }],
      capacity: { cpu: '8', memory: '32Gi' },
      images: [{ names: ['registry.k8s.io/pause@sha256:7031c1b283388d2c2e09b57badb803c05ebed362dc88d84b480cc47f72a21097'], sizeBytes: 320368 }],
      nodeInfo: {
        architecture: 'amd64', bootID: 'b', containerRuntimeVersion: 'containerd://1.7.13', kernelVersion: '6.1.0', kubeProxyVersion: 'v1.31.0',
        kubeletVersion: 'v1.31.0', machineID: 'm', operatingSystem: 'linux', osImage: 'Debian GNU/Linux 12', systemUUID: 's',
      },
    },
  };
}

describe('dual-stack Nodes', () => {
  test('both eth1 annotations survive slimNode and reach the ClusterNode; other annotations do not', () => {
    const node = kubeletNode();
    node.metadata!.annotations![ETH1_IPV6_ANNOTATION] = 'fd00:50::1';
    node.spec!.podCIDRs = ['10.244.1.0/24', 'fd00:10:244:1::/64'];
    node.status!.addresses!.push({ type: 'InternalIP', address: 'fd00:18::3' });
    const slim = slimNode(node);
    assert.deepEqual(slim.metadata!.annotations, { [ETH1_ANNOTATION]: '192.168.50.1', [ETH1_IPV6_ANNOTATION]: 'fd00:50::1' });
    const cluster = toClusterNode(slim);
    assert.deepEqual(cluster.annotations, { [ETH1_ANNOTATION]: '192.168.50.1', [ETH1_IPV6_ANNOTATION]: 'fd00:50::1' });
    assert.deepEqual(cluster.podCIDRs, ['10.244.1.0/24', 'fd00:10:244:1::/64']);
    assert.deepEqual(cluster.internalIPs, ['172.18.0.3', 'fd00:18::3']);
    delete node.metadata!.annotations![ETH1_ANNOTATION];
    assert.deepEqual(slimNode(node).metadata!.annotations, { [ETH1_IPV6_ANNOTATION]: 'fd00:50::1' }, 'IPv6-only: the IPv6 annotation alone');
  });
});

describe('toClusterNode', () => {
  test('takes name, podCIDRs (or podCIDR), InternalIPs and annotations', () => {
    const node: V1Node = {
      metadata: { name: 'n1', annotations: { [ETH1_ANNOTATION]: '192.168.50.1' } },
      spec: { podCIDR: '10.244.1.0/24', podCIDRs: ['10.244.1.0/24', 'fd00:1::/64'] },
      status: { addresses: [{ type: 'Hostname', address: 'n1' }, { type: 'InternalIP', address: '192.168.1.1' }, { type: 'InternalIP', address: 'fd00::1' }] },
    };
    assert.deepEqual(toClusterNode(node), {
      name: 'n1',
      podCIDRs: ['10.244.1.0/24', 'fd00:1::/64'],
      internalIPs: ['192.168.1.1', 'fd00::1'],
      annotations: { [ETH1_ANNOTATION]: '192.168.50.1' },
    });
    assert.deepEqual(toClusterNode({ metadata: { name: 'old' }, spec: { podCIDR: '10.244.9.0/24' } }).podCIDRs, ['10.244.9.0/24']);
    assert.deepEqual(toClusterNode({ metadata: { name: 'new' } }), { name: 'new', podCIDRs: [], internalIPs: [], annotations: {} });
  });

  test('takes the runtime\'s version from status.nodeInfo; an empty one (kubelet not reporting yet) is absent', () => {
    assert.equal(toClusterNode(kubeletNode()).containerRuntimeVersion, 'containerd://1.7.13');
    const unreported = kubeletNode();
    unreported.status!.nodeInfo!.containerRuntimeVersion = '';
    assert.equal('containerRuntimeVersion' in toClusterNode(unreported), false);
    assert.equal('containerRuntimeVersion' in toClusterNode({ metadata: { name: 'n' }, status: {} }), false);
  });
});

describe('slimNode', () => {
  test('keeps name, resourceVersion, podCIDRs, InternalIPs, our annotation and the runtime\'s version; drops the rest', () => {
    const node = kubeletNode();
    const slim = slimNode(node);
    assert.deepEqual(JSON.parse(JSON.stringify(slim)), {
      metadata: { name: 'n1', resourceVersion: '4711', annotations: { [ETH1_ANNOTATION]: '192.168.50.1' } },
      spec: { podCIDR: '10.244.1.0/24', podCIDRs: ['10.244.1.0/24'] },
      status: { addresses: [{ type: 'InternalIP', address: '172.18.0.3' }], nodeInfo: { containerRuntimeVersion: 'containerd://1.7.13' } },
    });
    assert.deepEqual(toClusterNode(slim), toClusterNode(node), 'the agent sees the same node');
    assert.ok(JSON.stringify(slim).length * 4 < JSON.stringify(node).length);
  });

  test('a runtime upgrade survives the slimming (it decides the conflist\'s cniVersion)', () => {
    const upgraded = kubeletNode();
    upgraded.status!.nodeInfo!.containerRuntimeVersion = 'containerd://2.0.4';
    assert.equal(toClusterNode(slimNode(upgraded)).containerRuntimeVersion, 'containerd://2.0.4');
  });

  test('a Node without spec, status or annotations stays a valid (empty) Node, without nodeInfo', () => {
    const slim = slimNode({ metadata: { name: 'new' } });
    assert.deepEqual(toClusterNode(slim), { name: 'new', podCIDRs: [], internalIPs: [], annotations: {} });
    assert.equal(slim.status?.nodeInfo, undefined);
  });
});

test('nodePath escapes the name', () => {
  assert.equal(nodePath('a'), '/api/v1/nodes/a');
  assert.equal(nodePath('a/b c'), '/api/v1/nodes/a%2Fb%20c');
});
