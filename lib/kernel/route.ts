// A route of a routing table as the kernel layer reads it back, whichever backend read it
// (`ip -j route` in lib/iproute2/route.ts, RTM_NEWROUTE in lib/netlink/kernel.ts).

export interface KernelRoute {
  /** A CIDR of its family: a default route is 0.0.0.0/0 or ::/0, a host route /32 or /128. */
  dst: string;
  gateway?: string;
  /** The name of the link it leaves by. */
  dev?: string;
  /** Who made it, as iproute2 names protocols ("kernel", "dhcp", our "77"); absent for "boot". */
  protocol?: string;
  scope?: string;
  type?: string;
  /** RTA_PRIORITY, when read with details (Kernel.readNamespace). */
  metric?: number;
  /** RTA_PREFSRC, when read with details. */
  prefsrc?: string;
  /** RTNH_F_ONLINK, when read with details. */
  onlink?: boolean;
  /** Absent for the main table when read with `table all`. */
  table?: string;
}
