// The plugin's kernel changes as data: what cni/plan.ts decides and either backend applies
// (lib/netlink/kernel.ts in-process, lib/iproute2/kernel.ts through `ip -batch`).
// Each change says its own idempotence: creating the shared bridge tolerates "exists", deleting a
// link tolerates "missing", a sysctl may tolerate "missing"; everything else must succeed. lib/iproute2/change-command.ts spells
// each as an `ip` command, which is also how errors name a change, so an admin can replay it by hand.
import type { Element } from '../antispoof/ruleset.ts';
import type { IpAddress, IpCidr } from '../cidr.ts';
import type { Tolerated } from './errors.ts';
import type { MacvlanMode } from './link.ts';

export type Change =
  /**
   * A bridge with its MAC and MTU set at creation; one that already exists is left as it is,
   * unless `exclusive` (the uplink's bridge: made only where none was, so its undo deletes only
   * what it made). `stpOff`: stp_state 0 and forward_delay 0 (IFLA_BR_*), so a new port forwards at once.
   */
  | { op: 'add-bridge'; name: string; mac: string; mtu: number; stpOff?: boolean; exclusive?: boolean }
  | { op: 'set-up'; link: string }
  | { op: 'set-down'; link: string }
  /** IFLA_IFALIAS; the empty alias clears it. */
  | { op: 'set-alias'; link: string; alias: string }
  /** Becomes a port of the bridge, and nothing else (the uplink NIC: its own alias and state stay). */
  | { op: 'set-master'; link: string; bridge: string }
  /** Leaves its bridge (IFLA_MASTER 0, `nomaster`). */
  | { op: 'release-port'; link: string }
  /**
   * No duplicate address detection on the IPv6 addresses we add (`nodad`). IPAM guarantees they
   * are unique on this bridge, and DAD would leave each one "tentative", unusable, for about a
   * second (longer on a bridge without ports, which has no carrier): the reference bridge plugin
   * waits up to 5 s for DAD to settle, which once raised Kubernetes pod start latency from 3-4 s
   * to 16-19 s. With nodad the address is usable the moment ADD returns.
   */
  | ({ op: 'add-address'; link: string; address: IpCidr; replace?: boolean } & AddressDetails)
  /** One address off a link (RTM_DELADDR by local address and prefix length). */
  | { op: 'delete-address'; link: string; address: IpCidr }
  /** A veth pair whose peer is born in another namespace (a path, as runtimes give it). */
  | { op: 'add-veth'; name: string; mac: string; mtu: number; peer: { name: string; mac: string; mtu: number; netns: string } }
  /** Port of a bridge, with its alias, and up: one message, as `ip link add` ignores an alias. */
  | { op: 'attach-port'; link: string; bridge: string; alias: string }
  /**
   * A bridge port's hairpin mode (IFLA_BRPORT_MODE): whether the bridge may send a frame back out
   * of the port it came in by. Said both ways: `on: false` turns off what someone else turned on.
   */
  | { op: 'set-hairpin'; link: string; on: boolean }
  | { op: 'set-mac'; link: string; mac: string }
  /**
   * `replace`: the route is made or made so (a shared route many ADDs ask for); `source`: the
   * address the node picks for what it sends by this route (RTA_PREFSRC).
   */
  | ({ op: 'add-route'; dst: IpCidr; gateway?: IpAddress; link: string; replace?: boolean; source?: IpAddress } & RouteDetails)
  /**
   * A main-table route through `link` off, matched by what is given (the kernel compares only the
   * fields a request sets): the uplink move deletes exactly the NIC's copy of a route it re-made.
   */
  | { op: 'delete-route'; dst: IpCidr; gateway?: IpAddress; link: string; protocol?: number; metric?: number }
  /**
   * A macvlan of `master` (a link of the batch's namespace) in `mode`. With `netns` it is born in
   * that namespace (IFLA_NET_NS_FD: created and moved in one message, so it never exists in the
   * node by itself); with `shared` one that exists already is no error (the node's host shim).
   * Without `mac` the kernel picks one (passthru: the master's).
   */
  | { op: 'add-macvlan'; name: string; master: string; mode: MacvlanMode; mtu: number; mac?: string; netns?: string; shared?: boolean }
  /** A link that is already gone counts as deleted. */
  | { op: 'delete-link'; link: string }
  /**
   * A sysctl of the namespace the batch runs in, by its path under /proc/sys (`net/ipv6/conf/eth0/accept_ra`).
   * /proc/sys/net shows the network namespace of whoever opens it, so a backend writes it from
   * inside the batch's namespace. No netlink message or `ip` option sets these. `tolerate:
   * 'missing'`: a key that does not exist (IPv6 disabled in that namespace or kernel) is no error.
   */
  | { op: 'set-sysctl'; key: string; value: string; tolerate?: 'missing' }
  /**
   * What the pod behind this bridge port may send as (lib/antispoof/ruleset.ts): its elements in
   * the anti-spoofing table of the batch's namespace (the node's), added in one transaction.
   * The table is made first when it is missing (once per node: create-if-missing, race-safe); a
   * kernel that cannot hold it fails with NftablesUnavailableError, never silently unguarded.
   * Elements already there are no error (a retried ADD adds the same ones).
   */
  | { op: 'guard-port'; link: string; elements: readonly Element[] }
  /** The port's elements removed; those already gone, or no table at all, count as removed (DEL is idempotent). */
  | { op: 'unguard-port'; link: string; elements: readonly Element[] };

/**
 * What the uplink move (lib/uplink/) replays of an address it carries to another link: it must
 * stay what it was (a DHCP lease keeps its remaining lifetimes, a noprefixroute address makes no
 * prefix route).
 */
export interface AddressDetails {
  broadcast?: IpAddress;
  /** RT_SCOPE_* (0 global, 253 link, 254 host); without it iproute2's default for the address. */
  scope?: number;
  noprefixroute?: boolean;
  /** Seconds left (IFA_CACHEINFO); without it the address is permanent. */
  lifetime?: { valid: number; preferred: number };
}

/** What the uplink move replays of a route it carries to another link. */
export interface RouteDetails {
  /**
   * NLM_F_APPEND (`ip route append`): made beside the same route through another link, which the
   * kernel keys IPv4 routes without (so `add` would fail with "exists" until that one goes).
   */
  append?: boolean;
  /** RTPROT_* (default boot, as `ip route add`). */
  protocol?: number;
  /** RT_SCOPE_* (default: universe with a gateway or IPv6, link without). */
  scope?: number;
  /** RTA_PRIORITY. */
  metric?: number;
  /** RTNH_F_ONLINK: the gateway is on the link even if no prefix of it says so. */
  onlink?: boolean;
}

/** A change to the anti-spoofing table, which nftables makes (not rtnetlink, not `ip`). */
export type PortGuardChange = Extract<Change, { op: 'guard-port' | 'unguard-port' }>;

export function isPortGuardChange(change: Change): change is PortGuardChange {
  return change.op === 'guard-port' || change.op === 'unguard-port';
}

/** A sysctl to set, by its path under /proc/sys. */
export type SysctlChange = Extract<Change, { op: 'set-sysctl' }>;

/** Reads that end a batch of changes in the same process (iproute2) or on the same socket. */
export type LinkQuery = { op: 'show-link'; link: string } | { op: 'show-ports'; bridge: string };

/**
 * The one failure a change tolerates, if any: the shared bridge may exist, a deleted link may be
 * gone, a sysctl may say it tolerates its absence.
 */
export function toleratedFailure(change: Change | LinkQuery): Tolerated | undefined {
  if (change.op === 'add-bridge') return change.exclusive ? undefined : 'exists';
  if (change.op === 'add-macvlan' && change.shared) return 'exists';
  if (change.op === 'delete-link') return 'missing';
  if (change.op === 'set-sysctl') return change.tolerate;
  if (change.op === 'unguard-port') return 'missing';
  return undefined;
}
