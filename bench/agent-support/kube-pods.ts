// Kubernetes mode's Pods, Namespaces and NetworkPolicies: what the agent's policy informers list
// and watch. Pods shaped like kubelet's and the scheduler's (labels, owner, managedFields, volumes,
// env, conditions, container statuses: ~5 KiB of JSON each), `perNode` on every node with an
// address in its podCIDR; 10 namespaces; 20 policies of the common shapes (default deny,
// allow from a namespace, from an app, on named and numbered ports).
import type { JsonObject } from '../../test/support/fake-apiserver.ts';
import type { NodeSpec } from './nodes.ts';

export const NAMESPACES = ['payments', 'checkout', 'search', 'catalog', 'identity', 'notifications', 'ledger', 'reporting', 'monitoring', 'ingress'];
export const APPS = ['api', 'worker', 'frontend', 'db'];

export function kubeNamespaces(): JsonObject[] {
  return NAMESPACES.map((name, i) => ({ kind: 'Namespace', apiVersion: 'v1', metadata: { name, uid: `ns-${i}`, labels: { 'kubernetes.io/metadata.name': name, team: name, tier: i % 2 ? 'backend' : 'frontend' } }, status: { phase: 'Active' } }));
}

function kubePod(spec: NodeSpec, node: number, slot: number): JsonObject {
  const namespace = NAMESPACES[(node + slot) % NAMESPACES.length]!;
  const app = APPS[(node * 7 + slot) % APPS.length]!;
  const name = `${app}-${(node * 131 + slot).toString(36).padStart(5, '0')}-x${slot}`;
  const ip = spec.podCIDR.replace(/0\/24$/, String(2 + slot));
  const time = '2026-11-30T10:00:00Z';
  return {
    kind: 'Pod', apiVersion: 'v1',
    metadata: {
      name, namespace, uid: `pod-${node}-${slot}`, creationTimestamp: time, generateName: `${app}-`,
      labels: { app, 'pod-template-hash': (node * 31 + slot).toString(16), 'app.kubernetes.io/part-of': namespace },
      annotations: { 'kubectl.kubernetes.io/restartedAt': time, 'prometheus.io/scrape': 'true', 'prometheus.io/port': '9100' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `${app}-rs`, uid: `rs-${node % 97}`, controller: true, blockOwnerDeletion: true }],
      managedFields: [
        { manager: 'kube-controller-manager', operation: 'Update', apiVersion: 'v1', time, fieldsType: 'FieldsV1', fieldsV1: { 'f:metadata': { 'f:labels': { '.': {}, 'f:app': {}, 'f:pod-template-hash': {} }, 'f:ownerReferences': {} }, 'f:spec': { 'f:containers': {}, 'f:volumes': {} } } },
        { manager: 'kubelet', operation: 'Update', apiVersion: 'v1', time, fieldsType: 'FieldsV1', subresource: 'status', fieldsV1: { 'f:status': { 'f:conditions': {}, 'f:containerStatuses': {}, 'f:podIP': {}, 'f:podIPs': {}, 'f:startTime': {} } } },
      ],
    },
    spec: {
      nodeName: spec.name, serviceAccountName: 'default', restartPolicy: 'Always', dnsPolicy: 'ClusterFirst', schedulerName: 'default-scheduler', terminationGracePeriodSeconds: 30,
      volumes: [{ name: 'kube-api-access', projected: { defaultMode: 420, sources: [{ serviceAccountToken: { expirationSeconds: 3607, path: 'token' } }, { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } }] } }],
      containers: [{
        name: app, image: `registry.example/${namespace}/${app}:2026.11.${slot}`, imagePullPolicy: 'IfNotPresent',
        ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }, { name: 'metrics', containerPort: 9100, protocol: 'TCP' }],
        env: [{ name: 'APP', value: app }, { name: 'POD_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } }],
        resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } },
        readinessProbe: { httpGet: { path: '/ready', port: 'http', scheme: 'HTTP' }, periodSeconds: 10, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3 },
        volumeMounts: [{ name: 'kube-api-access', readOnly: true, mountPath: '/var/run/secrets/kubernetes.io/serviceaccount' }],
        terminationMessagePath: '/dev/termination-log', terminationMessagePolicy: 'File',
      }],
      tolerations: [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }, { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }],
    },
    status: {
      phase: 'Running', hostIP: '192.168.0.1', podIP: ip, podIPs: [{ ip }], startTime: time, qosClass: 'Burstable',
      conditions: ['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady', 'PodScheduled'].map((type) => ({ type, status: 'True', lastProbeTime: null, lastTransitionTime: time })),
      containerStatuses: [{ name: app, ready: true, started: true, restartCount: 0, image: `registry.example/${namespace}/${app}:2026.11.${slot}`, imageID: `registry.example/${namespace}/${app}@sha256:${'0'.repeat(64)}`, containerID: `containerd://${'a'.repeat(64)}`, state: { running: { startedAt: time } } }],
    },
  };
}

/** `perNode` Pods on every node (addresses .2, .3, ... of its podCIDR). */
export function kubePodsOf(specs: readonly NodeSpec[], perNode: number): JsonObject[] {
  return specs.flatMap((spec, node) => Array.from({ length: perNode }, (_, slot) => kubePod(spec, node, slot)));
}

/** 20 policies, 2 per namespace: a default deny, and an allow from a namespace/app on named and numbered ports. */
export function kubePolicies(): JsonObject[] {
  return NAMESPACES.flatMap((namespace, i): JsonObject[] => [
    { kind: 'NetworkPolicy', apiVersion: 'networking.k8s.io/v1', metadata: { namespace, name: 'default-deny' }, spec: { podSelector: {}, policyTypes: ['Ingress'] } },
    {
      kind: 'NetworkPolicy', apiVersion: 'networking.k8s.io/v1', metadata: { namespace, name: 'allow-api' },
      spec: {
        podSelector: { matchLabels: { app: APPS[i % APPS.length]! } }, policyTypes: ['Ingress', 'Egress'],
        ingress: [{ from: [{ namespaceSelector: { matchLabels: { tier: 'frontend' } }, podSelector: { matchLabels: { app: 'frontend' } } }, { namespaceSelector: { matchLabels: { team: 'monitoring' } } }], ports: [{ port: 'http' }, { port: 9100 }] }],
        egress: [{ to: [{ namespaceSelector: {} }], ports: [{ port: 53, protocol: 'UDP' }, { port: 8080 }] }],
      },
    },
  ]);
}

/** Node index 0's first Pod (the agent's own node): its namespace/name, address and app label. */
export function selfPod(specs: readonly NodeSpec[]): { key: string; ip: string; app: string } {
  const pod = kubePod(specs[0]!, 0, 0) as { metadata: { namespace: string; name: string; labels: { app: string } }; status: { podIP: string } };
  return { key: `${pod.metadata.namespace}/${pod.metadata.name}`, ip: pod.status.podIP, app: pod.metadata.labels.app };
}

/** The app that the namespace's allow-api policy selects (egress-isolating it), and one it does not. */
export function appsOf(namespaceIndex: number): { selected: string; other: string } {
  const selected = APPS[namespaceIndex % APPS.length]!;
  return { selected, other: APPS.find((a) => a !== selected)! };
}
