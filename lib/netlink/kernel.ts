// The Kernel over rtnetlink from the plugin's own process: no `ip` or `nsenter` to spawn, which
// was most of the plugin's remaining CPU per ADD (bench/README.md). One socket per namespace,
// opened on first use and kept for the invocation (the process's exit closes them). The socket
// comes from the opener it is given (socket.ts's in the plugin, a recorder in unit tests), and
// kernel errors become the kernel layer's: a change's tolerated errno is no error, any other
// a KernelChangeError naming the change in ip syntax with the kernel's own words. Sysctls are
// files, not messages: written with node:fs from inside the batch's namespace (the runInNetns it
// is given: socket.ts's, which enters with setns(2) and comes straight back), since /proc/sys/net
// shows the namespace of the thread that opens the file.
import fs from 'node:fs';
import { errnoCode } from '../errors.ts';
import { readSysctl, writeSysctl } from '../sysctl.ts';
import { formatIp } from '../cidr.ts';
import { AF_INET, AF_INET6 } from './codec.ts';
import {
  addressFlagNames, INFINITY_LIFE_TIME, RT_SCOPE, RT_TABLE_MAIN, RTN_UNICAST, RTNH_F_ONLINK, RTPROT_BOOT, type DecodedAddress, type DecodedLink, type DecodedRoute,
} from './rtnl-codec.ts';
import { protocolName, scopeName } from '../kernel/rt-names.ts';
import { addressFromBytes, Rtnl } from './rtnl.ts';
import type { BatchTransport, Transport } from './transport.ts';
import { ANTISPOOF_SETS, antispoofRuleset, elementsByPort } from '../antispoof/ruleset.ts';
import { guardPort, readElements, unguardPort } from '../antispoof/port-guard.ts';
import { ERRNO, NetlinkError } from './errors.ts';
import { describeChange } from '../iproute2/change-command.ts';
import { isPortGuardChange, toleratedFailure, type Change, type LinkQuery, type PortGuardChange } from '../kernel/change.ts';
import { KernelChangeError, type ChangeFailure, type Tolerated } from '../kernel/errors.ts';
import type { Kernel } from '../kernel/kernel.ts';
import type { KernelAddress, KernelLink } from '../kernel/link.ts';
import type { KernelRoute } from '../kernel/route.ts';

/** How the kernel says what a change tolerates (RTM_DELLINK of a name it does not know: ENODEV). */
const TOLERATED_ERRNO: Record<Tolerated, number> = { exists: ERRNO.EEXIST, missing: ERRNO.ENODEV };

/** Opens an rtnetlink socket in the namespace at the path, or in the caller's when none is given. */
export type OpenSocket = (netnsPath?: string) => Transport;

/** Runs a synchronous action with the thread inside the namespace at the path, and back (socket.ts). */
export type RunInNetns = <T>(netnsPath: string, action: () => T) => T;

/** Opens an nfnetlink (NETLINK_NETFILTER) socket in the namespace at the path, or in the caller's. */
export type OpenNetfilterSocket = (netnsPath?: string) => BatchTransport & Transport;

export interface NetlinkKernelOptions {
  runInNetns: RunInNetns;
  /**
   * For the anti-spoofing changes; opened only when a batch has one, so the commands of a
   * network without anti-spoofing never pay for the socket.
   */
  openNetfilter?: OpenNetfilterSocket;
  /** Where /proc/sys is (a directory of files in unit tests). */
  procSys?: string;
}

export function netlinkKernel(openSocket: OpenSocket, options: NetlinkKernelOptions): Kernel {
  const procSys = options.procSys ?? '/proc/sys';
  /** In the namespace at the path, or right here (the node's) without one. */
  const inside = <T>(netns: string | undefined, action: () => T): T => (netns ? options.runInNetns(netns, action) : action());
  const sockets = new Map<string, Rtnl>();
  const open = (netns = '') => {
    let rtnl = sockets.get(netns);
    if (!rtnl) sockets.set(netns, (rtnl = new Rtnl(openSocket(netns || undefined))));
    return rtnl;
  };
  const nfSockets = new Map<string, BatchTransport & Transport>();
  const openNetfilter = (netns = '') => () => {
    let socket = nfSockets.get(netns);
    if (!socket) {
      if (!options.openNetfilter) throw new Error('netlinkKernel: an anti-spoofing change, but no nfnetlink socket opener');
      nfSockets.set(netns, (socket = options.openNetfilter(netns || undefined)));
    }
    return socket;
  };

  return {
    async apply(changes, queries = [], netns) {
      const rtnl = open(netns);
      const indexOf = indexCache(rtnl);
      for (const change of changes) {
        if (change.op === 'set-sysctl') {
          inside(netns, () => setSysctl(change, () => writeSysctl(procSys, change.key, change.value)));
          continue;
        }
        if (isPortGuardChange(change)) {
          applyPortGuard(change, openNetfilter(netns));
          continue;
        }
        try {
          applyChange(rtnl, change, indexOf);
        } catch (error) {
          if (!(error instanceof NetlinkError)) throw error;
          const tolerated = toleratedFailure(change);
          if (tolerated && TOLERATED_ERRNO[tolerated] === error.errno) continue;
          throw new KernelChangeError([failure(describeChange(change), error)], 'rtnetlink: ');
        }
      }
      return queries.map((query) => runQuery(rtnl, query));
    },
    async getLink(name, netns) {
      const rtnl = open(netns);
      try {
        return toKernelLink(rtnl, rtnl.getLink(name));
      } catch (error) {
        if (error instanceof NetlinkError && error.errno === ERRNO.ENODEV) return undefined;
        throw error;
      }
    },
    async deleteLinkIfPresent(name) {
      try {
        open().deleteLink(`link del ${name}`, name);
        return true;
      } catch (error) {
        if (error instanceof NetlinkError && error.errno === ERRNO.ENODEV) return false;
        throw error;
      }
    },
    async deleteLinksIfPresent(names) {
      // Each link on its own, as `ip -force -batch` does: a veth GC cannot delete must not keep the
      // others (they would wait for the next GC); the error names every one that failed.
      const failures: ChangeFailure[] = [];
      for (const link of names) {
        try {
          await this.apply([{ op: 'delete-link', link }]);
        } catch (error) {
          if (!(error instanceof KernelChangeError)) throw error;
          failures.push(...error.failures);
        }
      }
      if (failures.length > 0) throw new KernelChangeError(failures, 'rtnetlink: ');
    },
    async listLinks(kind) {
      const rtnl = open();
      return rtnl.listLinks({ kind }).map((link) => toKernelLink(rtnl, link));
    },
    async listGuards() {
      // GETSETELEM dumps on the node's nfnetlink socket (opened here if no change opened it).
      return elementsByPort(readElements(openNetfilter(), antispoofRuleset()));
    },
    async readSysctls(keys, netns) {
      return inside(netns, () => new Map(keys.map((key) => [key, readSysctl(procSys, key)])));
    },
    async readNamespace(netns, { ipv6 }) {
      const rtnl = open(netns);
      const decoded = rtnl.listLinks();
      const names = new Map(decoded.map((l) => [l.index, l.name]));
      const links = decoded.map((l) => ({ ...toKernelLink(rtnl, l, names), addresses: [] as KernelAddress[] }));
      for (const address of rtnl.listAddresses()) {
        const link = links.find((l) => l.index === address.index);
        const kernelAddress = toKernelAddress(address);
        if (link && kernelAddress) link.addresses.push(kernelAddress);
      }
      const routes: KernelRoute[] = [];
      for (const family of ipv6 ? [AF_INET, AF_INET6] : [AF_INET]) {
        for (const route of rtnl.listRoutes(family)) {
          if (route.table !== RT_TABLE_MAIN || route.type !== RTN_UNICAST) continue;
          const kernelRoute = toDetailedRoute(route, family, names);
          if (kernelRoute) routes.push(kernelRoute);
        }
      }
      return { links, routes };
    },
  };
}

/**
 * One sysctl write; fs errors become the kernel layer's (ENOENT: the kernel has no such key,
 * "missing", which the change may tolerate), named as the `sysctl -w` an admin would run.
 */
function setSysctl(change: Extract<Change, { op: 'set-sysctl' }>, write: () => void): void {
  try {
    write();
  } catch (error) {
    const code = errnoCode(error);
    if (code === undefined) throw error;
    const kind = code === 'ENOENT' ? 'missing' : 'other';
    if (kind === change.tolerate) return;
    throw new KernelChangeError([{ what: describeChange(change), message: (error as Error).message, kind }]);
  }
}

/**
 * The anti-spoofing elements of a port, one nf_tables transaction (lib/antispoof/port-guard.ts).
 * A kernel without the bridge family throws NftablesUnavailableError as it is (its message is
 * the way out); other refusals become a KernelChangeError naming the change in nft syntax.
 */
function applyPortGuard(change: PortGuardChange, open: () => BatchTransport): void {
  try {
    if (change.op === 'guard-port') guardPort(open, ANTISPOOF_SETS, antispoofRuleset, change.elements);
    else unguardPort(open, ANTISPOOF_SETS, change.elements);
  } catch (error) {
    if (!(error instanceof NetlinkError)) throw error;
    throw new KernelChangeError([{ what: describeChange(change), message: error.reason, kind: 'other' }], 'nfnetlink: ');
  }
}

/**
 * Link indexes by name for one batch: addresses, routes and ports name their link by index, and a
 * batch names the bridge or the pod's interface several times. Within a batch only delete-link
 * makes a name stale.
 */
function indexCache(rtnl: Rtnl): IndexOf {
  const indexes = new Map<string, number>();
  const indexOf = (name: string) => {
    let index = indexes.get(name);
    if (index === undefined) indexes.set(name, (index = rtnl.getLink(name).index));
    return index;
  };
  indexOf.forget = (name: string) => void indexes.delete(name);
  return indexOf;
}

type IndexOf = ((name: string) => number) & { forget(name: string): void };

function applyChange(rtnl: Rtnl, change: Exclude<Change, { op: 'set-sysctl' } | PortGuardChange>, indexOf: IndexOf): void {
  const what = describeChange(change);
  switch (change.op) {
    case 'add-bridge':
      return rtnl.addBridge(what, change.name, change.mac, change.mtu, { stpOff: change.stpOff ?? false });
    case 'set-up':
      return rtnl.setLink(what, change.link, { up: true });
    case 'set-down':
      return rtnl.setLink(what, change.link, { up: false });
    case 'set-alias':
      return rtnl.setLink(what, change.link, { alias: change.alias });
    case 'set-master':
      return rtnl.setLink(what, change.link, { master: indexOf(change.bridge) });
    case 'release-port':
      return rtnl.setLink(what, change.link, { master: 0 });
    case 'add-address': {
      const { op: _op, link, address, replace, ...details } = change;
      return rtnl.addAddress(what, indexOf(link), address, replace ?? false, details);
    }
    case 'delete-address':
      return rtnl.deleteAddress(what, indexOf(change.link), change.address);
    case 'add-veth': {
      const { peer } = change;
      const netns = fs.openSync(peer.netns, 'r');
      try {
        return rtnl.addVeth(what, change, peer, netns);
      } finally {
        fs.closeSync(netns);
      }
    }
    case 'add-macvlan': {
      const link = { name: change.name, masterIndex: indexOf(change.master), mode: change.mode, mtu: change.mtu, ...(change.mac ? { mac: change.mac } : {}) };
      if (!change.netns) return rtnl.addMacvlan(what, link);
      const netns = fs.openSync(change.netns, 'r');
      try {
        return rtnl.addMacvlan(what, link, netns);
      } finally {
        fs.closeSync(netns);
      }
    }
    case 'attach-port':
      return rtnl.setLink(what, change.link, { master: indexOf(change.bridge), alias: change.alias, up: true });
    case 'set-hairpin':
      return rtnl.setLink(what, change.link, { hairpin: change.on });
    case 'set-mac':
      return rtnl.setLink(what, change.link, { mac: change.mac });
    case 'add-route': {
      const { op: _op, link, ...route } = change;
      return rtnl.addRoute(what, { ...route, oif: indexOf(link) });
    }
    case 'delete-route': {
      const { op: _op, link, ...route } = change;
      return rtnl.deleteRoute(what, { ...route, oif: indexOf(link) });
    }
    case 'delete-link':
      indexOf.forget(change.link);
      return rtnl.deleteLink(what, change.link);
  }
}

function runQuery(rtnl: Rtnl, query: LinkQuery): KernelLink[] {
  if (query.op === 'show-link') return [toKernelLink(rtnl, rtnl.getLink(query.link))];
  const bridge = rtnl.getLink(query.bridge);
  return rtnl.listLinks({ master: bridge.index }).map((port) => toKernelLink(rtnl, port, new Map([[bridge.index, bridge.name]])));
}

/** The decoded link with its master's index resolved to a name (from `names`, else asked for). */
function toKernelLink(rtnl: Rtnl, link: DecodedLink, names?: Map<number, string>): KernelLink {
  const { masterIndex, ...rest } = link;
  if (masterIndex === undefined) return rest;
  return { ...rest, master: names?.get(masterIndex) ?? rtnl.getLink(masterIndex).name };
}

/** An address with what `ip -j addr show` prints of it: scope, broadcast, flags, lifetimes left unless forever. */
function toKernelAddress(address: DecodedAddress): KernelAddress | undefined {
  const ip = addressFromBytes(address.address);
  if (!ip) return undefined;
  const out: KernelAddress = { family: ip.family, address: ip.value, prefixLength: address.prefixLength, scope: scopeName(address.scope), flags: addressFlagNames(address.family, address.flags) };
  const broadcast = address.broadcast ? addressFromBytes(address.broadcast) : undefined;
  if (broadcast) out.broadcast = formatIp(broadcast);
  if (address.validLft !== undefined && address.validLft !== INFINITY_LIFE_TIME) out.validLft = address.validLft;
  if (address.preferredLft !== undefined && address.preferredLft !== INFINITY_LIFE_TIME) out.preferredLft = address.preferredLft;
  return out;
}

/** A main-table unicast route with its protocol, scope, metric, preferred source and onlink, as `ip -j route` prints them. */
function toDetailedRoute(route: DecodedRoute, family: number, names: ReadonlyMap<number, string>): KernelRoute | undefined {
  const dst = route.dst ? addressFromBytes(route.dst) : { family: family === AF_INET ? 4 as const : 6 as const, value: 0n };
  if (!dst) return undefined;
  const gateway = route.gateway ? addressFromBytes(route.gateway) : undefined;
  const prefsrc = route.prefsrc ? addressFromBytes(route.prefsrc) : undefined;
  const out: KernelRoute = { dst: `${formatIp(dst)}/${route.dstLength}` };
  if (gateway) out.gateway = formatIp(gateway);
  const dev = route.oif === undefined ? undefined : names.get(route.oif);
  if (dev) out.dev = dev;
  if (route.protocol !== RTPROT_BOOT) out.protocol = protocolName(route.protocol);
  if (route.scope !== RT_SCOPE.UNIVERSE) out.scope = scopeName(route.scope);
  if (route.priority !== undefined) out.metric = route.priority;
  if (prefsrc) out.prefsrc = formatIp(prefsrc);
  if ((route.flags ?? 0) & RTNH_F_ONLINK) out.onlink = true;
  return out;
}

function failure(what: string, error: NetlinkError): ChangeFailure {
  const kind = error.errno === ERRNO.EEXIST ? 'exists' : error.errno === ERRNO.ENODEV || error.errno === ERRNO.ENOENT ? 'missing' : 'other';
  return { what, message: error.reason, kind };
}

