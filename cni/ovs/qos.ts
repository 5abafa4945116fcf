// Per-pod QoS on an Open vSwitch bridge (issue 21): the CNI `bandwidth` capability
// (runtimeConfig.bandwidth, as the reference bandwidth plugin reads it: rates in bits per second,
// bursts in bits) limits the pod's traffic in both directions without the chained plugin.
//
// Which mechanism, and why (this kernel: sch_htb, sch_tbf, the ingress qdisc, ifb and act_mirred,
// no act_police, no openvswitch module):
// - ingressRate (traffic TO the pod) is a `linux-htb` QoS on the pod's Port: a QoS row (max-rate)
//   with one Queue (max-rate, burst), which ovs-vswitchd turns into an HTB root qdisc on the host
//   veth. The userspace datapath hands frames to that veth through a packet socket, which goes
//   through its qdisc. OVS owns the host veth's qdisc: it replaces any root qdisc it did not make
//   with its default on every reconfiguration, so a TBF of ours there would not last; its own QoS
//   does. OVS's other two ways do not work here: `ingress_policing_rate` needs act_police, and the
//   `egress-policer` QoS type is DPDK-only.
// - egressRate (traffic FROM the pod) is a TBF root qdisc on the pod's own interface, made by the
//   plugin over rtnetlink inside the pod (lib/netlink/tc.ts; `tc` on the Node bundle). Shaped
//   where the pod sends, before OVS sees it, so no policer drops TCP's bursts. A pod with
//   CAP_NET_ADMIN could remove it, as it could any setting of its own interface.
// Both go with the attachment: the QoS and Queue rows (root tables in OVSDB, so deleted
// explicitly, found by the attachment's external_ids) in DEL's, GC's and rollback's transaction,
// the qdiscs with the veth.
import { OVS_IDS } from '../../lib/names.ts';
import { map, namedUuid, type Operation, type Row } from '../../lib/ovsdb/protocol.ts';
import { invalid } from '../config/fields.ts';

/** A rate (bits per second) and a burst (bits). */
export interface Limit {
  rate: number;
  burst: number;
}

export interface PodQos {
  /** Traffic to the pod: the Port's linux-htb QoS. */
  ingress?: Limit;
  /** Traffic from the pod: a TBF on the pod's interface. */
  egress?: Limit;
}

/** The largest burst a TBF holds (its size in bytes is a u32), as the reference plugin refuses past it. */
const MAX_BURST_BITS = 8 * 0xffffffff;

/** runtimeConfig.bandwidth read and checked; undefined when it sets no limit. */
export function parseBandwidth(raw: unknown): PodQos | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== 'object' || Array.isArray(raw)) throw invalid(`"runtimeConfig.bandwidth" must be an object, got ${JSON.stringify(raw)}`);
  const b = raw as Record<string, unknown>;
  const ingress = limit(b, 'ingress');
  const egress = limit(b, 'egress');
  if (!ingress && !egress) return undefined;
  return { ...(ingress ? { ingress } : {}), ...(egress ? { egress } : {}) };
}

function limit(b: Record<string, unknown>, direction: 'ingress' | 'egress'): Limit | undefined {
  const number = (key: string): number => {
    const value = b[key] ?? 0;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw invalid(`"runtimeConfig.bandwidth.${key}" must be a whole number of bits${key.endsWith('Rate') ? ' per second' : ''}, got ${JSON.stringify(value)}`);
    return value;
  };
  const rate = number(`${direction}Rate`);
  const burst = number(`${direction}Burst`);
  if (rate === 0 && burst === 0) return undefined;
  if (rate === 0 || burst === 0) throw invalid(`"runtimeConfig.bandwidth": ${direction}Rate and ${direction}Burst go together (got rate ${rate}, burst ${burst})`);
  if (burst > MAX_BURST_BITS) throw invalid(`"runtimeConfig.bandwidth.${direction}Burst" must be at most ${MAX_BURST_BITS} bits, got ${burst}`);
  return { rate, burst };
}

/** The external_ids that tie QoS and Queue rows to one attachment (the Port's own three). */
export function qosOwnerIds(network: string, containerId: string, ifname: string): Record<string, string> {
  return { [OVS_IDS.network]: network, [OVS_IDS.containerId]: containerId, [OVS_IDS.ifname]: ifname };
}

/**
 * The rows of the ingress limit, inserted in the attach transaction: a Queue (queue 0, HTB class
 * 1:1, where OVS's HTB sends unclassified traffic, which is all of it here) and a linux-htb QoS
 * holding it. The Port takes `qos: ["named-uuid", QOS_NAME]`.
 */
export const QOS_NAME = 'qos';
export function insertIngressQos(ingress: Limit, ids: Record<string, string>): Operation[] {
  const rate = String(ingress.rate);
  return [
    { op: 'insert', table: 'Queue', row: { other_config: map({ 'max-rate': rate, burst: String(ingress.burst) }), external_ids: map(ids) }, 'uuid-name': 'queue' },
    {
      op: 'insert',
      table: 'QoS',
      row: { type: 'linux-htb', other_config: map({ 'max-rate': rate }), queues: ['map', [[0, namedUuid('queue')]]], external_ids: map(ids) } as Row,
      'uuid-name': QOS_NAME,
    },
  ];
}

/** Deletes the attachment's QoS and Queue rows (none is fine); after, or with, its Port's removal. */
export function dropQos(ids: Record<string, string>): Operation[] {
  const owner = qosOwnerIds(ids[OVS_IDS.network] ?? '', ids[OVS_IDS.containerId] ?? '', ids[OVS_IDS.ifname] ?? '');
  return [
    { op: 'delete', table: 'QoS', where: [['external_ids', 'includes', map(owner)]] },
    { op: 'delete', table: 'Queue', where: [['external_ids', 'includes', map(owner)]] },
  ];
}

export function selectQos(ids: Record<string, string>): Operation {
  return { op: 'select', table: 'QoS', where: [['external_ids', 'includes', map(ids)]], columns: ['_uuid', 'type', 'other_config', 'queues'] };
}
