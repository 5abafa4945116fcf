// Everything the doctor looks at, gathered once (gather.ts) and then only read by the pure
// checks (checks/*.ts): a check is a function of these facts, so each is table-tested without a
// kernel, and the doctor itself cannot change the node.
import type { ListedTable } from '../../lib/antispoof/nft-json.ts';
import type { GuardedInterface } from '../../lib/openflow/guard-sync.ts';
import type { PresentFlow } from '../../lib/openflow/port-guard.ts';
import type { IpCidr, IpFamily } from '../../lib/cidr.ts';
import type { InterfaceAddresses } from '../../lib/iproute2/addr.ts';
import type { KernelRoute } from '../../lib/kernel/route.ts';
import type { IptablesMode } from '../../lib/iptables/backend.ts';
import type { ClusterNode } from '../nodes/peers.ts';

export interface DoctorSettings {
  mode: 'kubernetes' | 'standalone';
  nodeName: string;
  iface: string;
  ifaceCidr?: IpCidr;
  /** --cluster-cidr: one per family, IPv4 first. */
  clusterCIDRs: IpCidr[];
  bridge: string;
  /** --bridge-type; absent: linux. */
  bridgeType?: 'linux' | 'ovs';
  forcedBackend?: IptablesMode;
}

/** A file as read: its text, or why it could not be read (`missing` for ENOENT). */
export type FileRead = { text: string } | { missing: true } | { error: string };

export interface Reservation {
  address: string;
  family: IpFamily;
  containerId: string;
  ifname: string;
  /** The host veth the plugin names after the attachment (lib/names.ts hostVethName). */
  hostVeth: string;
  /** Age of the reservation, when the store shows it. */
  ageMs?: number;
}

/** The bridged LAN (lib/uplink/): each bridge marked as holding an uplink NIC (gather-uplink.ts). */
export interface UplinkFacts {
  bridges: {
    bridge: string;
    nic: string;
    stp: boolean;
    forwardDelaySeconds: number;
    nicPresent: boolean;
    nicMaster?: string;
    /** IPv4 and global IPv6 addresses still on the NIC. */
    nicAddresses: string[];
    networkManager: boolean;
  }[];
  error?: string;
}

export interface AccessReview {
  verb: string;
  resource: string;
  /** The API group ('' or absent: core). */
  group?: string;
  /** Namespace of a namespaced resource (events go to "default", beside kubelet's). */
  namespace?: string;
  allowed?: boolean;
  reason?: string;
  /** The review itself failed (network, 4xx/5xx). */
  error?: string;
}

/** NetworkPolicy on this node (gather-policy.ts). */
export interface PolicyFacts {
  /** BRIDGEWAY_NETWORK_POLICY. */
  enabled: boolean;
  /** `nft -j list table inet bridgeway_policy`, counted; or why there is none. */
  table: { chains: number; rules: number; sets: number; elements: number; /** Addresses in to_pod / from_pod: this node's isolated pods. */ isolated: { ingress: number; egress: number } } | { absent: 'table' | 'nft' } | { error: string };
  /** What the table relies on in the kernel. */
  features: { nfTables: boolean; conntrack: boolean };
  /** --bridge-type ovs: the flows that steer same-node pod traffic through the node (gather-steering.ts). */
  steering?: SteeringFacts;
}

/**
 * Our flows on the OVS bridge: the LOCAL port's MAC and the cookies with our prefix; or why they
 * could not be read. `guards`: the pods' anti-spoofing flows (lib/openflow/port-guard.ts) and the
 * guarded ports the database holds, or why those could not be read.
 */
export type SteeringFacts = { socket: string } & ({ localMac?: string; cookies: bigint[]; guards?: GuardFacts } | { error: string });

export type GuardFacts = { ports: GuardedInterface[]; present: PresentFlow[] } | { error: string };

/** A network config in macvlan mode (gather-macvlan.ts), its keys as written. */
export interface MacvlanNetworkFacts {
  path: string;
  network: string;
  /** Absent: the default route's interface. */
  master?: string;
  macvlanMode: string;
  mtu?: number;
  hostShim: boolean;
}

/** A network config of "bridgeType": "ovs" (gather-ovs.ts), its keys as written. */
export interface OvsNetworkFacts {
  path: string;
  network: string;
  bridge: string;
  socket: string;
  vlan?: number;
  trunk?: number[];
  vlanByNamespace?: Record<string, number>;
  defaultVlan?: number;
}

/** What one Open vSwitch database holds, as far as the doctor asks. */
export interface OvsDbFacts {
  curCfg: number;
  nextCfg: number;
  /**
   * How an ovs-vswitchd serving this database was seen, when one was: `pid N` (its process in
   * /proc) or `control socket <path> answers` (a container without the host's PID namespace).
   */
  vswitchd?: string;
  bridges: { name: string; datapath: string; ports: string[] }[];
  /** The ports of the OVS networks of this database (by their external_ids). */
  ports: { name: string; ids: Record<string, string>; tag?: number; trunks: number[] }[];
  /** Every port's name, on any bridge. */
  allPorts: string[];
  /** Mirrors `bridgeway-agent mirror` made; pid and alive: the process that holds it. */
  mirrors: { name: string; pod: string; output: string; pid?: number; alive?: boolean }[];
}

export interface OvsFacts {
  networks: OvsNetworkFacts[];
  dbs: Record<string, OvsDbFacts | { error: string }>;
  /** Host veths (bridgeway's names) that are no Linux bridge's port. */
  unattachedVeths: string[];
}

export interface DoctorFacts {
  settings: DoctorSettings;
  /** The cluster's nodes as the agent's source gives them, or why they could not be read. */
  nodes: { list: ClusterNode[] } | { error: string };
  /** `ip -j addr show`: every link with its flags, MTU and IPv4 addresses. */
  links: InterfaceAddresses[];
  /** The main table, IPv4 and IPv6 (`ip -j route show table all`, main-table routes only). */
  routes: KernelRoute[];
  /** /proc/sys values by dotted name; undefined when the file does not exist. */
  sysctls: Record<string, string | undefined>;
  /** iptables-save output per backend; absent when that backend does not work here. */
  iptables: Partial<Record<IptablesMode, string>>;
  /** ip6tables-save output per backend, gathered when the cluster CIDR has an IPv6 range (the agent then programs ip6tables). */
  ip6tables?: Partial<Record<IptablesMode, string>>;
  /** `nft -j list table bridge bridgeway`, the plugin's anti-spoofing table, read back; or why there is none to read. */
  antispoof: ListedTable | { absent: 'table' | 'nft' } | { error: string };
  conflist: { path: string; file: FileRead; /** Other network configs the runtime would read first. */ before: string[] };
  plugin: { path: string; source: string; installed?: { size: number; executable: boolean }; sameAsSource?: boolean; error?: string };
  ipam: { dir: string; reservations: Reservation[]; error?: string; delegatedTo?: string };
  networkManager: { running: boolean; /** Not running as far as a pod without the host's /run can tell. */ hidden?: boolean; via?: 'nmcli' | 'config'; /** nmcli: device -> state. */ devices?: Record<string, string>; /** config: unmanaged-devices values. */ unmanaged?: string[]; error?: string };
  policy: PolicyFacts;
  uplinks: UplinkFacts;
  /** The network configs in macvlan mode in the CNI config directory (issue 20). */
  macvlan?: MacvlanNetworkFacts[];
  /** The network configs of "bridgeType": "ovs" and their databases (issue 21); absent when there are none. */
  ovs?: OvsFacts;
  /** The agent's /readyz. */
  agent: { url: string; status?: number; body?: string; error?: string };
  kube?: { server: string; error?: string; access: AccessReview[] };
}
