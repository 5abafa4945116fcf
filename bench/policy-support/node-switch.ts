// The bench node namespace's netfilter state, switched between bench:policy's four states:
//   none      (a)  bare: no iptables, no policy table; no hook, no conntrack (the floor);
//   agent     (a') the agent's own iptables chains (daemonset/iptables/plan.ts, as the agent
//                  writes them, iptables-nft), no policy table: its nat POSTROUTING chain turns
//                  conntrack on for every forwarded packet, as on every real node (kube-proxy's
//                  nat does too); this is "the same path with no policy" of issue 19;
//   empty     (b') the agent's chains and the policy table with no policy selecting the pods;
//   policies  (c') the agent's chains and 1,000 policies over 5,000 pods.
// The agent's chains stay for (b') and (c') because a real node never has the table without
// them. The chains go in with iptables-nft-restore --noflush, the payload the agent's planner
// makes against an empty namespace; they go out by deleting iptables-nft's `ip nat` and `ip filter`
// tables whole (only ours are in this namespace): emptied base chains would keep their hooks and
// conntrack on, and (a) must have neither.
import { parseCidr } from '../../lib/cidr.ts';
import { planIptables, restorePayload } from '../../daemonset/iptables/plan.ts';
import { execIn } from '../../test/support/exec-in.ts';
import type { Switch } from '../net-support/antispoofing-ab.ts';

export type PolicyState = 'none' | 'agent' | 'empty' | 'policies';
export type TableState = 'none' | 'empty' | 'policies';

const LAYOUT: Record<PolicyState, { agent: boolean; table: TableState }> = {
  none: { agent: false, table: 'none' },
  agent: { agent: true, table: 'none' },
  empty: { agent: true, table: 'empty' },
  policies: { agent: true, table: 'policies' },
};

/** The agent's rules for a node whose pods are in `podCIDR` of `clusterCIDR` (iptables-restore --noflush payload). */
export function agentChainsPayload(clusterCIDR: string, podCIDR: string, randomFully: boolean): string {
  const cidr = (text: string) => {
    const parsed = parseCidr(text);
    if (!parsed) throw new Error(`not a CIDR: ${text}`);
    return parsed;
  };
  const specs = planIptables({ clusterCIDR: cidr(clusterCIDR), podCIDR: cidr(podCIDR), randomFully });
  return restorePayload(specs, new Map())!;
}

/** nft 1.0.6 has no `destroy`: adding first makes the delete succeed whether the table was there or not. */
const REMOVE_AGENT_TABLES = ['ip nat', 'ip filter'].map((t) => `add table ${t}\ndelete table ${t}\n`).join('');

export class NodeSwitch implements Switch<PolicyState> {
  private agent: boolean | undefined;
  private table: TableState | undefined;
  private readonly node: string;
  private readonly agentPayload: string;
  private readonly tables: Record<TableState, string>;
  /** `tables.none` removes the policy table; `agentPayload` is agentChainsPayload's. */
  constructor(node: string, agentPayload: string, tables: Record<TableState, string>) {
    this.node = node;
    this.agentPayload = agentPayload;
    this.tables = tables;
  }
  async set(next: PolicyState): Promise<void> {
    const want = LAYOUT[next];
    if (want.agent !== this.agent) {
      if (want.agent) await execIn(this.node, ['iptables-nft-restore', '--noflush', '-w', '5'], this.agentPayload);
      else await execIn(this.node, ['nft', '-f', '-'], REMOVE_AGENT_TABLES);
      this.agent = want.agent;
    }
    if (want.table !== this.table) {
      await execIn(this.node, ['nft', '-f', '-'], this.tables[want.table]);
      this.table = want.table;
    }
  }
}
