// What the plugin needs from the kernel's networking, whichever way it is reached: rtnetlink
// from the plugin's own process (lib/netlink/kernel.ts, on Bun) or iproute2 processes
// (lib/iproute2/kernel.ts, where FFI is not available: the bundle on Node). Namespaces are
// paths; without one, the calls act on the namespace the plugin runs in (the node's).
import type { Element } from '../antispoof/ruleset.ts';
import type { Change, LinkQuery } from './change.ts';
import type { KernelLink } from './link.ts';
import type { KernelRoute } from './route.ts';

export interface Kernel {
  /**
   * Applies the changes in order, then answers the queries (one list of links each: a
   * `show-link` of a missing link fails). A change failing other than in its tolerated way
   * rejects with KernelChangeError; nothing is undone (the caller knows what to undo).
   */
  apply(changes: readonly Change[], queries?: readonly LinkQuery[], netns?: string): Promise<KernelLink[][]>;
  /** One link, or undefined when there is none by that name. */
  getLink(name: string, netns?: string): Promise<KernelLink | undefined>;
  /** Deletes a link of the node; resolves true when it was present, false when already gone (DEL logs which). */
  deleteLinkIfPresent(name: string): Promise<boolean>;
  /**
   * Deletes links of the node, those that are present (rollback, GC); missing ones are no error.
   * One that cannot be deleted does not keep the others: the KernelChangeError names each failure.
   */
  deleteLinksIfPresent(names: readonly string[]): Promise<void>;
  /** The node's links of one kind (e.g. "veth"), with their aliases. */
  listLinks(kind: string): Promise<KernelLink[]>;
  /**
   * Every link of a namespace with its addresses (with their details: lib/kernel/link.ts's
   * KernelAddress), and its main routing table (both families when ipv6); undefined: the node's.
   */
  readNamespace(netns: string | undefined, options: { ipv6: boolean }): Promise<{ links: KernelLink[]; routes: KernelRoute[] }>;
  /**
   * The node's anti-spoofing elements (lib/antispoof/ruleset.ts), by the port (host veth) they
   * belong to: what GC and CHECK compare with what should be there. No table: an empty map.
   */
  listGuards(): Promise<Map<string, Element[]>>;
  /** Sysctls of a namespace by key (`net/ipv6/conf/eth0/accept_ra`); undefined for a key it does not have. */
  readSysctls(keys: readonly string[], netns: string): Promise<Map<string, string | undefined>>;
}
