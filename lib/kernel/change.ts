// The plugin's kernel changes as data: what cni/plan.ts decides and either backend applies
// (lib/netlink/kernel.ts in-process, lib/iproute2/kernel.ts through `ip -batch`).
// Each change says its own idempotence: creating the shared bridge tolerates "exists", deleting a
// link tolerates "missing"; everything else must succeed. toIpCommand is the iproute2 spelling of
// each, which is also how errors name a change, so an admin can replay it by hand.
import { formatCidr, formatIp, type IpAddress, type IpCidr } from '../cidr.ts';
import type { IpCommand } from '../iproute2/batch.ts';

export type Change =
  /** A bridge with its MAC and MTU set at creation; one that already exists is left as it is. */
  | { op: 'add-bridge'; name: string; mac: string; mtu: number }
  | { op: 'set-up'; link: string }
  /**
   * No duplicate address detection on the IPv6 addresses we add (`nodad`). IPAM guarantees they
   * are unique on this bridge, and DAD would leave each one "tentative", unusable, for about a
   * second (longer on a bridge without ports, which has no carrier): the reference bridge plugin
   * waits up to 5 s for DAD to settle, which once raised Kubernetes pod start latency from 3-4 s
   * to 16-19 s. With nodad the address is usable the moment ADD returns.
   */
  | { op: 'add-address'; link: string; address: IpCidr; replace?: boolean }
  /** A veth pair whose peer is born in another namespace (a path, as runtimes give it). */
  | { op: 'add-veth'; name: string; mac: string; mtu: number; peer: { name: string; mac: string; mtu: number; netns: string } }
  /** Port of a bridge, with its alias, and up: one message, as `ip link add` ignores an alias. */
  | { op: 'attach-port'; link: string; bridge: string; alias: string }
  | { op: 'set-hairpin'; link: string }
  | { op: 'set-mac'; link: string; mac: string }
  | { op: 'add-route'; dst: IpCidr; gateway?: IpAddress; link: string }
  /** A link that is already gone counts as deleted. */
  | { op: 'delete-link'; link: string };

/** Reads that end a batch of changes in the same process (iproute2) or on the same socket. */
export type LinkQuery = { op: 'show-link'; link: string } | { op: 'show-ports'; bridge: string };

/** IPv6 addresses get `nodad`; link-local ones are recognised by iproute2 itself. */
function addressArgs(address: IpCidr): string[] {
  return address.family === 6 ? ['nodad'] : [];
}

export function toIpCommand(change: Change | LinkQuery): IpCommand {
  switch (change.op) {
    case 'add-bridge':
      return { args: ['link', 'add', change.name, 'address', change.mac, 'mtu', String(change.mtu), 'type', 'bridge'], tolerate: 'exists' };
    case 'set-up':
      return { args: ['link', 'set', change.link, 'up'] };
    case 'add-address':
      return { args: ['addr', change.replace ? 'replace' : 'add', formatCidr(change.address), 'dev', change.link, ...addressArgs(change.address)] };
    case 'add-veth': {
      const { peer } = change;
      return {
        args: ['link', 'add', change.name, 'mtu', String(change.mtu), 'address', change.mac, 'type', 'veth',
          'peer', 'name', peer.name, 'mtu', String(peer.mtu), 'address', peer.mac, 'netns', peer.netns],
      };
    }
    case 'attach-port':
      return { args: ['link', 'set', change.link, 'master', change.bridge, 'alias', change.alias, 'up'] };
    case 'set-hairpin':
      return { args: ['link', 'set', change.link, 'type', 'bridge_slave', 'hairpin', 'on'] };
    case 'set-mac':
      return { args: ['link', 'set', 'dev', change.link, 'address', change.mac] };
    case 'add-route':
      return { args: ['route', 'add', formatCidr(change.dst), ...(change.gateway ? ['via', formatIp(change.gateway)] : []), 'dev', change.link] };
    case 'delete-link':
      return { args: ['link', 'del', change.link], tolerate: 'missing' };
    case 'show-link':
      return { args: ['link', 'show', 'dev', change.link] };
    case 'show-ports':
      return { args: ['link', 'show', 'master', change.bridge] };
  }
}

/** How errors and logs name a change: its iproute2 spelling. */
export function describeChange(change: Change | LinkQuery): string {
  return toIpCommand(change).args.join(' ');
}
