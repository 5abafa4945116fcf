import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import yaml from 'js-yaml';
import { DaemonSet } from 'kubernetes-models/apps/v1';
import { ConfigMap, ServiceAccount } from 'kubernetes-models/v1';
import { ClusterRole, ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { helpText, parseAgentConfig } from '../../daemonset/config.ts';
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
  // --help names the environment variable of every setting that has one.
  const help = helpText();
  for (const key of Object.keys(data)) assert.match(help, new RegExp(`\\$${key}\\b`), `${key} is not an agent setting`);
  const config = parseAgentConfig([], { ...data, NODE_NAME: 'n1' }, '/usr/local/bin/bridgeway')!;
  assert.equal(config.pluginBinary, '/usr/local/bin/bridgeway', 'the agent installs its own file, which is the plugin too');
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

// Validated against Kubernetes' OpenAPI schemas (kubernetes-models: a model per kind generated
// from the API server's OpenAPI spec, validated with ajv), offline: the schemas ship in the package.
const MODELS: Record<string, new (data: any) => { validate(): void }> = {
  'v1/ServiceAccount': ServiceAccount,
  'v1/ConfigMap': ConfigMap,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding,
  'apps/v1/DaemonSet': DaemonSet,
};

test('every manifest is valid against the Kubernetes OpenAPI schema of its kind', () => {
  assert.deepEqual(docs.map((d) => `${d.apiVersion}/${d.kind}`).sort(), Object.keys(MODELS).sort());
  for (const doc of docs) {
    const Model = MODELS[`${doc.apiVersion}/${doc.kind}`]!;
    assert.doesNotThrow(() => new Model(doc).validate(), `${doc.kind} ${doc.metadata?.name}`);
  }
});

test('the validator rejects what the API server would (so the test above can fail)', () => {
  const ds = structuredClone(find('DaemonSet'));
  ds.spec.template.spec.containers[0].securityContext.capabilities.add = 'NET_ADMIN';
  assert.throws(() => new DaemonSet(ds).validate(), /capabilities\/add must be array/);
  const port = structuredClone(find('DaemonSet'));
  port.spec.template.spec.containers[0].ports[0].containerPort = '9099';
  assert.throws(() => new DaemonSet(port).validate(), /containerPort must be integer/);
  const noSelector = structuredClone(find('DaemonSet'));
  delete noSelector.spec.selector;
  assert.throws(() => new DaemonSet(noSelector).validate(), /selector/);
});

test('the agent runs unprivileged: every capability dropped but NET_ADMIN and NET_RAW, no escalation', () => {
  const spec = find('DaemonSet').spec.template.spec;
  for (const container of [...(spec.initContainers ?? []), ...spec.containers]) {
    const context = container.securityContext ?? {};
    assert.notEqual(context.privileged, true, `${container.name} is not privileged`);
  }
  const agent = spec.containers.find((c: any) => c.name === 'agent').securityContext;
  assert.equal(agent.privileged, false);
  assert.equal(agent.allowPrivilegeEscalation, false);
  assert.deepEqual(agent.capabilities, { drop: ['ALL'], add: ['NET_ADMIN', 'NET_RAW'] });
  assert.deepEqual(spec.volumes.map((v: any) => v.hostPath.path).sort(), ['/etc/cni/net.d', '/opt/cni/bin', '/run/xtables.lock', '/var/lib/cni/bridgeway'], 'hostPath mounts: only what the agent writes');
});
