// Pure: the agent's view of the cluster: the node list, this Node and its podCIDR, the agent
// process itself (its /readyz), and in Kubernetes mode the API server and the agent's RBAC.
import { formatCidr } from '../../../lib/cidr.ts';
import { fail, ok, warn, type Finding } from '../finding.ts';
import type { CheckContext } from './context.ts';

export function checkNode({ facts, self, own }: CheckContext): Finding[] {
  const { settings, nodes } = facts;
  const source = settings.mode === 'kubernetes' ? 'the API server' : 'the nodes file';
  if ('error' in nodes) {
    return [fail('node', `node list (${source})`, nodes.error, settings.mode === 'kubernetes' ? 'see the API server and RBAC findings' : 'fix the nodes file (--nodes-file): YAML or JSON {nodes: [{name, podCIDR, eth1IP}]}')];
  }
  const object = `node ${settings.nodeName}`;
  if (!self || !own) return [fail('node', object, `not in ${source} (${nodes.list.length} nodes)`, settings.mode === 'kubernetes' ? 'set --node-name (NODE_NAME) to spec.nodeName (downward API)' : `add ${settings.nodeName} to the nodes file, or fix --node-name`)];
  // The podCIDRs as the agent derives them: one per family of the cluster CIDR, or it waits.
  if ('error' in own) return [fail('node', `${object} podCIDR`, `${own.error}: the agent waits and writes no conflist`, settings.mode === 'kubernetes' ? 'make --cluster-cidr (BRIDGEWAY_CLUSTER_CIDR) name the families kube-controller-manager allocates' : `give ${settings.nodeName} one podCIDR per family of --cluster-cidr in the nodes file`)];
  if ('none' in own) return [fail('node', `${object} podCIDR`, 'no podCIDR: the agent waits and writes no conflist', settings.mode === 'kubernetes' ? 'enable --allocate-node-cidrs with --cluster-cidr on kube-controller-manager' : `give ${settings.nodeName} a podCIDR in the nodes file`)];
  return [ok('node', `${object} podCIDR`, own.cidrs.map(formatCidr).join(', '))];
}

export function checkAgent({ facts }: CheckContext): Finding[] {
  const { agent } = facts;
  const object = `agent ${agent.url}`;
  const start = facts.settings.mode === 'kubernetes'
    ? 'kubectl -n kube-system get pods -l app.kubernetes.io/name=bridgeway -o wide; kubectl -n kube-system logs ds/bridgeway'
    : 'start bridgeway-agent with these flags (or check --health-addr)';
  if (agent.error) return [fail('agent', object, `not answering (${agent.error}): nothing repairs routes, chains or the conflist`, start)];
  if (agent.status === 200) return [ok('agent', object, 'ready')];
  return [fail('agent', object, `not ready (HTTP ${agent.status}): ${agent.body?.trim() ?? ''}`, 'the reason above; the agent log has the details')];
}

export function checkKube({ facts }: CheckContext): Finding[] {
  const { kube } = facts;
  if (!kube) return [];
  const findings: Finding[] = [];
  findings.push(kube.error
    ? fail('kubernetes', `API server ${kube.server}`, `unreachable: ${kube.error}`, 'check the kubeconfig (--kubeconfig) or the service account, and the node\'s route to the API server')
    : ok('kubernetes', `API server ${kube.server}`, 'reachable'));
  for (const review of kube.access) {
    const object = `RBAC ${review.verb} ${review.resource}${review.namespace ? ` in ${review.namespace}` : ''}`;
    if (review.error) findings.push(warn('kubernetes', object, `could not ask (SelfSubjectAccessReview): ${review.error}`, 'kubectl auth can-i --list --as=system:serviceaccount:kube-system:bridgeway'));
    else if (review.allowed) findings.push(ok('kubernetes', object, 'allowed'));
    else findings.push(fail('kubernetes', object, `denied${review.reason ? `: ${review.reason}` : ''}`, 'kubectl apply -f manifests/bridgeway.yaml (ClusterRole bridgeway and its binding)'));
  }
  return findings;
}
