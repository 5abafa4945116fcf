// CHECK of a pod's limits (qos.ts): the Port holds a linux-htb QoS of the configured ingress rate
// (and none when none is configured), and the pod's interface a TBF of the egress rate.
import { mapEntries, setAtoms, uuidOf, type Row } from '../../lib/ovsdb/protocol.ts';
import { failed } from '../commands/check.ts';
import type { Db } from './db.ts';
import { qosOwnerIds, selectQos, type PodQos } from './qos.ts';

/** The root qdisc of an interface of a namespace: its kind and, for a TBF, its rate in bits/s; undefined where it cannot be read. */
export type ReadEgress = (netns: string, ifname: string) => { kind: string; rateBits?: number } | undefined;

export async function checkQos(db: Db, port: { name: string; qos?: string }, qos: PodQos | undefined, owner: { network: string; containerId: string; ifname: string; netns: string }, readEgress: ReadEgress): Promise<void> {
  const [found] = await db.transact([selectQos(qosOwnerIds(owner.network, owner.containerId, owner.ifname))]);
  const row: Row | undefined = found!.rows![0];
  if (qos?.ingress) {
    if (!row || uuidOf(row._uuid) !== port.qos) throw failed(`port ${port.name} has no QoS of its own; the config limits traffic to the pod to ${qos.ingress.rate} bit/s`);
    const rate = mapEntries(row.other_config)['max-rate'];
    if (setAtoms(row.type)[0] !== 'linux-htb' || rate !== String(qos.ingress.rate)) {
      throw failed(`port ${port.name}'s QoS is ${String(setAtoms(row.type)[0])} at max-rate ${rate ?? 'unset'}, the config wants linux-htb at ${qos.ingress.rate} bit/s`);
    }
  } else if (row || port.qos) {
    throw failed(`port ${port.name} has a QoS, and the config sets no ingress limit`);
  }
  const root = readEgress(owner.netns, owner.ifname);
  if (!root) return; // not readable here (the Node bundle)
  if (qos?.egress) {
    // The kernel keeps the rate in bytes/s: compare at that precision.
    if (root.kind !== 'tbf' || Math.floor((root.rateBits ?? 0) / 8) !== Math.floor(qos.egress.rate / 8)) {
      throw failed(`${owner.ifname}'s root qdisc is ${root.kind}${root.rateBits !== undefined ? ` at ${root.rateBits} bit/s` : ''}, the config limits the pod's egress with a tbf at ${qos.egress.rate} bit/s`);
    }
  } else if (root.kind === 'tbf') {
    throw failed(`${owner.ifname} has a tbf root qdisc, and the config sets no egress limit`);
  }
}
