// Pure: Pods, Namespaces and NetworkPolicies as the agent keeps them. The policy informers cache
// every Pod of the cluster, so each one is cut down, before the cache sees it, to the fields the
// compiler reads (policy/model.ts) plus what the cache needs (name, namespace, resourceVersion):
// a kubelet-made Pod is 5-10 KB of JSON (managedFields, status conditions, container statuses,
// volumes), its slim form a few hundred bytes.
import type { ContainerPort, Namespace, NetworkPolicy, Pod } from '../policy/model.ts';

export const PODS_PATH = '/api/v1/pods';
export const NAMESPACES_PATH = '/api/v1/namespaces';
export const NETWORK_POLICIES_PATH = '/apis/networking.k8s.io/v1/networkpolicies';

type Meta = { name?: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string> };

/** The fields a cache keys by, and labels only when there are some. */
function slimMeta(metadata: Meta | undefined, namespaced: boolean): any {
  const m = metadata ?? {};
  const labels = m.labels && Object.keys(m.labels).length > 0 ? { ...m.labels } : undefined;
  return { name: m.name, ...(namespaced && { namespace: m.namespace }), resourceVersion: m.resourceVersion, ...(labels && { labels }) };
}

function slimPorts(ports: readonly any[] | undefined): ContainerPort[] | undefined {
  // Only named ports matter (a policy names them); numbered ones are matched by number.
  const named = (ports ?? []).filter((p) => typeof p?.name === 'string' && p.name !== '');
  return named.length ? named.map((p) => ({ name: p.name, containerPort: p.containerPort, ...(p.protocol && p.protocol !== 'TCP' && { protocol: p.protocol }) })) : undefined;
}

function slimContainers(containers: readonly any[] | undefined): { ports: ContainerPort[] }[] | undefined {
  const kept = (containers ?? []).map((c) => slimPorts(c?.ports)).filter((p): p is ContainerPort[] => p !== undefined);
  return kept.length ? kept.map((ports) => ({ ports })) : undefined;
}

/** A Pod cut down to what the compiler reads: labels, node, hostNetwork, phase, addresses, named container ports. */
export function slimPod(pod: any): Pod & { metadata: { resourceVersion?: string } } {
  const spec = pod?.spec ?? {};
  const status = pod?.status ?? {};
  const podIPs = Array.isArray(status.podIPs) && status.podIPs.length ? status.podIPs.map((p: { ip: string }) => ({ ip: p.ip })) : status.podIP ? [{ ip: status.podIP }] : undefined;
  const containers = slimContainers(spec.containers);
  const initContainers = slimContainers(spec.initContainers); // sidecars (restartPolicy Always) serve ports too
  return {
    metadata: slimMeta(pod?.metadata, true),
    spec: {
      ...(spec.nodeName && { nodeName: spec.nodeName }),
      ...(spec.hostNetwork === true && { hostNetwork: true }),
      ...(containers && { containers }),
      ...(initContainers && { initContainers }),
    },
    status: { ...(status.phase && { phase: status.phase }), ...(podIPs && { podIPs }) },
  };
}

export function slimNamespace(namespace: any): Namespace & { metadata: { resourceVersion?: string } } {
  return { metadata: slimMeta(namespace?.metadata, false) };
}

/** A NetworkPolicy keeps its whole spec (it is all read) and drops status, annotations, managedFields. */
export function slimNetworkPolicy(policy: any): NetworkPolicy & { metadata: { resourceVersion?: string } } {
  const spec = policy?.spec ?? {};
  return { metadata: slimMeta(policy?.metadata, true), spec: { podSelector: spec.podSelector ?? {}, ...spec } };
}
