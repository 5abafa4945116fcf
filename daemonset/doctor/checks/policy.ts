// Pure: NetworkPolicy on this node. Enforcement needs the kernel's nf_tables and conntrack, and
// on a Linux bridge br_netfilter's switches on, on Open vSwitch our steering flows (else same-node
// traffic bypasses the table: enforcing cross-node traffic only is worse than saying so); the
// table must be in the kernel; and the agent's /readyz
// names what it could not compile or apply.
import { POLICY_TABLE } from '../../../lib/names.ts';
import { BRIDGE_NF_SYSCTL } from '../../host/checks.ts';
import type { CheckContext } from './context.ts';
import type { PolicyFacts } from '../facts.ts';
import { fail, ok, warn, type Finding } from '../finding.ts';
import { planSteeringFlows, steeringInPlace } from '../../ovs/steering.ts';

const TABLE = `table inet ${POLICY_TABLE}`;

export function checkPolicy({ facts, podCIDRs }: CheckContext): Finding[] {
  const { policy, settings } = facts;
  const table = policy.table;
  if (!policy.enabled) {
    return 'chains' in table
      ? [warn('policy', TABLE, 'present, but NetworkPolicy enforcement is off (BRIDGEWAY_NETWORK_POLICY=false): it still judges pod traffic', `nft delete table inet ${POLICY_TABLE} (the agent removes it when it starts with enforcement off)`)]
      : [ok('policy', TABLE, 'absent: NetworkPolicy is left to another product (BRIDGEWAY_NETWORK_POLICY=false)')];
  }
  if (settings.mode === 'standalone' && !('chains' in table)) return [ok('policy', TABLE, 'absent: standalone mode has no API to watch, NetworkPolicy is not enforced')];
  const findings: Finding[] = [];
  const missing = [
    ...(policy.features.nfTables ? [] : ['nf_tables (the table itself, inet family)']),
    ...(policy.features.conntrack ? [] : ['nf_conntrack (replies of allowed connections; ct state in the inet family)']),
  ];
  if (missing.length > 0) findings.push(fail('policy', 'kernel features', `missing: ${missing.join(', ')}: NetworkPolicy cannot be enforced`, 'modprobe nf_tables nf_conntrack (or a kernel built with CONFIG_NF_TABLES_INET and CONFIG_NF_CONNTRACK)'));
  const families = settings.clusterCIDRs.length ? settings.clusterCIDRs.map((c) => c.family) : [4 as const];
  if (settings.bridgeType === 'ovs') {
    findings.push(checkSteering(policy.steering, settings.bridge, podCIDRs));
  } else for (const family of families) {
    const key = BRIDGE_NF_SYSCTL[family];
    const value = facts.sysctls[key];
    if (value !== '1') {
      findings.push(fail('policy', `NetworkPolicy on same-node traffic (${key})`, `${value ?? 'absent'}: pod-to-pod traffic switched by the bridge bypasses ${TABLE}: policies are enforced only across nodes`, `modprobe br_netfilter; sysctl -w ${key}=1, persisted in /etc/sysctl.d/`));
    }
  }
  if ('absent' in table) {
    findings.push(table.absent === 'nft'
      ? fail('policy', TABLE, 'cannot be read: nft is not installed', 'install nftables (the agent\'s image has it)')
      : fail('policy', TABLE, 'missing: no NetworkPolicy is enforced on this node', 'see the agent\'s /readyz and log: it loads the table once it has listed pods, namespaces and networkpolicies'));
  } else if ('error' in table) {
    findings.push(fail('policy', TABLE, `cannot be read: ${table.error}`, 'nft -j list table inet bridgeway_policy'));
  } else {
    findings.push(ok('policy', TABLE, `present: ${table.chains} chains, ${table.rules} rules, ${table.sets} sets with ${table.elements} elements; addresses of this node's isolated pods: ${table.isolated.ingress} for ingress, ${table.isolated.egress} for egress`));
  }
  // What the agent says: how many policies it compiled, what it could not compile or apply.
  for (const line of (facts.agent.body ?? '').split('\n')) {
    if (/^NetworkPolicy enforced: /.test(line)) findings.push(ok('policy', 'agent', line));
    else if (/^NetworkPolicy .* cannot be compiled/.test(line)) findings.push(warn('policy', line.split(' ')[1]!, line, 'fix the policy: as it is, it isolates what it selects and allows nothing'));
    else if (/^NetworkPolicy enforcement not ready: /.test(line) && !/bridge-nf-call/.test(line)) findings.push(fail('policy', 'agent', line, 'see the agent\'s log'));
  }
  return findings;
}

/**
 * Open vSwitch switches pod-to-pod frames of this node past every netfilter hook: the agent's
 * OpenFlow flows (ovs/steering.ts) send them through the node. In place: the flows the agent would
 * install for this node's podCIDRs and the bridge's LOCAL MAC are all there (by cookie).
 */
function checkSteering(steering: PolicyFacts['steering'], bridge: string, podCIDRs: CheckContext['podCIDRs']): Finding {
  const object = `NetworkPolicy on same-node traffic (OpenFlow flows on ${bridge})`;
  const fix = 'see the agent\'s log and /readyz (step ovs-steering); the agent installs the flows at every sync';
  if (!steering) return fail('policy', object, 'not read', fix);
  if ('error' in steering) {
    return /does not exist/.test(steering.error)
      ? ok('policy', object, `no bridge yet (no pod on this node): nothing to steer (${steering.socket} absent)`)
      : fail('policy', object, `cannot be read: ${steering.error}: pod-to-pod traffic of this node may bypass ${TABLE}`, fix);
  }
  if (!podCIDRs?.length || !steering.localMac) return warn('policy', object, `${steering.cookies.length} flows of ours; this node's podCIDRs or the bridge's LOCAL port unknown: cannot tell whether they are complete`, fix);
  const wanted = planSteeringFlows({ podCIDRs, localMac: steering.localMac });
  if (!steeringInPlace(wanted, steering.cookies)) {
    return fail('policy', object, `${wanted.filter((f) => !steering.cookies.includes(f.add.cookie)).length} of ${wanted.length} flows missing: pod-to-pod traffic of this node is switched by Open vSwitch past ${TABLE} (and Services with a backend here break)`, fix);
  }
  return ok('policy', object, `${wanted.length} flows in place: pod-to-pod traffic of this node is routed through the node and judged by ${TABLE}`);
}
