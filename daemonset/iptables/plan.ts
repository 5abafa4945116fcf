// Pure: our iptables chains as data, and the iptables-restore --noflush payload that brings the
// kernel to them. The rules are written exactly as iptables-save prints them, so "in sync" is a
// string comparison. Their number does not depend on the number of nodes. IPv6 gets the same
// chains, in ip6tables, with its own CIDRs.
import { formatCidr, type IpCidr, type IpFamily } from '../../lib/cidr.ts';
import { rulesOf, type SavedTables } from '../../lib/iptables/save.ts';
import { FORWARD_CHAIN, FORWARD_HOOK_COMMENT, POSTROUTING_CHAIN, POSTROUTING_HOOK_COMMENT } from '../../lib/names.ts';

/** kube-proxy marks packets it will masquerade itself with this bit. */
const KUBE_MASQ_MARK = '0x4000/0x4000';

/** A chain we own and the one rule in a built-in chain that sends traffic to it (inserted first). */
export interface OwnedChain {
  table: 'filter' | 'nat';
  chain: string;
  hook: { chain: 'FORWARD' | 'POSTROUTING'; rule: string };
}

export interface ChainSpec extends OwnedChain {
  rules: string[];
}

export interface IptablesInputs {
  /** The cluster CIDR and our podCIDR of one family. */
  clusterCIDR: IpCidr;
  podCIDR: IpCidr;
  randomFully: boolean;
}

/** Multicast is link-scoped for pods: never masqueraded (224.0.0.0/4, ff00::/8). */
const MULTICAST: Record<IpFamily, string> = { 4: '224.0.0.0/4', 6: 'ff00::/8' };

function comment(text: string): string {
  return `-m comment --comment "${text}"`;
}

const FORWARD_OWNED: OwnedChain = {
  table: 'filter',
  chain: FORWARD_CHAIN,
  hook: { chain: 'FORWARD', rule: `${comment(FORWARD_HOOK_COMMENT)} -j ${FORWARD_CHAIN}` },
};
const POSTROUTING_OWNED: OwnedChain = {
  table: 'nat',
  chain: POSTROUTING_CHAIN,
  hook: { chain: 'POSTROUTING', rule: `${comment(POSTROUTING_HOOK_COMMENT)} -j ${POSTROUTING_CHAIN}` },
};
/** Everything the agent owns in iptables, whatever its configuration (uninstall removes these). */
export const OWNED_CHAINS: readonly OwnedChain[] = [FORWARD_OWNED, POSTROUTING_OWNED];

export function planIptables({ clusterCIDR, podCIDR, randomFully }: IptablesInputs): ChainSpec[] {
  const cluster = formatCidr(clusterCIDR);
  const own = formatCidr(podCIDR);
  const masquerade = `-j MASQUERADE${randomFully ? ' --random-fully' : ''}`;
  const family = clusterCIDR.family;
  return [
    {
      ...FORWARD_OWNED,
      // FORWARD's policy is often DROP (Docker, hardened hosts): pod traffic must pass both ways.
      rules: [
        `-s ${cluster} ${comment('bridgeway: from pods')} -j ACCEPT`,
        `-d ${cluster} ${comment('bridgeway: to pods')} -j ACCEPT`,
      ],
    },
    {
      ...POSTROUTING_OWNED,
      rules: [
        `-m mark --mark ${KUBE_MASQ_MARK} ${comment('bridgeway: kube-proxy masquerades these')} -j RETURN`,
        `-s ${cluster} -d ${cluster} ${comment('bridgeway: pod to pod keeps the source')} -j RETURN`,
        `! -s ${cluster} -d ${own} ${comment('bridgeway: host to local pod')} -j RETURN`,
        `-s ${cluster} ! -d ${MULTICAST[family]} ${comment('bridgeway: pod to outside')} ${masquerade}`,
        `! -s ${cluster} -d ${cluster} ${comment('bridgeway: host to remote pod')} ${masquerade}`,
      ],
    },
  ];
}

/**
 * The iptables-restore --noflush payload that makes `actual` match `specs`, or undefined when it
 * already does. Declaring our chain flushes and refills it atomically; built-in chains are never
 * declared (that would flush other people's rules): their hook is inserted only when missing, and
 * duplicates are removed.
 */
export function restorePayload(specs: readonly ChainSpec[], actual: SavedTables): string | undefined {
  const lines: string[] = [];
  let changed = false;
  for (const table of ['filter', 'nat'] as const) {
    const inTable = specs.filter((s) => s.table === table);
    if (inTable.length === 0) continue;
    lines.push(`*${table}`);
    for (const spec of inTable) {
      const current = rulesOf(actual, table, spec.chain);
      const chainExists = actual.get(table)?.chains.has(spec.chain) ?? false;
      if (!chainExists || current.join('\n') !== spec.rules.join('\n')) changed = true;
      lines.push(`:${spec.chain} - [0:0]`, ...spec.rules.map((rule) => `-A ${spec.chain} ${rule}`));
      const hooks = rulesOf(actual, table, spec.hook.chain).filter((rule) => rule === spec.hook.rule).length;
      if (hooks === 0) {
        lines.push(`-I ${spec.hook.chain} 1 ${spec.hook.rule}`);
        changed = true;
      }
      for (let extra = 1; extra < hooks; extra++) {
        lines.push(`-D ${spec.hook.chain} ${spec.hook.rule}`);
        changed = true;
      }
    }
    lines.push('COMMIT');
  }
  return changed ? lines.join('\n') + '\n' : undefined;
}

/** Payload removing our hooks and chains (uninstall). */
export function removalPayload(actual: SavedTables, specs: readonly OwnedChain[] = OWNED_CHAINS): string | undefined {
  const lines: string[] = [];
  for (const table of ['filter', 'nat'] as const) {
    const body: string[] = [];
    for (const spec of specs.filter((s) => s.table === table)) {
      const hooks = rulesOf(actual, table, spec.hook.chain).filter((rule) => rule === spec.hook.rule).length;
      for (let i = 0; i < hooks; i++) body.push(`-D ${spec.hook.chain} ${spec.hook.rule}`);
      if (actual.get(table)?.chains.has(spec.chain)) body.push(`-F ${spec.chain}`, `-X ${spec.chain}`);
    }
    if (body.length) lines.push(`*${table}`, ...body, 'COMMIT');
  }
  return lines.length ? lines.join('\n') + '\n' : undefined;
}

/**
 * The family whose tables decide the one iptables mode of both families: IPv4's, IPv6's on an
 * IPv6-only node. As kube-proxy's iptables wrapper does: mixing nft and legacy per family would
 * split its rules.
 */
export function backendDecidingFamily(families: readonly IpFamily[]): IpFamily {
  return families.includes(4) || families.length === 0 ? 4 : 6;
}
