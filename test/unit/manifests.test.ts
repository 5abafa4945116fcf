import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import yaml from 'js-yaml';
import { ENVIRONMENT_VARIABLES, parseAgentConfig } from '../../daemonset/config.ts';
import { renderBundle } from '../../scripts/render-manifests.ts';

const dir = path.resolve(import.meta.dirname, '../../manifests');
const docs = yaml.loadAll(fs.readFileSync(path.join(dir, 'bridgeway.yaml'), 'utf8')) as any[];
const find = (kind: string) => docs.find((d) => d?.kind === kind);

test('manifests/bridgeway.yaml is up to date (npm run manifests)', () => {
  assert.equal(fs.readFileSync(path.join(dir, 'bridgeway.yaml'), 'utf8'), renderBundle(dir));
});

test('RBAC grants exactly what the agent calls', () => {
  const rules = find('ClusterRole').rules as { resources: string[]; verbs: string[] }[];
  const verbs = (resource: string) => rules.filter((r) => r.resources.includes(resource)).flatMap((r) => r.verbs).sort();
  assert.deepEqual(verbs('nodes'), ['get', 'list', 'patch', 'watch']);
  assert.deepEqual(verbs('nodes/status'), ['patch']);
  const sa = find('ServiceAccount');
  const binding = find('ClusterRoleBinding');
  assert.deepEqual(binding.subjects[0], { kind: 'ServiceAccount', name: sa.metadata.name, namespace: sa.metadata.namespace });
  assert.equal(find('DaemonSet').spec.template.spec.serviceAccountName, sa.metadata.name);
});

test('the ConfigMap only sets real agent settings, and they parse', () => {
  const data = find('ConfigMap').data as Record<string, string>;
  for (const key of Object.keys(data)) assert.ok(ENVIRONMENT_VARIABLES.includes(key), `${key} is not an agent setting`);
  const config = parseAgentConfig([], { ...data, NODE_NAME: 'n1' }, '/usr/local/bin/bridgeway-agent')!;
  assert.equal(config.pluginBinary, '/usr/local/bin/bridgeway', 'the image ships the plugin next to the agent');
});

test('the DaemonSet runs on every node, on the host network, probed on the agent\'s port', () => {
  const spec = find('DaemonSet').spec.template.spec;
  assert.equal(spec.hostNetwork, true);
  assert.deepEqual(spec.tolerations, [{ operator: 'Exists' }]);
  const agent = spec.containers[0];
  assert.equal(agent.env.find((e: any) => e.name === 'NODE_NAME').valueFrom.fieldRef.fieldPath, 'spec.nodeName');
  const health = parseAgentConfig([], { NODE_NAME: 'n', BRIDGEWAY_CLUSTER_CIDR: '10.0.0.0/8' }, '/x')!.health.port;
  assert.equal(agent.readinessProbe.httpGet.port, health);
  assert.equal(agent.readinessProbe.httpGet.path, '/readyz');
  assert.equal(agent.livenessProbe.httpGet.path, '/healthz');
  const mounts = agent.volumeMounts.map((m: any) => m.mountPath).sort();
  assert.deepEqual(mounts, ['/etc/cni/net.d', '/opt/cni/bin', '/run/xtables.lock', '/var/lib/cni/bridgeway']);
});
