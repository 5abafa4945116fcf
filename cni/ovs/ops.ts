// Pure: the OVSDB transactions of an OVS-bridge attachment (RFC 7047 operations, lib/ovsdb/), so
// a test compares them as data. Each is one transaction, which the server applies whole or not at
// all: a failed ADD never leaves half a port.
//   create bridge  wait(no Bridge of that name) + Interface(internal) + Port + Bridge + the root's
//                  bridges: two ADDs racing on a new bridge both send it, one commits, the other's
//                  wait (or the name index, at commit) fails and it uses the bridge made
//   attach port    [drop our own stale Port of that name] + Interface + Port (tag/trunks,
//                  external_ids) + the Bridge's ports + next_cfg += 1, whose value read back is
//                  what ovs-vswitchd's cur_cfg reaches once it has made the port (as ovs-vsctl waits)
//   detach port    the Bridge's ports minus the Port: Port and Interface are not root tables, so
//                  the server deletes them with their last reference
import { OVS_IDS } from '../../lib/names.ts';
import { map, namedUuid, set, uuid, type Operation, type Row } from '../../lib/ovsdb/protocol.ts';
import type { PortVlan } from './vlan.ts';
import { dropQos, insertIngressQos, QOS_NAME, type Limit } from './qos.ts';

export interface BridgeSpec {
  name: string;
  datapath: string;
  /** The internal interface's MAC (other_config:hwaddr), so the pods' gateway MAC is stable. */
  mac: string;
  mtu: number;
}

export interface PortOwner {
  network: string;
  containerId: string;
  ifname: string;
  podNamespace?: string;
  podName?: string;
}

export function ownerIds(owner: PortOwner): Record<string, string> {
  return {
    [OVS_IDS.network]: owner.network,
    [OVS_IDS.containerId]: owner.containerId,
    [OVS_IDS.ifname]: owner.ifname,
    ...(owner.podNamespace !== undefined ? { [OVS_IDS.podNamespace]: owner.podNamespace } : {}),
    ...(owner.podName !== undefined ? { [OVS_IDS.podName]: owner.podName } : {}),
  };
}

/** Whether a port's external_ids prove it is this attachment's (network, container, ifname). */
export function isOwnPort(ids: Record<string, string>, network: string, containerId: string, ifname: string): boolean {
  return ids[OVS_IDS.network] === network && ids[OVS_IDS.containerId] === containerId && ids[OVS_IDS.ifname] === ifname;
}

export function selectBridge(name: string): Operation {
  return { op: 'select', table: 'Bridge', where: [['name', '==', name]], columns: ['_uuid', 'datapath_type', 'ports'] };
}

export function createBridge(bridge: BridgeSpec): Operation[] {
  return [
    { op: 'wait', table: 'Bridge', where: [['name', '==', bridge.name]], columns: ['name'], until: '==', rows: [], timeout: 0 },
    { op: 'insert', table: 'Interface', row: { name: bridge.name, type: 'internal', mtu_request: bridge.mtu }, 'uuid-name': 'iface' },
    { op: 'insert', table: 'Port', row: { name: bridge.name, interfaces: namedUuid('iface') }, 'uuid-name': 'port' },
    {
      op: 'insert',
      table: 'Bridge',
      row: { name: bridge.name, ports: namedUuid('port'), datapath_type: bridge.datapath, other_config: map({ hwaddr: bridge.mac }) },
      'uuid-name': 'bridge',
    },
    { op: 'mutate', table: 'Open_vSwitch', where: [], mutations: [['bridges', 'insert', namedUuid('bridge')]] },
  ];
}

export function selectPort(name: string): Operation {
  return { op: 'select', table: 'Port', where: [['name', '==', name]], columns: ['_uuid', 'name', 'tag', 'trunks', 'external_ids', 'interfaces', 'qos'] };
}

/** This network's ports (GC): every Port whose external_ids name the network. */
export function selectNetworkPorts(network: string): Operation {
  return { op: 'select', table: 'Port', where: [['external_ids', 'includes', map({ [OVS_IDS.network]: network })]], columns: ['_uuid', 'name', 'tag', 'trunks', 'external_ids'] };
}

/** Removes a Port from whichever Bridge holds it; the server then deletes it and its Interface. */
export function detachPort(portUuid: string): Operation {
  return { op: 'mutate', table: 'Bridge', where: [['ports', 'includes', uuid(portUuid)]], mutations: [['ports', 'delete', uuid(portUuid)]] };
}

/**
 * Removes an attachment's Port with its QoS and Queue rows (qos.ts). The Port is deleted
 * explicitly beside its removal from the bridge: the server checks references before it collects
 * unreferenced rows, so the QoS row would still count as the Port's and its delete be refused.
 */
export function removePort(portUuid: string, ids: Record<string, string>): Operation[] {
  return [detachPort(portUuid), { op: 'delete', table: 'Port', where: [['_uuid', '==', uuid(portUuid)]] }, ...dropQos(ids)];
}

export interface AttachSpec {
  bridge: string;
  port: string;
  owner: PortOwner;
  vlan: PortVlan;
  /** Our own Port of the same name left by an interrupted ADD of this attachment, replaced here. */
  stalePort?: string;
  /** The limit of traffic to the pod: a linux-htb QoS on the Port (qos.ts). */
  ingress?: Limit;
  /** antiSpoofing: what the guard flows allow, kept on the Interface for the agent (guard.ts). */
  guard?: { mac: string; addresses: readonly string[] };
}

/** The Interface's own ids: the owner's, and for a guarded port its MAC and addresses (lib/names.ts). */
export function interfaceIds(owner: PortOwner, guard: AttachSpec['guard']): Record<string, string> {
  return { ...ownerIds(owner), ...(guard ? { [OVS_IDS.attachedMac]: guard.mac, [OVS_IDS.antispoofIps]: guard.addresses.join(',') } : {}) };
}

/** The operations of attaching; results[MUTATE_BRIDGE] says whether the bridge was there, results[NEXT_CFG] the cfg to wait for. */
export function attachPort(spec: AttachSpec): { operations: Operation[]; bridgeMutation: number; nextCfg: number } {
  const ids = map(ownerIds(spec.owner));
  const port: Row = { name: spec.port, interfaces: namedUuid('iface'), external_ids: ids };
  if (spec.vlan.tag !== undefined) port.tag = spec.vlan.tag;
  if (spec.vlan.trunks) port.trunks = set(spec.vlan.trunks);
  if (spec.ingress) port.qos = namedUuid(QOS_NAME);
  const qosIds = { [OVS_IDS.network]: spec.owner.network, [OVS_IDS.containerId]: spec.owner.containerId, [OVS_IDS.ifname]: spec.owner.ifname };
  const operations: Operation[] = [
    ...(spec.stalePort ? removePort(spec.stalePort, qosIds) : []),
    ...(spec.ingress ? insertIngressQos(spec.ingress, qosIds) : []),
    { op: 'insert', table: 'Interface', row: { name: spec.port, external_ids: map(interfaceIds(spec.owner, spec.guard)) }, 'uuid-name': 'iface' },
    { op: 'insert', table: 'Port', row: port, 'uuid-name': 'port' },
    { op: 'mutate', table: 'Bridge', where: [['name', '==', spec.bridge]], mutations: [['ports', 'insert', namedUuid('port')]] },
    { op: 'mutate', table: 'Open_vSwitch', where: [], mutations: [['next_cfg', '+=', 1]] },
    { op: 'select', table: 'Open_vSwitch', where: [], columns: ['next_cfg'] },
  ];
  return { operations, bridgeMutation: operations.length - 3, nextCfg: operations.length - 1 };
}

export function selectCurCfg(): Operation {
  return { op: 'select', table: 'Open_vSwitch', where: [], columns: ['cur_cfg'] };
}

export function selectInterface(name: string): Operation {
  return { op: 'select', table: 'Interface', where: [['name', '==', name]], columns: ['ofport', 'error', 'external_ids'] };
}
