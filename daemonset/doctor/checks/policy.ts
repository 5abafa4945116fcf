// Pure: NetworkPolicy on this node. Enforcement needs the kernel's nf_tables and conntrack, and
// br_netfilter's switches on (else same-node traffic bypasses the table: enforcing cross-node
// traffic only is worse than saying so); the table must be in the kernel; and the agent's /readyz
// names what it could not compile or apply.
import { POLICY_TABLE } from '../../../lib/names.ts';
import { BRIDGE_NF_SYSCTL } from '../../host/checks.ts';
import type { CheckContext } from './context.ts';
import { fail, ok, warn, type Finding } from '../finding.ts';

const TABLE = `table inet ${POLICY_TABLE}`;

export function checkPolicy({ facts }: CheckContext): Finding[] {
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
    findings.push(warn('policy', 'NetworkPolicy on same-node traffic', `the pods' switch is Open vSwitch, which switches pod-to-pod traffic within this node past ${TABLE}: policies are enforced only across nodes`, 'use --bridge-type linux (with br_netfilter) where same-node policy matters'));
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
    else if (/^NetworkPolicy enforcement not ready: /.test(line) && !/bridge-nf-call|Open vSwitch/.test(line)) findings.push(fail('policy', 'agent', line, 'see the agent\'s log'));
  }
  return findings;
}
