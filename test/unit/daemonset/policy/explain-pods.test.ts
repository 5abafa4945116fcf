// daemonset/policy/explain-pods.ts: `policy explain` across nodes and families.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { explainPods } from '../../../../daemonset/policy/explain-pods.ts';
import { namespace, pod, policy } from '../../../fixtures/policy-objects.ts';

const objects = {
  namespaces: [namespace('x', { ns: 'x' }), namespace('y', { ns: 'y' })],
  pods: [
    pod('x/a', ['10.244.1.2', 'fd00:10:244:1::2'], { pod: 'a' }, { node: 'node-1' }),
    pod('y/b', ['10.244.2.3', 'fd00:10:244:2::3'], { pod: 'b' }, { node: 'node-2', ports: [{ name: 'serve-80-tcp', containerPort: 80 }] }),
    pod('y/c', ['10.244.2.4'], { pod: 'c' }, { node: 'node-2' }),
    pod('y/h', ['192.168.50.12'], {}, { node: 'node-2', hostNetwork: true }),
  ],
  policies: [
    policy('y/allow-x-a', { podSelector: { matchLabels: { pod: 'b' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'x' } }, podSelector: { matchLabels: { pod: 'a' } } }], ports: [{ port: 'serve-80-tcp' }] }] }),
    policy('x/deny-egress', { podSelector: {}, policyTypes: ['Egress'], egress: [{ to: [{ podSelector: {} , namespaceSelector: {} }], ports: [{ port: 80 }] }] }),
  ],
};

test('cross-node, both families: egress judged on the source node, ingress on the destination node, with the deciding rules', () => {
  const lines = explainPods(objects, { from: 'x/a', to: 'y/b', port: 80, protocol: 'TCP' });
  assert.deepEqual(lines, [
    'x/a (10.244.1.2) -> y/b (10.244.2.3) 80/TCP: ALLOWED',
    '  egress (node node-1): allowed by x/deny-egress egress[0] (isolated by x/deny-egress)',
    '  ingress (node node-2): allowed by y/allow-x-a ingress[0] (isolated by y/allow-x-a)',
    'x/a (fd00:10:244:1::2) -> y/b (fd00:10:244:2::3) 80/TCP: ALLOWED',
    '  egress (node node-1): allowed by x/deny-egress egress[0] (isolated by x/deny-egress)',
    '  ingress (node node-2): allowed by y/allow-x-a ingress[0] (isolated by y/allow-x-a)',
  ]);
  assert.deepEqual(explainPods(objects, { from: 'x/a', to: 'y/b', port: 81, protocol: 'TCP' }).slice(0, 3), [
    'x/a (10.244.1.2) -> y/b (10.244.2.3) 81/TCP: DENIED',
    '  egress (node node-1): DENIED: no rule of the policies isolating it allows this (isolated by x/deny-egress)',
    '  ingress (node node-2): DENIED: no rule of the policies isolating it allows this (isolated by y/allow-x-a)',
  ]);
  assert.deepEqual(explainPods(objects, { from: 'y/c', to: 'x/a', port: 80, protocol: 'UDP' }), [
    'y/c (10.244.2.4) -> x/a (10.244.1.2) 80/UDP: ALLOWED',
    '  egress (node node-2): not isolated, allowed',
    '  ingress (node node-1): not isolated, allowed',
  ]);
});

test('pods that cannot be judged are named', () => {
  assert.throws(() => explainPods(objects, { from: 'x/nope', to: 'y/b', port: 80, protocol: 'TCP' }), /no pod x\/nope/);
  assert.throws(() => explainPods(objects, { from: 'y/h', to: 'y/b', port: 80, protocol: 'TCP' }), /uses the host's network/);
});
