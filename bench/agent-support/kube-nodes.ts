// v1 Node objects for the Kubernetes-mode benchmark, shaped like what kubeadm, kubelet and
// kube-controller-manager really leave on a cloud node: 13 labels, 5 annotations (plus our
// bridgeway.io/eth1-ip), 4 managedFields entries with their fieldsV1 trees, spec.podCIDR(s) and
// providerID, capacity/allocatable, 5 conditions with timestamps, addresses, daemonEndpoints,
// full nodeInfo, runtimeHandlers, and 25 images with their digest and tag names: ~11.5 KiB of
// JSON per Node.
//
// Why not the fixture's 300-byte makeNode(): the agent receives every Node in full (list pages,
// watch events) and decodes it before cutting it down, so its memory at 5,000 nodes and the cost
// of each event are set by what real clusters send, which is mostly fields the agent never reads
// (status.images alone is half of it). A minimal Node would measure a client that does not exist.
//
// Deterministic (seeded per node): the same size gives the same bytes on every run.
import type { JsonObject } from '../../test/support/fake-apiserver.ts';
import type { NodeSpec } from './nodes.ts';
import { ETH1_ANNOTATION } from '../../lib/names.ts';
import { rng } from '../../test/support/rng.ts';

const KUBE_VERSION = 'v1.31.4';
const REGION = 'eu-west-1';
const ZONES = ['eu-west-1a', 'eu-west-1b', 'eu-west-1c'];
const INSTANCE_TYPES = ['m6i.xlarge', 'm6i.2xlarge', 'c6i.2xlarge', 'r6i.xlarge'];
const BASE_TIME = Date.parse('2026-10-01T08:00:00Z');

const hex = (next: () => number, length: number) => Array.from({ length }, () => Math.floor(next() * 16).toString(16)).join('');
const uuid = (next: () => number) => `${hex(next, 8)}-${hex(next, 4)}-4${hex(next, 3)}-a${hex(next, 3)}-${hex(next, 12)}`;
const rfc3339 = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

interface Image {
  repo: string;
  tag: string;
  digest: string;
  sizeBytes: number;
}

/** The images every node has (system DaemonSets), then a pool that workloads draw from. */
const IMAGES: { system: Image[]; pool: Image[] } = (() => {
  const next = rng(42);
  const image = (repo: string, tag: string): Image => ({ repo, tag, digest: hex(next, 64), sizeBytes: Math.floor(8e6 + next() * 9e8) });
  const system = [
    image('registry.k8s.io/kube-proxy', KUBE_VERSION),
    image('registry.k8s.io/pause', '3.10'),
    image('registry.k8s.io/coredns/coredns', 'v1.11.3'),
    image('docker.io/bridgeway/bridgeway-agent', 'v0.1.0'),
    image('registry.k8s.io/sig-storage/csi-node-driver-registrar', 'v2.12.0'),
    image('registry.k8s.io/sig-storage/livenessprobe', 'v2.14.0'),
    image('public.ecr.aws/ebs-csi-driver/aws-ebs-csi-driver', 'v1.37.0'),
    image('quay.io/prometheus/node-exporter', 'v1.8.2'),
    image('docker.io/fluent/fluent-bit', '3.2.2'),
    image('registry.k8s.io/metrics-server/metrics-server', 'v0.7.2'),
  ];
  const teams = ['payments', 'checkout', 'search', 'catalog', 'identity', 'notifications', 'ledger', 'reporting'];
  const services = ['api', 'worker', 'frontend', 'scheduler', 'consumer', 'gateway', 'indexer', 'exporter'];
  const pool = Array.from({ length: 64 }, (_, i) =>
    image(`123456789012.dkr.ecr.${REGION}.amazonaws.com/${teams[i % teams.length]}/${services[(i >> 3) % services.length]}`, `2026.${1 + (i % 11)}.${i}-${hex(next, 7)}`),
  );
  return { system, pool };
})();

function imageEntry(image: Image): JsonObject {
  return { names: [`${image.repo}@sha256:${image.digest}`, `${image.repo}:${image.tag}`], sizeBytes: image.sizeBytes };
}

/** The node's 25 images: the 10 system ones and 15 from the pool (chosen by the node's seed). */
function imagesOf(next: () => number): JsonObject[] {
  const chosen = new Set<number>();
  while (chosen.size < 15) chosen.add(Math.floor(next() * IMAGES.pool.length));
  // kubelet sorts by size, largest first.
  return [...IMAGES.system, ...[...chosen].map((i) => IMAGES.pool[i]!)].sort((a, b) => b.sizeBytes - a.sizeBytes).map(imageEntry);
}

/** An InternalIP on the cloud VPC (172.20.0.0/14), distinct from the eth1 address on 192.168.0.0/16. */
export function internalIpOf(index: number): string {
  const n = index + 10;
  return `172.${20 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`;
}

const CONDITION_TYPES = ['MemoryPressure', 'DiskPressure', 'PIDPressure', 'Ready'] as const;

function conditions(heartbeat: number, since: number): JsonObject[] {
  const kubelet: Record<(typeof CONDITION_TYPES)[number], [string, string, string]> = {
    MemoryPressure: ['False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'],
    DiskPressure: ['False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'],
    PIDPressure: ['False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'],
    Ready: ['True', 'KubeletReady', 'kubelet is posting ready status'],
  };
  return [
    // What a bridgeway agent set on an earlier run (the agent's own condition).
    { type: 'NetworkUnavailable', status: 'False', reason: 'BridgewayIsUp', message: 'bridgeway routes and rules are in place', lastHeartbeatTime: rfc3339(since + 30_000), lastTransitionTime: rfc3339(since + 30_000) },
    ...CONDITION_TYPES.map((type) => {
      const [status, reason, message] = kubelet[type];
      return { type, status, reason, message, lastHeartbeatTime: rfc3339(heartbeat), lastTransitionTime: rfc3339(since) };
    }),
  ];
}

const fields = (keys: readonly string[]) => Object.fromEntries(keys.map((k) => [`f:${k}`, {}]));

/** managedFields as the API server records them for these four writers. */
function managedFields(podCIDR: string, created: number, heartbeat: number, labels: readonly string[]): JsonObject[] {
  const conditionFields = { 'f:lastHeartbeatTime': {}, 'f:lastTransitionTime': {}, 'f:message': {}, 'f:reason': {}, 'f:status': {} };
  return [
    {
      manager: 'kubeadm', operation: 'Update', apiVersion: 'v1', time: rfc3339(created + 4000), fieldsType: 'FieldsV1',
      fieldsV1: { 'f:metadata': { 'f:annotations': { 'f:kubeadm.alpha.kubernetes.io/cri-socket': {} }, 'f:labels': { 'f:node-role.kubernetes.io/worker': {} } } },
    },
    {
      manager: 'kubelet', operation: 'Update', apiVersion: 'v1', time: rfc3339(created), fieldsType: 'FieldsV1',
      fieldsV1: {
        'f:metadata': {
          'f:annotations': { '.': {}, ...fields(['alpha.kubernetes.io/provided-node-ip', 'csi.volume.kubernetes.io/nodeid', 'volumes.kubernetes.io/controller-managed-attach-detach']) },
          'f:labels': { '.': {}, ...fields(labels.filter((l) => !l.startsWith('node-role.'))) },
        },
        'f:spec': { 'f:providerID': {} },
      },
    },
    {
      manager: 'kube-controller-manager', operation: 'Update', apiVersion: 'v1', time: rfc3339(created + 9000), fieldsType: 'FieldsV1',
      fieldsV1: {
        'f:metadata': { 'f:annotations': { 'f:node.alpha.kubernetes.io/ttl': {} } },
        'f:spec': { 'f:podCIDR': {}, 'f:podCIDRs': { '.': {}, [`v:"${podCIDR}"`]: {} } },
      },
    },
    {
      manager: 'kubelet', operation: 'Update', apiVersion: 'v1', time: rfc3339(heartbeat), fieldsType: 'FieldsV1', subresource: 'status',
      fieldsV1: {
        'f:status': {
          'f:addresses': { '.': {}, 'k:{"type":"Hostname"}': { '.': {}, 'f:address': {}, 'f:type': {} }, 'k:{"type":"InternalIP"}': { '.': {}, 'f:address': {}, 'f:type': {} } },
          'f:allocatable': { '.': {}, ...fields(['cpu', 'ephemeral-storage', 'hugepages-1Gi', 'hugepages-2Mi', 'memory', 'pods']) },
          'f:capacity': { '.': {}, ...fields(['cpu', 'ephemeral-storage', 'hugepages-1Gi', 'hugepages-2Mi', 'memory', 'pods']) },
          'f:conditions': Object.fromEntries(CONDITION_TYPES.map((t) => [`k:{"type":"${t}"}`, { '.': {}, ...conditionFields, 'f:type': {} }])),
          'f:daemonEndpoints': { 'f:kubeletEndpoint': { 'f:Port': {} } },
          'f:images': {},
          'f:nodeInfo': fields(['architecture', 'bootID', 'containerRuntimeVersion', 'kernelVersion', 'kubeProxyVersion', 'kubeletVersion', 'machineID', 'operatingSystem', 'osImage', 'systemUUID']),
          'f:runtimeHandlers': {},
        },
      },
    },
  ];
}

/** One Node for `spec` (the index is its position in clusterOf()). */
export function kubeNodeOf(spec: NodeSpec, index: number): JsonObject {
  const next = rng(0x9e3779b9 ^ index);
  const zone = ZONES[index % ZONES.length]!;
  const instanceType = INSTANCE_TYPES[index % INSTANCE_TYPES.length]!;
  const instanceId = `i-0${hex(next, 16)}`;
  const internalIP = internalIpOf(index);
  const created = BASE_TIME + index * 1000;
  const heartbeat = BASE_TIME + 50 * 86_400_000 + Math.floor(next() * 300_000);
  const labels: Record<string, string> = {
    'beta.kubernetes.io/arch': 'amd64',
    'beta.kubernetes.io/instance-type': instanceType,
    'beta.kubernetes.io/os': 'linux',
    'failure-domain.beta.kubernetes.io/region': REGION,
    'failure-domain.beta.kubernetes.io/zone': zone,
    'kubernetes.io/arch': 'amd64',
    'kubernetes.io/hostname': spec.name,
    'kubernetes.io/os': 'linux',
    'node-role.kubernetes.io/worker': '',
    'node.kubernetes.io/instance-type': instanceType,
    'topology.ebs.csi.aws.com/zone': zone,
    'topology.kubernetes.io/region': REGION,
    'topology.kubernetes.io/zone': zone,
  };
  const cpu = instanceType.includes('2xlarge') ? 8 : 4;
  const memoryKi = (instanceType.startsWith('r6i') ? 32 : instanceType.startsWith('c6i') ? 16 : cpu * 4) * 1024 * 1024 - 420_000;
  const resources = (reserved: boolean): JsonObject => ({
    cpu: reserved ? `${cpu * 1000 - 80}m` : String(cpu),
    'ephemeral-storage': reserved ? '95491281146' : '104845292Ki',
    'hugepages-1Gi': '0',
    'hugepages-2Mi': '0',
    memory: `${reserved ? memoryKi - 700_000 : memoryKi}Ki`,
    pods: '110',
  });
  return {
    kind: 'Node',
    apiVersion: 'v1',
    metadata: {
      name: spec.name,
      uid: uuid(next),
      creationTimestamp: rfc3339(created),
      labels,
      annotations: {
        'alpha.kubernetes.io/provided-node-ip': internalIP,
        'csi.volume.kubernetes.io/nodeid': JSON.stringify({ 'ebs.csi.aws.com': instanceId }),
        'kubeadm.alpha.kubernetes.io/cri-socket': 'unix:///run/containerd/containerd.sock',
        'node.alpha.kubernetes.io/ttl': '0',
        'volumes.kubernetes.io/controller-managed-attach-detach': 'true',
        [ETH1_ANNOTATION]: spec.eth1IP,
      },
      managedFields: managedFields(spec.podCIDR, created, heartbeat, Object.keys(labels)),
    },
    spec: { podCIDR: spec.podCIDR, podCIDRs: [spec.podCIDR], providerID: `aws:///${zone}/${instanceId}` },
    status: {
      capacity: resources(false),
      allocatable: resources(true),
      conditions: conditions(heartbeat, created + 20_000),
      addresses: [
        { type: 'InternalIP', address: internalIP },
        { type: 'Hostname', address: spec.name },
      ],
      daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
      nodeInfo: {
        machineID: hex(next, 32),
        systemUUID: `ec2${hex(next, 5)}-${hex(next, 4)}-${hex(next, 4)}-${hex(next, 4)}-${hex(next, 12)}`,
        bootID: uuid(next),
        kernelVersion: '6.1.0-28-cloud-amd64',
        osImage: 'Debian GNU/Linux 12 (bookworm)',
        containerRuntimeVersion: 'containerd://1.7.24',
        kubeletVersion: KUBE_VERSION,
        kubeProxyVersion: KUBE_VERSION,
        operatingSystem: 'linux',
        architecture: 'amd64',
      },
      images: imagesOf(next),
      runtimeHandlers: [
        { name: 'runc', features: { recursiveReadOnlyMounts: true, userNamespaces: true } },
        { name: '', features: { recursiveReadOnlyMounts: true, userNamespaces: true } },
      ],
    },
  };
}

export function kubeClusterOf(specs: readonly NodeSpec[]): JsonObject[] {
  return specs.map((spec, i) => kubeNodeOf(spec, i));
}

/**
 * A status-only update of the kind kubelet sends all the time, nothing the agent routes by:
 * even `rep`s move every condition's lastHeartbeatTime (kubelet's periodic status report),
 * odd ones swap one image for a freshly pulled one (a rollout reached this node).
 */
export function statusNoise(node: JsonObject, rep: number): string {
  const status = node.status as JsonObject;
  const now = rfc3339(Date.now());
  // The API server stamps the writer's managedFields entry with the time of its last write.
  const entry = ((node.metadata as JsonObject).managedFields as JsonObject[]).find((m) => m.manager === 'kubelet' && m.subresource === 'status');
  if (entry) entry.time = now;
  if (rep % 2 === 0) {
    const conditionList = status.conditions as JsonObject[];
    for (const condition of conditionList) if (condition.type !== 'NetworkUnavailable') condition.lastHeartbeatTime = now;
    return 'heartbeat';
  }
  const images = status.images as JsonObject[];
  const next = rng(rep * 7919);
  const pulled = IMAGES.pool[rep % IMAGES.pool.length]!;
  images.splice(Math.floor(next() * images.length), 1);
  images.unshift(imageEntry({ ...pulled, tag: `2026.12.${rep}-${hex(next, 7)}`, digest: hex(next, 64) }));
  return 'image pulled';
}
