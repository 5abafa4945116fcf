// The doctor's reads for NetworkPolicy: our table as the kernel lists it (`nft -j list table inet
// bridgeway_policy`, counted, not judged here), and whether the kernel has what the table relies
// on: nf_tables (the inet family is part of it) and conntrack (replies of allowed connections).
// Loaded modules show in /sys/module; conntrack's sysctls exist in every namespace once it is
// loaded. A table the kernel holds proves both; its absence, as the kernel reports it, proves
// nf_tables. Reads only.
import fs from 'node:fs';
import { nftAbsence } from '../../lib/antispoof/nft-cli.ts';
import { errorMessage } from '../../lib/errors.ts';
import type { Runner } from '../../lib/exec.ts';
import { POLICY_TABLE } from '../../lib/names.ts';
import { BASE } from '../policy/table.ts';
import type { PolicyFacts } from './facts.ts';

export const LIST_POLICY_TABLE = ['nft', '-j', 'list', 'table', 'inet', POLICY_TABLE] as const;

type NftJson = { nftables?: Record<string, { name?: string; elem?: unknown[] }>[] };

/** Counts of a listed table: chains, rules, sets and maps, their elements, this node's isolated pods. */
export function countPolicyTable(text: string): Extract<PolicyFacts['table'], { chains: number }> {
  const doc = JSON.parse(text) as NftJson;
  const counts = { chains: 0, rules: 0, sets: 0, elements: 0, isolated: { ingress: 0, egress: 0 } };
  const isolatedBy: Record<string, 'ingress' | 'egress'> = { [BASE.to[4]]: 'ingress', [BASE.to[6]]: 'ingress', [BASE.from[4]]: 'egress', [BASE.from[6]]: 'egress' };
  for (const entry of doc.nftables ?? []) {
    if (entry.chain) counts.chains += 1;
    if (entry.rule) counts.rules += 1;
    const set = entry.set ?? entry.map;
    if (set) {
      counts.sets += 1;
      const n = set.elem?.length ?? 0;
      counts.elements += n;
      const direction = isolatedBy[set.name ?? ''];
      if (direction) counts.isolated[direction] += n; // an address each: a dual-stack pod counts twice
    }
  }
  return counts;
}

export async function gatherPolicy(run: Runner, enabled: boolean, procSys = '/proc/sys'): Promise<PolicyFacts> {
  let table: PolicyFacts['table'];
  // The kernel's "no such table" is nf_tables answering: it is there (built in, it has no
  // /sys/module entry on kernels without modules, such as this project's CI machines).
  let answered = false;
  try {
    table = countPolicyTable((await run(LIST_POLICY_TABLE)).stdout);
  } catch (error) {
    const absence = nftAbsence(error);
    answered = absence === 'no-such-object';
    table = absence ? { absent: absence === 'no-nft' ? 'nft' : 'table' } : { error: errorMessage(error) };
  }
  const present = 'chains' in table;
  return {
    enabled,
    table,
    features: {
      nfTables: present || answered || fs.existsSync('/sys/module/nf_tables'),
      conntrack: present || fs.existsSync(`${procSys}/net/netfilter/nf_conntrack_max`) || fs.existsSync('/sys/module/nf_conntrack'),
    },
  };
}
