// Pure: which NIC of the node a macvlan network hangs off, and the pod's MTU, from one read of
// the node's namespace (its links with their addresses, its main table). The master defaults to
// the interface of the node's default route, as the reference macvlan plugin takes it. Errors
// here come before any address is reserved or link made, so a bad config leaves nothing.
import type { IpAddress } from '../../lib/cidr.ts';
import type { KernelLink } from '../../lib/kernel/link.ts';
import type { KernelRoute } from '../../lib/kernel/route.ts';
import { CniError, ErrorCode } from '../errors.ts';
import type { MacvlanConf } from './config.ts';

export interface Master {
  name: string;
  mtu: number;
  up: boolean;
  /** Its IPv4 addresses: the host shim's routes use the first as the node's source address. */
  ipv4: IpAddress[];
  /** Its own kind when it has one (a bridge, a bond); a physical NIC has none. */
  kind?: string;
}

export interface NodeView {
  links: KernelLink[];
  routes: KernelRoute[];
}

const DEFAULT_DST = new Set(['default', '0.0.0.0/0', '::/0']);

/** The default route's interface: IPv4's first, else IPv6's. */
export function defaultRouteInterface(routes: readonly KernelRoute[]): string | undefined {
  const defaults = routes.filter((r) => DEFAULT_DST.has(r.dst) && r.dev);
  return (defaults.find((r) => !r.dst.includes(':')) ?? defaults[0])?.dev;
}

export function resolveMaster(conf: MacvlanConf, node: NodeView): Master {
  const name = conf.master ?? defaultRouteInterface(node.routes);
  if (name === undefined) {
    throw new CniError(ErrorCode.InvalidNetworkConfig, 'no "master" in the config and no default route in the node\'s network namespace to take it from: set "master" to the NIC the pods\' macvlans hang off');
  }
  const link = node.links.find((l) => l.name === name);
  if (!link) {
    const names = node.links.filter((l) => !l.flags.includes('LOOPBACK')).map((l) => l.name);
    throw new CniError(
      ErrorCode.InvalidNetworkConfig,
      `master ${JSON.stringify(name)} is not an interface of the node's network namespace (misspelt, or in another namespace: a macvlan's master must be the node's own NIC); the node has ${names.join(', ') || 'no interface but lo'}`,
    );
  }
  // The kernel would make a macvlan of a macvlan's own master instead, silently: say so.
  if (link.kind === 'macvlan') throw new CniError(ErrorCode.InvalidNetworkConfig, `master ${JSON.stringify(name)} is itself a macvlan: give the NIC it hangs off`);
  return {
    name,
    mtu: link.mtu ?? 1500,
    up: link.flags.includes('UP'),
    ipv4: (link.addresses ?? []).filter((a) => a.family === 4).map((a) => ({ family: 4 as const, value: a.address })),
    ...(link.kind ? { kind: link.kind } : {}),
  };
}

/** The pod's MTU: the config's, which the kernel refuses above the master's, or the master's own. */
export function podMtu(conf: MacvlanConf, master: Master): number {
  if (conf.mtu === undefined) return master.mtu;
  if (conf.mtu > master.mtu) {
    throw new CniError(
      ErrorCode.InvalidNetworkConfig,
      `"mtu" ${conf.mtu} is above the MTU of the master ${master.name} (${master.mtu}): a macvlan cannot send larger frames than its NIC; lower "mtu" or leave it out to take the master's`,
    );
  }
  return conf.mtu;
}
