// A network interface as the kernel layer reads it back, whichever backend read it: iproute2
// parses `ip -j` (lib/iproute2/link.ts), rtnetlink decodes RTM_NEWLINK (lib/netlink/kernel.ts).
// Neutral names, as vishvananda/netlink's link.go keeps its Link apart from how it is fetched;
// the master is resolved to its name, which is what the plugin compares.
import type { IpCidr } from '../cidr.ts';

/**
 * An address as read back with its details (the uplink move replays them on another link). Each
 * backend fills what it read: rtnetlink from RTM_NEWADDR, iproute2 from `ip -j addr show`.
 */
export interface KernelAddress extends IpCidr {
  /** "1.2.3.255" */
  broadcast?: string;
  /** As iproute2 names scopes ("global", "link", "host"), else the number. */
  scope?: string;
  /** IFA_F_* by iproute2's names: "secondary" (IPv4), "temporary" (IPv6), "permanent", "noprefixroute", "nodad"... */
  flags?: string[];
  /** Seconds left; absent when forever. */
  validLft?: number;
  preferredLft?: number;
}

/** The kernel's macvlan modes (IFLA_MACVLAN_MODE), by the names `ip link` gives them. */
export type MacvlanMode = 'private' | 'vepa' | 'bridge' | 'passthru';

export interface KernelLink {
  index: number;
  name: string;
  /** The hardware address, "aa:bb:cc:dd:ee:ff". */
  mac?: string;
  mtu?: number;
  /** The name of the link this one is a port of (its bridge). */
  master?: string;
  /** IFF_* flags by name, as the kernel's headers spell them ("UP", "LOWER_UP"). */
  flags: string[];
  /** RFC 2863 operational state ("UP", "DOWN", "LOWERLAYERDOWN"); "UP" means carrier on both ends of a veth. */
  operState?: string;
  /** IFLA_IFALIAS, when set: how GC and CHECK recognise our host veths. */
  alias?: string;
  /** The link's type ("bridge", "veth"), when read with its details. */
  kind?: string;
  /** The type of link it is a port of ("bridge"), when read with its details. */
  portKind?: string;
  /** A bridge port's hairpin mode, when read with its details. */
  hairpin?: boolean;
  /** A macvlan's mode, when read with its details. */
  macvlanMode?: MacvlanMode;
  /** Its addresses, when read with them (Kernel.readNamespace). */
  addresses?: KernelAddress[];
}
