// Pure: which conntrack entries a new table denies. The table's first rule lets every packet of
// an established connection through (`ct state established,related accept`), so a change that
// denies a connection stops only new ones until the old entry is deleted; the enforcer deletes
// exactly the entries this returns (lib/netlink/conntrack.ts), and the next packet of such a flow
// is judged as new and dropped.
//
// An entry is judged as the kernel judged its first packet: from its original source to where
// it really went (the reply tuple's source and source port: a Service's backend after
// kube-proxy's DNAT, the pod itself otherwise), by explain() on the new table, so the answer is
// the table's own. Only what the forward hook judged is judged again: a connection the node
// opened (kubelet's probes: the output hook) or one that ends at the node (a pod to a node
// address, or a Service whose backend is hostNetwork here: the input hook) is left, told by the
// node's own addresses; a connection from outside the cluster into a pod is judged like a pod's
// (an ipBlock a change narrows cuts it). Without the node's addresses (no rtnetlink: the Node
// build of the agent) only entries from a pod's address are judged, as before. Entries the
// table does not judge at all (no isolated pod of this node at either end) are left without a walk.
import type { ConntrackEntry } from '../../lib/netlink/conntrack.ts';
import type { CompiledPolicy } from './compile.ts';
import { explain } from './explain.ts';
import { BASE, type PolicyTable } from './table.ts';

export const ipKey = (ip: { family: number; value: bigint }) => `${ip.family}:${ip.value}`;

/** Addresses of this node's isolated pods: the elements of from_pod4/6 and to_pod4/6. */
function isolatedHere(table: PolicyTable): Set<string> {
  const names = new Set<string>([BASE.from[4], BASE.from[6], BASE.to[4], BASE.to[6]]);
  const out = new Set<string>();
  for (const set of table.sets) {
    if (!names.has(set.name)) continue;
    for (const element of set.elements) {
      const part = element.key[0];
      if (part && 'ip' in part) out.add(ipKey(part.ip));
    }
  }
  return out;
}

/**
 * The entries `table` denies now; `podAddresses` holds every pod's address and `nodeAddresses`
 * every address of this node (undefined: not known), each as `family:value`.
 */
export function deniedEntries(table: PolicyTable, entries: readonly ConntrackEntry[], podAddresses: ReadonlySet<string>, nodeAddresses?: ReadonlySet<string>): ConntrackEntry[] {
  const isolated = isolatedHere(table);
  if (isolated.size === 0) return [];
  const compiled = { table, rules: new Map(), errors: [], stats: undefined } as unknown as CompiledPolicy; // explain() reads the table; `rules` only names the deciding rules
  return entries.filter((entry) => {
    const src = entry.orig.src;
    const dst = entry.reply.src; // after DNAT: the backend
    if (nodeAddresses ? nodeAddresses.has(ipKey(src)) || nodeAddresses.has(ipKey(dst)) : !podAddresses.has(ipKey(src))) return false;
    if (!isolated.has(ipKey(src)) && !isolated.has(ipKey(dst))) return false;
    const port = entry.reply.sport ?? 0;
    return !explain(compiled, { src, dst, proto: entry.orig.proto, port }).allowed;
  });
}
