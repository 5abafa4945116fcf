// rtnetlink requests for links, addresses and routes: each builds its message (rtnl-codec.ts) and
// hands it to a Transport (socket.ts in the plugin, a fake in unit tests). The requests carry
// the same attributes `ip` sends for the same command line, so both backends leave the same state
// (test/integration/netlink.test.ts compares them).
import { familyBits, type IpAddress, type IpCidr, type IpFamily } from '../cidr.ts';
import { parseMac } from '../mac.ts';
import { AF_INET, AF_INET6, bytes, encodeMessage, NLM_F, nest, str, u32, u8, type Attr, type Message } from './codec.ts';
import {
  decodeAddress, decodeLink, decodeRoute, IFA, IFA_F_NODAD, IFA_F_NOPREFIXROUTE, ifaCacheinfo, ifaddrmsg, IFLA_BR, RTNH_F_ONLINK, IFF_UP, ifinfomsg, IFLA, IFLA_BRPORT_MODE, IFLA_INFO, IFLA_MACVLAN_MODE, MACVLAN_MODES, RT_SCOPE,
  RT_TABLE_MAIN, RTA, rtmsg, RTEXT_FILTER_SKIP_STATS, RTM, RTN_UNICAST, RTPROT_BOOT, VETH_INFO_PEER,
  type DecodedAddress, type DecodedLink, type DecodedRoute,
} from './rtnl-codec.ts';
import type { Transport } from './transport.ts';
import type { MacvlanMode } from '../kernel/link.ts';
import type { AddressDetails, RouteDetails } from '../kernel/change.ts';

const CHANGE = NLM_F.REQUEST | NLM_F.ACK;
const CREATE = CHANGE | NLM_F.CREATE | NLM_F.EXCL;

function familyNumber(family: IpFamily): number {
  return family === 4 ? AF_INET : AF_INET6;
}

export function addressBytes(ip: IpAddress): Uint8Array {
  const out = new Uint8Array(familyBits(ip.family) / 8);
  let value = ip.value;
  for (let i = out.length - 1; i >= 0; i--, value >>= 8n) out[i] = Number(value & 0xffn);
  return out;
}

export function addressFromBytes(data: Uint8Array): IpAddress | undefined {
  if (data.length !== 4 && data.length !== 16) return undefined;
  const value = data.reduce((n, b) => (n << 8n) | BigInt(b), 0n);
  return { family: data.length === 4 ? 4 : 6, value };
}

/** The scope iproute2 gives an address it is not told one for. */
function defaultScope(address: IpCidr): number {
  if (address.family === 6) return address.address >> 118n === 0x3fan ? RT_SCOPE.LINK : RT_SCOPE.UNIVERSE; // fe80::/10
  return address.address >> 24n === 127n ? RT_SCOPE.HOST : RT_SCOPE.UNIVERSE;
}

export class Rtnl {
  private readonly transport: Transport;
  constructor(transport: Transport) {
    this.transport = transport;
  }

  private change(what: string, type: number, flags: number, header: Uint8Array, attrs: readonly Attr[]): void {
    const seq = this.transport.nextSeq();
    this.transport.request(what, encodeMessage(type, flags, seq, header, attrs), seq, false);
  }

  private query(what: string, type: number, flags: number, header: Uint8Array, attrs: readonly Attr[] = []): Message[] {
    const seq = this.transport.nextSeq();
    return this.transport.request(what, encodeMessage(type, flags, seq, header, attrs), seq, (flags & NLM_F.DUMP) === NLM_F.DUMP);
  }

  /** A link by name or index; throws NetlinkError ENODEV when there is none. */
  getLink(link: string | number): DecodedLink {
    const [answer] = this.query(`link show ${link}`, RTM.GETLINK, NLM_F.REQUEST, ifinfomsg({ index: typeof link === 'number' ? link : 0 }), [
      ...(typeof link === 'string' ? [str(IFLA.IFNAME, link)] : []),
      u32(IFLA.EXT_MASK, RTEXT_FILTER_SKIP_STATS),
    ]);
    if (!answer) throw new Error(`netlink: no answer to link show ${link}`);
    return decodeLink(answer.payload);
  }

  /** Links, filtered by the kernel (and again here) by master or kind. */
  listLinks(filter: { master?: number; kind?: string } = {}): DecodedLink[] {
    const attrs: Attr[] = [u32(IFLA.EXT_MASK, RTEXT_FILTER_SKIP_STATS)];
    if (filter.master !== undefined) attrs.push(u32(IFLA.MASTER, filter.master));
    if (filter.kind !== undefined) attrs.push(nest(IFLA.LINKINFO, [str(IFLA_INFO.KIND, filter.kind)]));
    return this.query('link show', RTM.GETLINK, NLM_F.REQUEST | NLM_F.DUMP, ifinfomsg(), attrs)
      .filter((m) => m.type === RTM.NEWLINK)
      .map((m) => decodeLink(m.payload))
      .filter((l) => (filter.master === undefined || l.masterIndex === filter.master) && (filter.kind === undefined || l.kind === filter.kind));
  }

  listAddresses(): DecodedAddress[] {
    return this.query('addr show', RTM.GETADDR, NLM_F.REQUEST | NLM_F.DUMP, ifaddrmsg({ family: 0 }))
      .filter((m) => m.type === RTM.NEWADDR)
      .map((m) => decodeAddress(m.payload));
  }

  listRoutes(family: number): DecodedRoute[] {
    return this.query('route show', RTM.GETROUTE, NLM_F.REQUEST | NLM_F.DUMP, rtmsg({ family }))
      .filter((m) => m.type === RTM.NEWROUTE)
      .map((m) => decodeRoute(m.payload));
  }

  /** `ip link add <name> address <mac> mtu <mtu> type bridge [stp_state 0 forward_delay 0]`. */
  addBridge(what: string, name: string, mac: string, mtu: number, options: { stpOff?: boolean } = {}): void {
    const data = options.stpOff ? [nest(IFLA_INFO.DATA, [u32(IFLA_BR.STP_STATE, 0), u32(IFLA_BR.FORWARD_DELAY, 0)])] : [];
    this.change(what, RTM.NEWLINK, CREATE, ifinfomsg(), [
      str(IFLA.IFNAME, name),
      bytes(IFLA.ADDRESS, parseMac(mac)),
      u32(IFLA.MTU, mtu),
      nest(IFLA.LINKINFO, [str(IFLA_INFO.KIND, 'bridge'), ...data]),
    ]);
  }

  /** A veth pair; the peer is created in the namespace `peerNetnsFd` refers to. */
  addVeth(what: string, host: { name: string; mac: string; mtu: number }, peer: { name: string; mac: string; mtu: number }, peerNetnsFd: number): void {
    const peerInfo = new Uint8Array([...ifinfomsg(), ...attrBytes([
      str(IFLA.IFNAME, peer.name),
      u32(IFLA.MTU, peer.mtu),
      bytes(IFLA.ADDRESS, parseMac(peer.mac)),
      u32(IFLA.NET_NS_FD, peerNetnsFd),
    ])]);
    this.change(what, RTM.NEWLINK, CREATE, ifinfomsg(), [
      str(IFLA.IFNAME, host.name),
      u32(IFLA.MTU, host.mtu),
      bytes(IFLA.ADDRESS, parseMac(host.mac)),
      nest(IFLA.LINKINFO, [str(IFLA_INFO.KIND, 'veth'), nest(IFLA_INFO.DATA, [bytes(VETH_INFO_PEER, peerInfo)])]),
    ]);
  }

  /**
   * A macvlan of the link at `masterIndex` (in this socket's namespace), as `ip link add <name>
   * link <master> [address <mac>] mtu <mtu> [netns <ns>] type macvlan mode <mode>` sends it: born
   * in the namespace `netnsFd` refers to when given.
   */
  addMacvlan(what: string, link: { name: string; masterIndex: number; mode: MacvlanMode; mtu: number; mac?: string }, netnsFd?: number): void {
    this.change(what, RTM.NEWLINK, CREATE, ifinfomsg(), [
      str(IFLA.IFNAME, link.name),
      u32(IFLA.LINK, link.masterIndex),
      u32(IFLA.MTU, link.mtu),
      ...(link.mac ? [bytes(IFLA.ADDRESS, parseMac(link.mac))] : []),
      ...(netnsFd !== undefined ? [u32(IFLA.NET_NS_FD, netnsFd)] : []),
      nest(IFLA.LINKINFO, [str(IFLA_INFO.KIND, 'macvlan'), nest(IFLA_INFO.DATA, [u32(IFLA_MACVLAN_MODE, MACVLAN_MODES[link.mode])])]),
    ]);
  }

  /**
   * Changes an existing link found by name: up or down, master (0: none, `nomaster`), alias (the
   * empty one clears it, sent without a NUL as `ip link set alias ""` does), MAC, bridge-port options.
   */
  setLink(what: string, name: string, options: { up?: boolean; master?: number; alias?: string; mac?: string; hairpin?: boolean }): void {
    const attrs: Attr[] = [str(IFLA.IFNAME, name)];
    if (options.master !== undefined) attrs.push(u32(IFLA.MASTER, options.master));
    if (options.alias !== undefined) attrs.push(options.alias === '' ? bytes(IFLA.IFALIAS, new Uint8Array()) : str(IFLA.IFALIAS, options.alias));
    if (options.mac !== undefined) attrs.push(bytes(IFLA.ADDRESS, parseMac(options.mac)));
    if (options.hairpin !== undefined) {
      attrs.push(nest(IFLA.LINKINFO, [str(IFLA_INFO.SLAVE_KIND, 'bridge'), nest(IFLA_INFO.SLAVE_DATA, [u8(IFLA_BRPORT_MODE, options.hairpin ? 1 : 0)])]));
    }
    const up = options.up === undefined ? {} : { flags: options.up ? IFF_UP : 0, change: IFF_UP };
    this.change(what, RTM.NEWLINK, CHANGE, ifinfomsg(up), attrs);
  }

  deleteLink(what: string, name: string): void {
    this.change(what, RTM.DELLINK, CHANGE, ifinfomsg(), [str(IFLA.IFNAME, name)]);
  }

  /**
   * `ip addr add|replace <address> dev <link> [broadcast B] [scope S] [noprefixroute] [nodad]
   * [valid_lft V preferred_lft P]`, as ip sends it: the flags in the header while they fit its
   * byte, else in IFA_FLAGS; the lifetimes in IFA_CACHEINFO.
   */
  addAddress(what: string, index: number, address: IpCidr, replace: boolean, details: AddressDetails = {}): void {
    const local = addressBytes({ family: address.family, value: address.address });
    const flags = (address.family === 6 ? IFA_F_NODAD : 0) | (details.noprefixroute ? IFA_F_NOPREFIXROUTE : 0);
    const attrs: Attr[] = [bytes(IFA.LOCAL, local), bytes(IFA.ADDRESS, local)];
    if (details.broadcast) attrs.push(bytes(IFA.BROADCAST, addressBytes(details.broadcast)));
    if (flags > 0xff) attrs.push(u32(IFA.FLAGS, flags));
    if (details.lifetime) attrs.push(bytes(IFA.CACHEINFO, ifaCacheinfo(details.lifetime)));
    this.change(what, RTM.NEWADDR, replace ? CHANGE | NLM_F.CREATE | NLM_F.REPLACE : CREATE, ifaddrmsg({
      family: familyNumber(address.family),
      prefixLength: address.prefixLength,
      flags: flags > 0xff ? 0 : flags,
      scope: details.scope ?? defaultScope(address),
      index,
    }), attrs);
  }

  /** `ip addr del <address> dev <link>`: matched by local address and prefix length. */
  deleteAddress(what: string, index: number, address: IpCidr): void {
    const local = addressBytes({ family: address.family, value: address.address });
    this.change(what, RTM.DELADDR, CHANGE, ifaddrmsg({ family: familyNumber(address.family), prefixLength: address.prefixLength, index }), [
      bytes(IFA.LOCAL, local),
      bytes(IFA.ADDRESS, local),
    ]);
  }

  /**
   * A route of the main table marked with `protocol`, as `ip route add|replace|del <dst> via <gw>
   * dev <oif> proto <protocol>` sends it. Delete matches by destination and protocol only (the
   * kernel compares the fields a request sets), so it removes exactly a route of ours.
   */
  changeRoute(what: string, op: 'add' | 'replace' | 'delete', route: { dst: IpCidr; gateway?: IpAddress; oif?: number; protocol: number }): void {
    const attrs: Attr[] = [];
    if (route.dst.prefixLength > 0) attrs.push(bytes(RTA.DST, addressBytes({ family: route.dst.family, value: route.dst.address })));
    if (route.gateway) attrs.push(bytes(RTA.GATEWAY, addressBytes(route.gateway)));
    if (route.oif !== undefined) attrs.push(u32(RTA.OIF, route.oif));
    const family = familyNumber(route.dst.family);
    if (op === 'delete') {
      this.change(what, RTM.DELROUTE, CHANGE, rtmsg({ family, dstLength: route.dst.prefixLength, table: RT_TABLE_MAIN, protocol: route.protocol, scope: RT_SCOPE.NOWHERE }), attrs);
      return;
    }
    this.change(what, RTM.NEWROUTE, op === 'add' ? CREATE : CHANGE | NLM_F.CREATE | NLM_F.REPLACE, rtmsg({
      family,
      dstLength: route.dst.prefixLength,
      table: RT_TABLE_MAIN,
      protocol: route.protocol,
      scope: route.gateway ? RT_SCOPE.UNIVERSE : RT_SCOPE.LINK,
      type: RTN_UNICAST,
    }), attrs);
  }

  /**
   * `ip route add|replace|append <dst> [via <gw>] dev <oif> [proto P] [scope S] [src <source>]
   * [metric M] [onlink]` in the main table. Append is NLM_F_CREATE|NLM_F_APPEND, no EXCL: the
   * same route through another link may be there. Scope by default universe with a gateway, link
   * without (IPv6 keeps no scope).
   */
  addRoute(what: string, route: { dst: IpCidr; gateway?: IpAddress; oif: number; replace?: boolean; source?: IpAddress } & RouteDetails): void {
    const attrs: Attr[] = [];
    if (route.dst.prefixLength > 0) attrs.push(bytes(RTA.DST, addressBytes({ family: route.dst.family, value: route.dst.address })));
    if (route.gateway) attrs.push(bytes(RTA.GATEWAY, addressBytes(route.gateway)));
    if (route.source) attrs.push(bytes(RTA.PREFSRC, addressBytes(route.source)));
    if (route.metric !== undefined) attrs.push(u32(RTA.PRIORITY, route.metric));
    attrs.push(u32(RTA.OIF, route.oif));
    const flags = route.replace ? CHANGE | NLM_F.CREATE | NLM_F.REPLACE : route.append ? CHANGE | NLM_F.CREATE | NLM_F.APPEND : CREATE;
    this.change(what, RTM.NEWROUTE, flags, rtmsg({
      family: familyNumber(route.dst.family),
      dstLength: route.dst.prefixLength,
      table: RT_TABLE_MAIN,
      protocol: route.protocol ?? RTPROT_BOOT,
      scope: route.scope ?? (route.gateway ? RT_SCOPE.UNIVERSE : RT_SCOPE.LINK),
      type: RTN_UNICAST,
      flags: route.onlink ? RTNH_F_ONLINK : 0,
    }), attrs);
  }

  /**
   * `ip route del <dst> [via <gw>] dev <oif> [proto P] [metric M]` in the main table: scope
   * "nowhere" and no protocol or metric unless given, so the kernel matches on what is given.
   */
  deleteRoute(what: string, route: { dst: IpCidr; gateway?: IpAddress; oif: number; protocol?: number; metric?: number }): void {
    const attrs: Attr[] = [];
    if (route.dst.prefixLength > 0) attrs.push(bytes(RTA.DST, addressBytes({ family: route.dst.family, value: route.dst.address })));
    if (route.gateway) attrs.push(bytes(RTA.GATEWAY, addressBytes(route.gateway)));
    if (route.metric !== undefined) attrs.push(u32(RTA.PRIORITY, route.metric));
    attrs.push(u32(RTA.OIF, route.oif));
    this.change(what, RTM.DELROUTE, CHANGE, rtmsg({
      family: familyNumber(route.dst.family),
      dstLength: route.dst.prefixLength,
      table: RT_TABLE_MAIN,
      protocol: route.protocol ?? 0,
      scope: RT_SCOPE.NOWHERE,
    }), attrs);
  }
}

/** Attributes as bytes, for a nested header + attributes blob (the veth peer). */
function attrBytes(attrs: readonly Attr[]): Uint8Array {
  return encodeMessage(0, 0, 0, new Uint8Array(), attrs).subarray(16);
}
