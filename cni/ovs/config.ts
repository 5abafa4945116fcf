// The keys of `"bridgeType": "ovs"` (issue 21): the pods' host veths are ports of an Open vSwitch
// bridge, made and found over OVSDB (lib/ovsdb/), instead of ports of a Linux bridge. Read here,
// apart from netconf.ts, which asks for them only when the bridge type says so. Whether the
// database answers is ADD's to find out (code 11 naming the socket).
import { Fields, invalid, unsupported } from '../config/fields.ts';
import { parseBandwidth, type PodQos } from './qos.ts';

export const DEFAULT_OVSDB_SOCKET = '/run/openvswitch/db.sock';

/** A VLAN ID OVS accepts in a Port's `tag` and `trunks` (0 is the untagged VLAN). */
const MAX_VLAN = 4095;

export interface OvsConf {
  /** The database's unix socket. */
  socket: string;
  /** The bridge's `datapath_type` when ADD creates it: "system" (the kernel module) or "netdev" (userspace). */
  datapath: string;
  /** Access port: the pod's frames go untagged, into this VLAN. */
  vlan?: number;
  /** Trunk port: the pod sends and receives these VLANs tagged. */
  trunks?: number[];
  /** The pod's VLAN by its namespace (CNI_ARGS K8S_POD_NAMESPACE): one broadcast domain per namespace. */
  vlanByNamespace?: Record<string, number>;
  /** With vlanByNamespace, the VLAN of a namespace it does not name; none: such a pod is refused. */
  defaultVlan?: number;
  /** runtimeConfig.bandwidth (the CNI bandwidth capability): the pod's limits, cni/ovs/qos.ts. */
  qos?: PodQos;
}

export function parseOvsConf(f: Fields, raw: Record<string, unknown>): OvsConf {
  const socket = f.string('ovsdbSocket', DEFAULT_OVSDB_SOCKET)!;
  if (!socket.startsWith('/')) throw invalid(`"ovsdbSocket" must be the absolute path of the database's unix socket, got ${JSON.stringify(socket)}`);
  const datapath = f.string('ovsDatapath', 'system')!;
  if (!/^[a-z]+$/.test(datapath)) throw invalid(`"ovsDatapath" must be a datapath type such as "system" or "netdev", got ${JSON.stringify(datapath)}`);
  const vlan = f.has('vlan') ? f.int('vlan', 0, 0, MAX_VLAN) : undefined;
  const trunks = f.has('trunk') ? vlanList(f.array('trunk')!) : undefined;
  const byNs = f.object('vlanByNamespace');
  const vlanByNamespace = byNs ? readVlanMap(raw.vlanByNamespace as Record<string, unknown>, byNs) : undefined;
  const defaultVlan = f.has('defaultVlan') ? f.int('defaultVlan', 0, 0, MAX_VLAN) : undefined;
  const chosen = [vlan !== undefined && '"vlan"', trunks && '"trunk"', vlanByNamespace && '"vlanByNamespace"'].filter(Boolean);
  if (chosen.length > 1) throw invalid(`${chosen.join(' and ')} exclude each other: a port is an access port of one VLAN, of its namespace's, or a trunk`);
  if (defaultVlan !== undefined && !vlanByNamespace) throw invalid('"defaultVlan" is the VLAN of a namespace "vlanByNamespace" does not name: give "vlanByNamespace" too, or use "vlan"');
  // Anti-spoofing is OpenFlow flows here (lib/openflow/port-guard.ts), which judge untagged frames
  // by the addresses bridgeway gave the pod. A trunk's pod sends tagged frames from addresses of
  // its own choosing on VLANs bridgeway knows nothing of: there is nothing to judge them by.
  if (trunks && (raw.antiSpoofing === true || raw.antiSpoofing === 'true')) {
    throw unsupported('antiSpoofing', raw.antiSpoofing, 'a "trunk" port\'s pod sends 802.1Q-tagged frames from addresses bridgeway does not assign, and the anti-spoofing flows drop every tagged frame: remove the key (it is off on trunk ports), or use an access port ("vlan", "vlanByNamespace")');
  }
  if (raw.uplink !== undefined) throw unsupported('uplink', raw.uplink, 'the bridged LAN moves a NIC onto a Linux bridge; with Open vSwitch add the NIC as a port of the bridge yourself (ovs-vsctl add-port)');
  const runtimeConfig = raw.runtimeConfig as Record<string, unknown> | undefined;
  const qos = parseBandwidth(runtimeConfig && typeof runtimeConfig === 'object' ? runtimeConfig.bandwidth : undefined);
  return {
    socket,
    datapath,
    ...(qos ? { qos } : {}),
    ...(vlan !== undefined ? { vlan } : {}),
    ...(trunks ? { trunks } : {}),
    ...(vlanByNamespace ? { vlanByNamespace } : {}),
    ...(defaultVlan !== undefined ? { defaultVlan } : {}),
  };
}

function vlanList(values: unknown[]): number[] {
  if (values.length === 0) throw invalid('"trunk" must list at least one VLAN ID');
  const ids = values.map((value) => {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_VLAN) throw invalid(`"trunk" must list VLAN IDs from 0 to ${MAX_VLAN}, got ${JSON.stringify(value)}`);
    return value;
  });
  return [...new Set(ids)].sort((a, b) => a - b);
}

function readVlanMap(obj: Record<string, unknown>, f: Fields): Record<string, number> {
  const entries = Object.keys(obj).map((ns) => [ns, f.int(ns, 0, 0, MAX_VLAN)] as const);
  if (entries.length === 0) throw invalid('"vlanByNamespace" must name at least one namespace');
  return Object.fromEntries(entries);
}
