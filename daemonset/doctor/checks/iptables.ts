// Pure: our iptables backend against kube-proxy's, and our hooks and chains against what the
// agent plans (iptables/plan.ts), in the backend the agent would choose, for each family the
// agent programs (ip6tables for IPv6, in the same backend).
import type { IpCidr, IpFamily } from '../../../lib/cidr.ts';
import { backendFor, chooseBackend, holdsKubeProxyChains, type IptablesMode } from '../../../lib/iptables/backend.ts';
import { parseIptablesSave, rulesOf } from '../../../lib/iptables/save.ts';
import { backendDecidingFamily, OWNED_CHAINS, planIptables, type ChainSpec } from '../../iptables/plan.ts';
import { fail, ok, warn, type Finding } from '../finding.ts';
import type { CheckContext } from './context.ts';
import { FORWARD_CHAIN } from '../../../lib/names.ts';

const AGENT_FIX = 'the agent rewrites its chains on every sync: check that it runs (`/readyz`), or run `bridgeway-agent --once` with its flags';

export function checkIptables({ facts, podCIDRs }: CheckContext): Finding[] {
  const { settings } = facts;
  const saves: Record<IpFamily, Partial<Record<IptablesMode, string>>> = { 4: facts.iptables, 6: facts.ip6tables ?? {} };
  // One mode for both families, chosen from the tables the agent chooses it from (iptables/step.ts).
  const deciding = saves[backendDecidingFamily(settings.clusterCIDRs.map((c) => c.family))];
  let chosen: IptablesMode;
  try {
    chosen = chooseBackend(deciding, settings.forcedBackend).mode;
  } catch (error) {
    return [fail('iptables', 'iptables', (error as Error).message, 'install the iptables package (iptables-nft and iptables-legacy)')];
  }
  const findings: Finding[] = [checkBackend(deciding, chosen, settings.forcedBackend)];
  // The agent programs nothing before it knows its podCIDRs; then each family's chains, in ip6tables for IPv6.
  if (!podCIDRs) return findings;
  for (const clusterCIDR of settings.clusterCIDRs) {
    const podCIDR = podCIDRs.find((c) => c.family === clusterCIDR.family);
    if (!podCIDR) continue;
    const tool = backendFor(chosen, '', clusterCIDR.family).iptables;
    findings.push(...checkChains(saves[clusterCIDR.family][chosen] ?? '', tool, { clusterCIDR, podCIDR }));
  }
  return findings;
}

/** Our hooks and chains in one family's tables (`tool`: iptables-nft, ip6tables-legacy, ...), and its FORWARD policy. */
function checkChains(text: string, tool: string, cidrs: { clusterCIDR: IpCidr; podCIDR: IpCidr }): Finding[] {
  const findings: Finding[] = [];
  const saved = parseIptablesSave(text);
  // Whether MASQUERADE gets --random-fully depends on the iptables build: accept either.
  const variants = [true, false].map((randomFully) => planIptables({ ...cidrs, randomFully }));
  let forwardIntact = true;
  for (const [index, owned] of OWNED_CHAINS.entries()) {
    const before = findings.length;
    const where = `${tool} ${owned.table}`;
    const hooks = rulesOf(saved, owned.table, owned.hook.chain).filter((r) => r === owned.hook.rule).length;
    const hookObject = `${where} ${owned.hook.chain} -j ${owned.chain}`;
    if (hooks === 0) findings.push(fail('iptables', hookObject, `the jump to ${owned.chain} is missing: ${owned.table === 'filter' ? 'forwarded pod traffic meets only the FORWARD policy' : 'pods are not masqueraded to the outside'}`, AGENT_FIX));
    else if (hooks > 1) findings.push(warn('iptables', hookObject, `${hooks} jumps instead of one`, AGENT_FIX));
    else findings.push(ok('iptables', hookObject, 'present'));

    const chainObject = `${where} chain ${owned.chain}`;
    const actual = rulesOf(saved, owned.table, owned.chain);
    const specs = variants.map((v) => v[index]!) as ChainSpec[];
    if (!saved.get(owned.table)?.chains.has(owned.chain)) {
      findings.push(fail('iptables', chainObject, 'missing', AGENT_FIX));
    } else if (specs.some((spec) => spec.rules.join('\n') === actual.join('\n'))) {
      findings.push(ok('iptables', chainObject, `complete (${actual.length} rules)`));
    } else {
      const wanted = specs[0]!.rules;
      const missing = wanted.filter((rule) => !actual.includes(rule) && !actual.includes(rule.replace(' --random-fully', '')));
      const extra = actual.filter((rule) => !specs.some((spec) => spec.rules.includes(rule)));
      const parts = [missing.length && `missing ${missing.map((r) => JSON.stringify(r)).join(', ')}`, extra.length && `unexpected ${extra.map((r) => JSON.stringify(r)).join(', ')}`, !missing.length && !extra.length && 'rules out of order'];
      findings.push(fail('iptables', chainObject, `incomplete: ${parts.filter(Boolean).join('; ')}`, AGENT_FIX));
    }
    if (owned.table === 'filter' && findings.slice(before).some((f) => f.severity === 'FAIL')) forwardIntact = false;
  }
  findings.push(checkForwardPolicy(text, tool, forwardIntact));
  return findings;
}

function checkBackend(saved: Partial<Record<IptablesMode, string>>, chosen: IptablesMode, forced: IptablesMode | undefined): Finding {
  const kube = (['nft', 'legacy'] as const).filter((m) => saved[m] !== undefined && holdsKubeProxyChains(saved[m]!));
  const ours = (['nft', 'legacy'] as const).filter((m) => saved[m] !== undefined && new RegExp(`^:${FORWARD_CHAIN} `, 'm').test(saved[m]!));
  const object = `iptables backend ${chosen}`;
  if (kube.length === 1 && chosen !== kube[0]) {
    return fail('iptables', object, `kube-proxy's KUBE-* chains are in iptables-${kube[0]}: rules in the other backend are invisible to it`, forced ? `remove --iptables ${forced} (BRIDGEWAY_IPTABLES), or set it to ${kube[0]}` : `set --iptables ${kube[0]}`);
  }
  const stale = ours.filter((m) => m !== chosen);
  if (stale.length) return warn('iptables', object, `our chains are also in iptables-${stale.join(', ')} (an earlier run chose it)`, 'bridgeway-agent uninstall removes both, then restart the agent');
  const kubeText = kube.length === 0 ? 'no KUBE-* chains in either backend (kube-proxy not in iptables mode here)' : kube.length === 1 ? `same as kube-proxy's` : 'kube-proxy\'s chains are in both backends';
  return kube.length > 1 ? warn('iptables', object, kubeText, 'find which kube-proxy is current and remove the other backend\'s KUBE-* chains') : ok('iptables', object, kubeText);
}

/** FORWARD's policy is often DROP (Docker, hardened hosts): then pod traffic lives on our accept rules. */
function checkForwardPolicy(saved: string, tool: string, forwardIntact: boolean): Finding {
  const filter = saved.split(/^\*/m).find((t) => t.startsWith('filter')) ?? '';
  const policy = /^:FORWARD (\S+)/m.exec(filter)?.[1] ?? 'ACCEPT';
  const object = `${tool} filter FORWARD policy`;
  if (policy === 'ACCEPT') return ok('iptables', object, 'ACCEPT');
  return !forwardIntact
    ? fail('iptables', object, `${policy}, and our accept rules are not in place: forwarded pod traffic is dropped`, AGENT_FIX)
    : ok('iptables', object, `${policy} (pod traffic is accepted by ${FORWARD_CHAIN})`);
}
