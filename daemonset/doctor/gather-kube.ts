// Kubernetes mode: the Node list as the agent's informer would see it, and whether the agent's
// identity may do what the agent does (SelfSubjectAccessReview: the API server's own answer, so
// it covers every authorizer, not only RBAC). Loaded only in Kubernetes mode, as in main.ts.
import { errorMessage } from '../../lib/errors.ts';
import type { AgentConfig } from '../config.ts';
import type { ClusterNode } from '../nodes/peers.ts';
import type { AccessReview, DoctorFacts } from './facts.ts';

/** What the agent calls (kube/): the informer, the eth1 annotation, the condition, Node events. */
const AGENT_ACCESS: readonly AccessReview[] = [
  { verb: 'list', resource: 'nodes' },
  { verb: 'watch', resource: 'nodes' },
  { verb: 'patch', resource: 'nodes' },
  { verb: 'patch', resource: 'nodes/status' },
  { verb: 'create', resource: 'events', namespace: 'default' },
];

/** What the policy informers call (kube/policy-source.ts), when NetworkPolicy is enforced. */
const POLICY_ACCESS: readonly AccessReview[] = [
  ...['pods', 'namespaces'].flatMap((resource) => ['list', 'watch'].map((verb) => ({ verb, resource }))),
  ...['list', 'watch'].map((verb) => ({ verb, resource: 'networkpolicies', group: 'networking.k8s.io' })),
];

const TIMEOUT_MS = 10_000;

export async function gatherKube(config: AgentConfig): Promise<{ nodes: DoctorFacts['nodes']; kube: NonNullable<DoctorFacts['kube']> }> {
  const { loadKubeConfig, toClusterNode } = await import('../kube/index.ts');
  const { kubeRequest } = await import('../kube/http.ts');
  const { listAllNodes } = await import('../kube/node-list.ts');
  const { summarize } = await import('../kube/errors.ts');
  let kc;
  try {
    kc = loadKubeConfig(config.kubeconfig);
  } catch (error) {
    const message = `kubeconfig: ${errorMessage(error)}`;
    return { nodes: { error: message }, kube: { server: config.kubeconfig ?? '(in-cluster)', error: message, access: [] } };
  }
  const server = kc.getCurrentCluster()?.server ?? '?';
  // The agent's one-line summary of an API error; `answered`: the API server answered (an HTTP status).
  const describe = (error: unknown): { text: string; answered: boolean } => {
    const { message, code } = summarize(error);
    if (typeof code === 'number') return { text: `HTTP ${code}: ${message}`, answered: true };
    return { text: code ? `${code} (${message})` : message, answered: false };
  };

  let nodes: DoctorFacts['nodes'];
  let unreachable: string | undefined;
  try {
    // Paged as the informer lists, and slimmed as it caches: the nodes exactly as the agent sees them.
    const { items } = await listAllNodes(kc, { signal: () => AbortSignal.timeout(TIMEOUT_MS) });
    const list: ClusterNode[] = items.map(toClusterNode);
    nodes = { list };
  } catch (error) {
    const { text, answered } = describe(error);
    nodes = { error: `list nodes: ${text}` };
    if (!answered) unreachable = text;
  }
  if (unreachable) return { nodes, kube: { server, error: unreachable, access: [] } };

  const wants = [...AGENT_ACCESS, ...(config.networkPolicy ? POLICY_ACCESS : [])];
  const access = await Promise.all(wants.map(async (wanted): Promise<AccessReview> => {
    const [resource, subresource] = wanted.resource.split('/');
    const body = {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SelfSubjectAccessReview',
      spec: { resourceAttributes: { group: wanted.group ?? '', resource, verb: wanted.verb, ...(subresource && { subresource }), ...(wanted.namespace && { namespace: wanted.namespace }) } },
    };
    try {
      const answer = JSON.parse(await kubeRequest(kc, {
        method: 'POST',
        path: '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews',
        body: { contentType: 'application/json', json: body },
        signal: AbortSignal.timeout(TIMEOUT_MS),
      })) as { status?: { allowed?: boolean; reason?: string } };
      return { ...wanted, allowed: answer.status?.allowed === true, ...(answer.status?.reason && { reason: answer.status.reason }) };
    } catch (error) {
      return { ...wanted, error: describe(error).text };
    }
  }));
  return { nodes, kube: { server, access } };
}
