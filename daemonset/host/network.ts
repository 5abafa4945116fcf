// What the agent, uninstall and the doctor read and change of the node's own networking: its
// interfaces with their addresses, its main routing table, our routes (RouteChange, data) and
// the bridge. Two ways, one shape: rtnetlink from the agent's own process where the runtime
// offers FFI (the Bun executable: no `ip` process per sync, nothing to install in the image), or
// iproute2 processes (`ip -j -batch`) where it does not (the agent on Node, the bench's
// comparison build). Both answer in iproute2's spelling (lib/iproute2/addr.ts, route.ts), which
// the planners and checks read.
import { parseCidr, parseIp } from '../../lib/cidr.ts';
import type { Runner } from '../../lib/exec.ts';
import { parseInterfaceAddresses, type InterfaceAddresses } from '../../lib/iproute2/addr.ts';
import { queryIpJson, runIpBatch } from '../../lib/iproute2/batch.ts';
import { deleteLinksIfPresent } from '../../lib/iproute2/link.ts';
import { mainTableOf } from '../../lib/iproute2/route.ts';
import { KernelChangeError, type ChangeFailure } from '../../lib/kernel/errors.ts';
import type { KernelRoute } from '../../lib/kernel/route.ts';
import { ERRNO, NetlinkError } from '../../lib/netlink/errors.ts';
import { interfaceAddresses, mainRoutes } from '../../lib/netlink/read-node.ts';
import { Rtnl } from '../../lib/netlink/rtnl.ts';
import type { Transport } from '../../lib/netlink/transport.ts';
import { ROUTE_PROTO } from '../../lib/names.ts';
import { describeRouteChange, routeCommands } from '../routes/ip-batch.ts';
import type { RouteChange } from '../routes/plan.ts';

export interface HostNetwork {
  /** Which way it reaches the kernel, for the start-up log line. */
  readonly backend: 'rtnetlink' | 'iproute2';
  /** Every interface with its addresses, and the main table of both families, read together. */
  read(): Promise<{ links: InterfaceAddresses[]; mainTable: KernelRoute[] }>;
  /**
   * Applies the changes in order, each past the others' failures; rejects with a
   * KernelChangeError naming every change that failed other than in its tolerated way.
   */
  changeRoutes(changes: readonly RouteChange[]): Promise<void>;
  /** Deletes the links that are present; missing ones are no error. */
  deleteLinksIfPresent(names: readonly string[]): Promise<void>;
}

export function iproute2Network(run: Runner): HostNetwork {
  return {
    backend: 'iproute2',
    async read() {
      const [addresses, routes] = await queryIpJson(run, [['addr', 'show'], ['route', 'show', 'table', 'all']]);
      return { links: parseInterfaceAddresses(addresses!), mainTable: mainTableOf(routes!) };
    },
    async changeRoutes(changes) {
      await runIpBatch(run, routeCommands(changes));
    },
    deleteLinksIfPresent: (names) => deleteLinksIfPresent(run, names),
  };
}

/**
 * Over one rtnetlink socket of the agent's namespace, opened on first use and kept (the agent
 * syncs for its whole life; a socket is one file descriptor). How the kernel says what a route
 * change tolerates: RTM_NEWROUTE with NLM_F_EXCL of a route that exists, EEXIST; RTM_DELROUTE of
 * one that does not, ESRCH ("No such process", what `ip route del` prints).
 */
export function netlinkNetwork(openSocket: () => Transport): HostNetwork {
  let rtnl: Rtnl | undefined;
  const socket = () => (rtnl ??= new Rtnl(openSocket()));
  return {
    backend: 'rtnetlink',
    async read() {
      const r = socket();
      return { links: interfaceAddresses(r), mainTable: mainRoutes(r) };
    },
    async changeRoutes(changes) {
      const r = socket();
      const indexes = new Map<string, number>();
      const indexOf = (dev: string) => {
        let index = indexes.get(dev);
        if (index === undefined) indexes.set(dev, (index = r.getLink(dev).index));
        return index;
      };
      const failures: ChangeFailure[] = [];
      for (const change of changes) {
        const what = describeRouteChange(change);
        try {
          applyRouteChange(r, what, change, indexOf);
        } catch (error) {
          if (!(error instanceof NetlinkError)) throw error;
          if (change.op === 'add-route' && error.errno === ERRNO.EEXIST) continue;
          if (change.op === 'delete-route' && error.errno === ERRNO.ESRCH) continue;
          failures.push({ what, message: error.reason, kind: error.errno === ERRNO.EEXIST ? 'exists' : error.errno === ERRNO.ESRCH || error.errno === ERRNO.ENODEV ? 'missing' : 'other' });
        }
      }
      if (failures.length > 0) throw new KernelChangeError(failures, 'rtnetlink: ');
    },
    async deleteLinksIfPresent(names) {
      const r = socket();
      const failures: ChangeFailure[] = [];
      for (const name of names) {
        try {
          r.deleteLink(`ip link del ${name}`, name);
        } catch (error) {
          if (!(error instanceof NetlinkError)) throw error;
          if (error.errno !== ERRNO.ENODEV) failures.push({ what: `ip link del ${name}`, message: error.reason, kind: 'other' });
        }
      }
      if (failures.length > 0) throw new KernelChangeError(failures, 'rtnetlink: ');
    },
  };
}

function applyRouteChange(rtnl: Rtnl, what: string, change: RouteChange, indexOf: (dev: string) => number): void {
  const dst = parseCidr(change.dst);
  if (!dst) throw new Error(`${what}: not a CIDR`);
  const protocol = Number(ROUTE_PROTO);
  if (change.op === 'delete-route') return rtnl.changeRoute(what, 'delete', { dst, protocol });
  const gateway = parseIp(change.via);
  if (!gateway) throw new Error(`${what}: not an address: ${change.via}`);
  rtnl.changeRoute(what, change.op === 'add-route' ? 'add' : 'replace', { dst, gateway, oif: indexOf(change.dev), protocol });
}
