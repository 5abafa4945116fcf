// Pure: the OVSDB transactions of `bridgeway-agent mirror` (issue 21): an OVS Mirror of a pod's
// port(s) (both directions: select_src_port and select_dst_port) to a new internal port made for
// tcpdump, an existing port (--to), or a VLAN (--to-vlan, RSPAN). The Mirror and the port it made
// carry external_ids naming the pod (bridgeway-mirror = <namespace>/<pod>), which is how --stop,
// Ctrl-C and doctor find them, and how they are told from an admin's mirror.
import { createHash } from 'node:crypto';
import { OVS_IDS } from '../../lib/names.ts';
import { map, namedUuid, set, uuid, type Condition, type Operation } from '../../lib/ovsdb/protocol.ts';

/** The external_ids key of a mirror made by this command, and of the port it made for it. */
export const MIRROR_ID = 'bridgeway-mirror';
/** The pid of the `mirror` process that holds the mirror (doctor: a mirror whose process is gone was left behind). */
export const MIRROR_PID_ID = 'bridgeway-mirror-pid';

export type MirrorOutput = { kind: 'new-port'; name: string } | { kind: 'port'; uuid: string } | { kind: 'vlan'; vlan: number };

/** The internal port's name: bwm- and 10 hex digits of the pod's key (15 characters, an interface name). */
export function mirrorPortName(key: string): string {
  return `bwm-${createHash('sha256').update(key).digest('hex').slice(0, 10)}`;
}

export const mirrorName = (key: string) => `bridgeway-${key}`;

/** The pod's ports: every Port whose external_ids name the pod (one per network and interface). */
export function selectPodPorts(namespace: string, pod: string): Operation {
  return { op: 'select', table: 'Port', where: [['external_ids', 'includes', map({ [OVS_IDS.podNamespace]: namespace, [OVS_IDS.podName]: pod })]], columns: ['_uuid', 'name'] };
}

export function selectBridgeOf(portUuid: string): Operation {
  return { op: 'select', table: 'Bridge', where: [['ports', 'includes', uuid(portUuid)]], columns: ['_uuid', 'name', 'mirrors'] };
}

export function selectPortByName(name: string): Operation {
  return { op: 'select', table: 'Port', where: [['name', '==', name]], columns: ['_uuid', 'name'] };
}

/** Mirrors this command made: all of them, or the pod's. */
export function selectMirrors(key?: string): Operation {
  return { op: 'select', table: 'Mirror', where: [['external_ids', 'includes', map(key ? { [MIRROR_ID]: key } : {})]], columns: ['_uuid', 'name', 'external_ids', 'output_port'] };
}

/** Ports this command made for a mirror (all, or the pod's). */
export function selectMirrorPorts(key?: string): Operation {
  return { op: 'select', table: 'Port', where: [['external_ids', 'includes', map(key ? { [MIRROR_ID]: key } : {})]], columns: ['_uuid', 'name', 'external_ids'] };
}

/** One transaction: [the internal port] + the Mirror + the Bridge's mirrors (and ports). */
export function createMirror(spec: { bridgeUuid: string; key: string; podPorts: string[]; output: MirrorOutput; pid?: number }): Operation[] {
  const ids = map({ [MIRROR_ID]: spec.key, ...(spec.pid !== undefined ? { [MIRROR_PID_ID]: String(spec.pid) } : {}) });
  const ops: Operation[] = [];
  const mirror: Record<string, unknown> = {
    name: mirrorName(spec.key),
    select_src_port: set(spec.podPorts.map(uuid)),
    select_dst_port: set(spec.podPorts.map(uuid)),
    external_ids: ids,
  };
  if (spec.output.kind === 'new-port') {
    ops.push(
      { op: 'insert', table: 'Interface', row: { name: spec.output.name, type: 'internal', external_ids: ids }, 'uuid-name': 'iface' },
      { op: 'insert', table: 'Port', row: { name: spec.output.name, interfaces: namedUuid('iface'), external_ids: ids }, 'uuid-name': 'port' },
    );
    mirror.output_port = namedUuid('port');
  } else if (spec.output.kind === 'port') {
    mirror.output_port = uuid(spec.output.uuid);
  } else {
    mirror.output_vlan = spec.output.vlan;
  }
  ops.push({ op: 'insert', table: 'Mirror', row: mirror as never, 'uuid-name': 'mirror' });
  const where: Condition[] = [['_uuid', '==', uuid(spec.bridgeUuid)]];
  ops.push({ op: 'mutate', table: 'Bridge', where, mutations: [['mirrors', 'insert', namedUuid('mirror')]] });
  if (spec.output.kind === 'new-port') ops.push({ op: 'mutate', table: 'Bridge', where, mutations: [['ports', 'insert', namedUuid('port')]] });
  ops.push({ op: 'mutate', table: 'Open_vSwitch', where: [], mutations: [['next_cfg', '+=', 1]] }, { op: 'select', table: 'Open_vSwitch', where: [], columns: ['next_cfg'] });
  return ops;
}

/**
 * Removes mirrors and the ports made for them: each out of every Bridge, and deleted explicitly
 * (the server checks references before it collects unreferenced rows: the Mirror still points at
 * its output port until it is gone itself).
 */
export function removeMirrors(mirrors: readonly string[], ports: readonly string[]): Operation[] {
  const ops: Operation[] = [];
  for (const m of mirrors) {
    ops.push({ op: 'mutate', table: 'Bridge', where: [['mirrors', 'includes', uuid(m)]], mutations: [['mirrors', 'delete', uuid(m)]] });
    ops.push({ op: 'delete', table: 'Mirror', where: [['_uuid', '==', uuid(m)]] });
  }
  for (const p of ports) {
    ops.push({ op: 'mutate', table: 'Bridge', where: [['ports', 'includes', uuid(p)]], mutations: [['ports', 'delete', uuid(p)]] });
    ops.push({ op: 'delete', table: 'Port', where: [['_uuid', '==', uuid(p)]] });
  }
  return ops;
}
