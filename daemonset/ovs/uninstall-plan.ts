// Pure: what uninstall does to the pods' Open vSwitch bridge (--bridge-type ovs), as one OVSDB
// transaction (lib/ovsdb/). A port is ours when its external_ids name our network (lib/names.ts
// OVS_IDS, written by the plugin's ADD): those go. Every other port (a libvirt VM's vnetN, an
// admin's uplink, a pod of another bridgeway network on the same bridge) stays, and so does the
// bridge while one remains; the bridge's own internal port goes only with the bridge.
// The transaction first waits for the bridge's ports to be exactly those read: a port added in
// between (a VM started meanwhile) makes the server refuse it, and nothing is removed.
import { OVS_IDS } from '../../lib/names.ts';
import { mapEntries, set, setAtoms, uuid, uuidOf, type Operation, type OperationResult } from '../../lib/ovsdb/protocol.ts';

export interface OvsPort {
  uuid: string;
  name: string;
  ids: Record<string, string>;
}

export interface OvsBridgeState {
  uuid: string;
  ports: OvsPort[];
}

export interface OvsUninstallPlan {
  /** Our network's ports, removed. */
  remove: OvsPort[];
  /** Ports that are not ours: they keep the bridge. */
  foreign: OvsPort[];
  deleteBridge: boolean;
  /** Empty when there is nothing to do. */
  operations: Operation[];
}

/** The reads: the bridge (its ports' UUIDs) and every port's name and ids, in one transaction. */
export function readOperations(bridge: string): Operation[] {
  return [
    { op: 'select', table: 'Bridge', where: [['name', '==', bridge]], columns: ['_uuid', 'ports'] },
    { op: 'select', table: 'Port', where: [], columns: ['_uuid', 'name', 'external_ids'] },
  ];
}

/** The reads' answer as the bridge's state; undefined when there is no such bridge. */
export function bridgeState(results: readonly OperationResult[]): OvsBridgeState | undefined {
  const bridgeRow = results[0]?.rows?.[0];
  if (!bridgeRow) return undefined;
  const members = new Set(setAtoms(bridgeRow.ports).map((atom) => uuidOf(atom)));
  const ports = (results[1]?.rows ?? [])
    .map((row) => ({ uuid: uuidOf(row._uuid)!, name: String(row.name), ids: mapEntries(row.external_ids) }))
    .filter((port) => members.has(port.uuid))
    .sort((a, b) => a.name.localeCompare(b.name));
  return { uuid: uuidOf(bridgeRow._uuid)!, ports };
}

export function planOvsUninstall(state: OvsBridgeState, bridge: string, network: string): OvsUninstallPlan {
  const remove = state.ports.filter((p) => p.ids[OVS_IDS.network] === network);
  const foreign = state.ports.filter((p) => p.ids[OVS_IDS.network] !== network && p.name !== bridge);
  const deleteBridge = foreign.length === 0;
  if (!deleteBridge && remove.length === 0) return { remove, foreign, deleteBridge, operations: [] };
  const unchanged: Operation = {
    op: 'wait', table: 'Bridge', where: [['name', '==', bridge]], columns: ['ports'], until: '==',
    rows: [{ ports: set(state.ports.map((p) => uuid(p.uuid))) }], timeout: 0,
  };
  // Bridge is not a root table: dropped from Open_vSwitch's bridges, the server deletes it with
  // its ports and interfaces, and ovs-vswitchd then removes the internal interface from the kernel.
  const change: Operation = deleteBridge
    ? { op: 'mutate', table: 'Open_vSwitch', where: [], mutations: [['bridges', 'delete', uuid(state.uuid)]] }
    : { op: 'mutate', table: 'Bridge', where: [['_uuid', '==', uuid(state.uuid)]], mutations: [['ports', 'delete', set(remove.map((p) => uuid(p.uuid)))]] };
  return { remove, foreign, deleteBridge, operations: [unchanged, change] };
}

/** A port in words, for the log: its name, and whose it is when its ids say. */
export function describePort(port: OvsPort): string {
  const network = port.ids[OVS_IDS.network];
  return network ? `${port.name} (bridgeway network ${network})` : port.name;
}
