import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import yaml from 'js-yaml';
import { DaemonSet } from 'kubernetes-models/apps/v1';
import { ConfigMap, ServiceAccount } from 'kubernetes-models/v1';
import { ClusterRole, ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { helpText, parseAgentConfig } from '../../daemonset/config.ts';
import { BUNDLES, MANIFESTS, renderBundle } from '../../scripts/render-manifests.ts';
import { mgmtSocket } from '../../daemonset/ovs/steering-step.ts';

const dir = MANIFESTS;
const load = (file: string) => yaml.loadAll(fs.readFileSync(path.join(dir, file), 'utf8')) as any[];
const docs = load('bridgeway.yaml');
const find = (kind: string) => docs.find((d) => d?.kind === kind);

for (const bundle of BUNDLES) {
  test(`manifests/${bundle.file} is up to date (npm run manifests)`, () => {
    assert.equal(fs.readFileSync(path.join(dir, bundle.file), 'utf8'), renderBundle(dir, bundle.dir));
  });
}

test('RBAC grants exactly what the agent calls', () => {
  const rules = find('ClusterRole').rules as { apiGroups: string[]; resources: string[]; verbs: string[] }[];
  const verbs = (resource: string) => rules.filter((r) => r.resources.includes(resource)).flatMap((r) => r.verbs).sort();
  assert.deepEqual(verbs('nodes'), ['get', 'list', 'patch', 'watch']);
  assert.deepEqual(verbs('nodes/status'), ['patch']);
  // NetworkPolicy: read-only, exactly list and watch (issue 19).
  for (const resource of ['pods', 'namespaces', 'networkpolicies']) assert.deepEqual(verbs(resource), ['list', 'watch'], resource);
  const group = (resource: string) => rules.find((r) => r.resources.includes(resource))!.apiGroups;
  assert.deepEqual(group('networkpolicies'), ['networking.k8s.io']);
  assert.deepEqual(rules.flatMap((r) => r.resources).sort(), ['events', 'namespaces', 'networkpolicies', 'nodes', 'nodes/status', 'pods']);
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
  for (const bundle of BUNDLES) {
    const all = load(bundle.file);
    const kinds = Object.keys(MODELS).filter((k) => bundle.file.startsWith('bridgeway') || !k.endsWith('/ConfigMap'));
    assert.deepEqual(all.map((d) => `${d.apiVersion}/${d.kind}`).sort(), kinds.sort(), bundle.file);
    for (const doc of all) {
      const Model = MODELS[`${doc.apiVersion}/${doc.kind}`]!;
      assert.doesNotThrow(() => new Model(doc).validate(), `${bundle.file}: ${doc.kind} ${doc.metadata?.name}`);
    }
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

// manifests/uninstall.yaml must remove what the agent of manifests/bridgeway.yaml made: the same
// image, settings, securityContext and host paths. Each difference is named, so the two cannot
// drift apart unnoticed.
const uninstallDocs = load('uninstall.yaml');
const findUninstall = (kind: string) => uninstallDocs.find((d) => d?.kind === kind);

/** The host path a container path of `pod` shows, or undefined when no mount covers it. */
function hostPathOf(pod: any, containerPath: string): string | undefined {
  const mounts = (pod.containers[0].volumeMounts as { name: string; mountPath: string }[])
    .filter((m) => containerPath === m.mountPath || containerPath.startsWith(`${m.mountPath}/`))
    .sort((a, b) => b.mountPath.length - a.mountPath.length);
  const mount = mounts[0];
  if (!mount) return undefined;
  const volume = (pod.volumes as { name: string; hostPath?: { path: string } }[]).find((v) => v.name === mount.name);
  return volume?.hostPath && path.posix.join(volume.hostPath.path, path.posix.relative(mount.mountPath, containerPath));
}

/** How the uninstall DaemonSet differs from the agent's where it must not; [] when consistent. */
function uninstallDrift(agentDs: any, uninstallDs: any, configMap: any): string[] {
  const drift: string[] = [];
  const agent = agentDs.spec.template.spec;
  const un = uninstallDs.spec.template.spec;
  const [a, u] = [agent.containers[0], un.containers[0]];
  const same = (what: string, x: unknown, y: unknown) => {
    if (JSON.stringify(x) !== JSON.stringify(y)) drift.push(`${what}: agent ${JSON.stringify(x)}, uninstall ${JSON.stringify(y)}`);
  };
  same('image', a.image, u.image);
  same('imagePullPolicy', a.imagePullPolicy, u.imagePullPolicy);
  same('env', a.env, u.env);
  same('envFrom (the ConfigMap)', a.envFrom, u.envFrom);
  same('securityContext', a.securityContext, u.securityContext);
  same('hostNetwork', agent.hostNetwork, un.hostNetwork);
  same('tolerations', agent.tolerations, un.tolerations);
  same('ports', a.ports, u.ports);
  // Every host path the agent writes is where uninstall looks for it, at the same container path.
  for (const mount of a.volumeMounts as { mountPath: string }[]) {
    const want = hostPathOf(agent, mount.mountPath);
    const got = hostPathOf(un, mount.mountPath);
    if (want !== got) drift.push(`mount ${mount.mountPath}: agent host path ${want}, uninstall ${got ?? 'none'}`);
  }
  // The plugin's log, which only uninstall touches, at its host path.
  const config = parseAgentConfig(['uninstall'], { ...configMap.data, NODE_NAME: 'n' }, '/usr/local/bin/bridgeway-agent')!;
  const logDir = path.posix.dirname(config.cniLogFile);
  if (hostPathOf(un, logDir) !== logDir) drift.push(`the plugin log directory ${logDir} is not mounted from the host at the same path`);
  // The readiness probe is the uninstall's own page, on the port it serves (the agent's).
  if (u.readinessProbe?.httpGet?.path !== '/uninstalled') drift.push(`readinessProbe path ${u.readinessProbe?.httpGet?.path}, not /uninstalled`);
  if (u.readinessProbe?.httpGet?.port !== a.readinessProbe.httpGet.port) drift.push('readinessProbe port differs from the agent\'s');
  return drift;
}

describe('manifests/uninstall.yaml', () => {
  const configMap = find('ConfigMap');
  test('consistent with the agent\'s DaemonSet: image, settings, securityContext, host paths, port', () => {
    assert.deepEqual(uninstallDrift(find('DaemonSet'), findUninstall('DaemonSet'), configMap), []);
  });

  test('the check names each kind of drift (so the test above can fail)', () => {
    const mutate = (change: (spec: any) => void) => {
      const ds = structuredClone(findUninstall('DaemonSet'));
      change(ds.spec.template.spec);
      return uninstallDrift(find('DaemonSet'), ds, configMap);
    };
    assert.deepEqual(mutate((s) => void (s.containers[0].image = 'registry.example.com/bridgeway:0.2.0')), ['image: agent "bridgeway:0.1.0", uninstall "registry.example.com/bridgeway:0.2.0"']);
    assert.match(mutate((s) => void s.containers[0].securityContext.capabilities.add.pop()).join('\n'), /^securityContext: /);
    assert.match(mutate((s) => void (s.containers[0].envFrom[0].configMapRef.name = 'other')).join('\n'), /^envFrom \(the ConfigMap\)/);
    assert.deepEqual(mutate((s) => void (s.volumes.find((v: any) => v.name === 'cni-state').hostPath.path = '/var/lib')), ['mount /var/lib/cni/bridgeway: agent host path /var/lib/cni/bridgeway, uninstall /var/lib/bridgeway']);
    assert.deepEqual(mutate((s) => void (s.containers[0].volumeMounts = s.containers[0].volumeMounts.filter((m: any) => m.name !== 'log'))), ['the plugin log directory /var/log/bridgeway is not mounted from the host at the same path']);
    assert.deepEqual(mutate((s) => void (s.containers[0].readinessProbe.httpGet.path = '/readyz')), ['readinessProbe path /readyz, not /uninstalled']);
  });

  test('runs `uninstall --serve` with the agent\'s settings on every node, as its own service account', () => {
    const ds = findUninstall('DaemonSet');
    const spec = ds.spec.template.spec;
    const container = spec.containers[0];
    const config = parseAgentConfig(container.args, { ...find('ConfigMap').data, NODE_NAME: 'n1' }, '/usr/local/bin/bridgeway-agent')!;
    assert.equal(config.command, 'uninstall');
    assert.equal(config.serve, true);
    assert.equal(config.health.port, container.readinessProbe.httpGet.port);
    assert.equal(container.envFrom[0].configMapRef.name, find('ConfigMap').metadata.name, 'the agent\'s ConfigMap (kept until uninstall is done)');
    assert.equal(ds.metadata.namespace, find('ConfigMap').metadata.namespace);
    assert.equal(container.livenessProbe, undefined);
    const sa = findUninstall('ServiceAccount');
    assert.equal(spec.serviceAccountName, sa.metadata.name);
    assert.notEqual(sa.metadata.name, find('ServiceAccount').metadata.name, 'its own account: deleting it leaves the agent\'s alone');
    assert.deepEqual(findUninstall('ClusterRoleBinding').subjects[0], { kind: 'ServiceAccount', name: sa.metadata.name, namespace: sa.metadata.namespace });
  });

  test('both DaemonSets use the image name the README\'s kustomize `images:` entry rewrites (bridgeway)', () => {
    for (const ds of [find('DaemonSet'), findUninstall('DaemonSet')]) {
      assert.equal(ds.spec.template.spec.containers[0].image.split(':')[0], 'bridgeway', ds.metadata.name);
    }
    assert.match(fs.readFileSync(path.join(dir, '..', 'README.md'), 'utf8'), /images:\n {2}- name: bridgeway\n {4}newName: /);
  });

  test('RBAC grants exactly what uninstall calls: read its Node, patch its annotations and status', () => {
    const rules = findUninstall('ClusterRole').rules as { resources: string[]; verbs: string[] }[];
    const verbs = (resource: string) => rules.filter((r) => r.resources.includes(resource)).flatMap((r) => r.verbs).sort();
    assert.deepEqual(rules.flatMap((r) => r.resources).sort(), ['nodes', 'nodes/status']);
    assert.deepEqual(verbs('nodes'), ['get', 'patch']);
    assert.deepEqual(verbs('nodes/status'), ['patch']);
    assert.equal(findUninstall('ClusterRoleBinding').roleRef.name, findUninstall('ClusterRole').metadata.name);
  });
});

// The Open vSwitch variant (manifests/ovs/, rendered to bridgeway-ovs.yaml and uninstall-ovs.yaml):
// the default with the OVS settings in the ConfigMap and the host's /run/openvswitch mounted into
// both DaemonSets, and nothing else.
describe('the Open vSwitch variant (manifests/ovs/)', () => {
  const OVS_SETTINGS = { BRIDGEWAY_BRIDGE_TYPE: 'ovs', BRIDGEWAY_OVS_DATAPATH: 'system', BRIDGEWAY_OVSDB_SOCKET: '/run/openvswitch/db.sock' };
  const RUN_DIR = '/run/openvswitch';
  const ovsDocs = load('bridgeway-ovs.yaml');
  const ovsUninstallDocs = load('uninstall-ovs.yaml');
  const kind = (all: any[], k: string) => all.find((d) => d?.kind === k);

  /** `docs` with the intended OVS changes taken out again: what is left must be the default. */
  function withoutOvs(all: any[]): any[] {
    return structuredClone(all).map((d) => {
      if (d?.kind === 'ConfigMap') for (const key of Object.keys(OVS_SETTINGS)) delete d.data[key];
      if (d?.kind === 'DaemonSet') {
        const spec = d.spec.template.spec;
        spec.containers[0].volumeMounts = spec.containers[0].volumeMounts.filter((m: any) => m.name !== 'run-openvswitch');
        spec.volumes = spec.volumes.filter((v: any) => v.name !== 'run-openvswitch');
      }
      return d;
    });
  }

  test('differs from manifests/bridgeway.yaml and uninstall.yaml only in the OVS settings and the mount', () => {
    assert.deepEqual(withoutOvs(ovsDocs), docs);
    assert.deepEqual(withoutOvs(ovsUninstallDocs), uninstallDocs);
    // And those differences are there (so the comparison above is not of two defaults).
    assert.notDeepEqual(ovsDocs, docs);
    assert.notDeepEqual(ovsUninstallDocs, uninstallDocs);
  });

  test('the ConfigMap sets real agent settings that parse into an OVS bridge on /run/openvswitch/db.sock', () => {
    const data = kind(ovsDocs, 'ConfigMap').data as Record<string, string>;
    const help = helpText();
    for (const key of Object.keys(data)) assert.match(help, new RegExp(`\\$${key}\\b`), `${key} is not an agent setting`);
    for (const [key, value] of Object.entries(OVS_SETTINGS)) assert.equal(data[key], value, key);
    const config = parseAgentConfig([], { ...data, NODE_NAME: 'n1' }, '/usr/local/bin/bridgeway')!;
    assert.equal(config.bridgeType, 'ovs');
    assert.deepEqual(config.ovs, { socket: '/run/openvswitch/db.sock', datapath: 'system' });
  });

  for (const [file, all] of [['bridgeway-ovs.yaml', ovsDocs], ['uninstall-ovs.yaml', ovsUninstallDocs]] as const) {
    test(`${file}: the host's /run/openvswitch at the same path, read-only, a Directory that must exist`, () => {
      const spec = kind(all, 'DaemonSet').spec.template.spec;
      const mounts = spec.containers[0].volumeMounts.filter((m: any) => m.name === 'run-openvswitch');
      assert.deepEqual(mounts, [{ name: 'run-openvswitch', mountPath: RUN_DIR, readOnly: true }]);
      assert.deepEqual(spec.volumes.filter((v: any) => v.name === 'run-openvswitch'), [{ name: 'run-openvswitch', hostPath: { path: RUN_DIR, type: 'Directory' } }]);
      // What the agent opens there, from the settings it runs with: the database's socket and the
      // bridge's OpenFlow socket, each the host's file at the same path.
      const config = parseAgentConfig(spec.containers[0].args ?? [], { ...kind(ovsDocs, 'ConfigMap').data, NODE_NAME: 'n1' }, '/usr/local/bin/bridgeway')!;
      assert.equal(config.bridgeType, 'ovs');
      for (const socket of [config.ovs!.socket, mgmtSocket(config.ovs!.socket, config.bridge)]) assert.equal(hostPathOf(spec, socket), socket, socket);
      // Everything else unchanged: same securityContext, no privilege.
      assert.deepEqual(spec.containers[0].securityContext.capabilities, { drop: ['ALL'], add: ['NET_ADMIN', 'NET_RAW'] });
    });
  }

  test('the uninstall variant removes what the OVS agent made: consistent with it, with the OVS settings', () => {
    const configMap = kind(ovsDocs, 'ConfigMap');
    assert.deepEqual(uninstallDrift(kind(ovsDocs, 'DaemonSet'), kind(ovsUninstallDocs, 'DaemonSet'), configMap), []);
    // The default uninstall would not reach the OVS run directory: the drift check says so.
    assert.deepEqual(uninstallDrift(kind(ovsDocs, 'DaemonSet'), findUninstall('DaemonSet'), configMap), [`mount ${RUN_DIR}: agent host path ${RUN_DIR}, uninstall none`]);
    const container = kind(ovsUninstallDocs, 'DaemonSet').spec.template.spec.containers[0];
    const config = parseAgentConfig(container.args, { ...configMap.data, NODE_NAME: 'n1' }, '/usr/local/bin/bridgeway-agent')!;
    assert.equal(config.command, 'uninstall');
    assert.equal(config.bridgeType, 'ovs');
    assert.equal(container.envFrom[0].configMapRef.name, configMap.metadata.name);
  });

  test('the agent\'s and the uninstall\'s mount patches are the same operations', () => {
    const ops = (file: string) => yaml.load(fs.readFileSync(path.join(dir, file), 'utf8'));
    assert.deepEqual(ops('ovs/uninstall/run-openvswitch.yaml'), ops('ovs/run-openvswitch.yaml'));
  });
});

// The renderer implements a subset of kustomize; kubectl's own kustomize must read the same
// directories into the same objects (kubectl is not a dependency of the repository: this test
// needs it on PATH).
const kubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' });
test('kubectl kustomize builds every kustomization into the same objects as its rendered file', { skip: kubectl.status === 0 ? false : 'kubectl is not installed' }, () => {
  const sorted = (value: unknown): unknown => (Array.isArray(value) ? value.map(sorted)
    : value && typeof value === 'object' ? Object.fromEntries(Object.keys(value).sort().map((k) => [k, sorted((value as Record<string, unknown>)[k])])) : value);
  const objects = (text: string) => (yaml.loadAll(text) as unknown[]).filter(Boolean).map((d) => JSON.stringify(sorted(d))).sort();
  for (const bundle of BUNDLES) {
    const built = spawnSync('kubectl', ['kustomize', path.join(dir, bundle.dir)], { encoding: 'utf8' });
    assert.equal(built.status, 0, built.stderr);
    assert.deepEqual(objects(built.stdout), objects(fs.readFileSync(path.join(dir, bundle.file), 'utf8')), bundle.file);
  }
});
