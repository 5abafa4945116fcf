// The cluster's Pods, Namespaces and NetworkPolicies listed once, slimmed as the informers slim
// them: what `bridgeway-agent policy explain` compiles, so it judges from the data the agent would.
import type { PolicyObjects } from '../policy/source.ts';
import { loadKubeConfig, type KubeConfig } from './config.ts';
import { REQUEST_TIMEOUT_MS } from './http.ts';
import { listAll } from './pager.ts';
import { NAMESPACES_PATH, NETWORK_POLICIES_PATH, PODS_PATH, slimNamespace, slimNetworkPolicy, slimPod } from './policy-objects.ts';

export async function listPolicyObjects(kubeconfig?: string | KubeConfig): Promise<PolicyObjects> {
  const kc = loadKubeConfig(kubeconfig);
  const options = { pageSize: 500, signal: () => AbortSignal.timeout(REQUEST_TIMEOUT_MS) };
  const [pods, namespaces, policies] = await Promise.all([
    listAll(kc, PODS_PATH, slimPod, options),
    listAll(kc, NAMESPACES_PATH, slimNamespace, options),
    listAll(kc, NETWORK_POLICIES_PATH, slimNetworkPolicy, options),
  ]);
  return { pods: pods.items, namespaces: namespaces.items, policies: policies.items };
}
