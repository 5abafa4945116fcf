// rtnetlink requests for links, addresses and routes: each builds its message (rtnl-codec.ts) and
// hands it to a Transport (socket.ts in the plugin, a fake in unit tests). The requests carry
// the same attributes `ip` sends for the same command line, so both backends leave the same state
// (test/integration/netlink.test.ts compares them).
import { familyBits, type IpAddress, type IpCidr, type IpFamily } from '../cidr.ts';
import { parseMac } from '../mac.ts';
import { AF_INET, AF_INET6, bytes, encodeMessage, NLM_F, nest, str, u32, u8, type Attr, type Message } from './codec.ts';
import {
  decodeAddress, decodeLink, decodeRoute, IFA, IFA_F_NODAD, ifaddrmsg, IFF_UP, ifinfomsg, IFLA, IFLA_BRPORT_MODE, IFLA_INFO, IFLA_MACVLAN_MODE, MACVLAN_MODES, RT_SCOPE,
  RT_TABLE_MAIN, RTA, rtmsg, RTEXT_FILTER_SKIP_STATS, RTM, RTN_UNICAST, RTPROT_BOOT, VETH_INFO_PEER,
  type DecodedAddress, type DecodedLink, type DecodedRoute,
} from './rtnl-codec.ts';
import type { Transport } from './transport.ts';
import type { MacvlanMode } from '../kernel/link.ts';

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

  addBridge(what: string, name: string, mac: string, mtu: number): void {
    this.change(what, RTM.NEWLINK, CREATE, ifinfomsg(), [
      str(IFLA.IFNAME, name),
      bytes(IFLA.ADDRESS, parseMac(mac)),
      u32(IFLA.MTU, mtu),
      nest(IFLA.LINKINFO, [str(IFLA_INFO.KIND, 'bridge')]),
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

  /** Changes an existing link found by name: up, master, alias, MAC, bridge-port options. */
  setLink(what: string, name: string, options: { up?: boolean; master?: number; alias?: string; mac?: string; hairpin?: boolean }): void {
    const attrs: Attr[] = [str(IFLA.IFNAME, name)];
    if (options.master !== undefined) attrs.push(u32(IFLA.MASTER, options.master));
    if (options.alias !== undefined) attrs.push(str(IFLA.IFALIAS, options.alias));
    if (options.mac !== undefined) attrs.push(bytes(IFLA.ADDRESS, parseMac(options.mac)));
    if (options.hairpin !== undefined) {
      attrs.push(nest(IFLA.LINKINFO, [str(IFLA_INFO.SLAVE_KIND, 'bridge'), nest(IFLA_INFO.SLAVE_DATA, [u8(IFLA_BRPORT_MODE, options.hairpin ? 1 : 0)])]));
    }
    const up = options.up ? { flags: IFF_UP, change: IFF_UP } : {};
    this.change(what, RTM.NEWLINK, CHANGE, ifinfomsg(up), attrs);
  }

  deleteLink(what: string, name: string): void {
    this.change(what, RTM.DELLINK, CHANGE, ifinfomsg(), [str(IFLA.IFNAME, name)]);
  }

  addAddress(what: string, index: number, address: IpCidr, replace: boolean): void {
    const local = addressBytes({ family: address.family, value: address.address });
    this.change(what, RTM.NEWADDR, replace ? CHANGE | NLM_F.CREATE | NLM_F.REPLACE : CREATE, ifaddrmsg({
      family: familyNumber(address.family),
      prefixLength: address.prefixLength,
      flags: address.family === 6 ? IFA_F_NODAD : 0,
      scope: defaultScope(address),
      index,
    }), [bytes(IFA.LOCAL, local), bytes(IFA.ADDRESS, local)]);
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

  addRoute(what: string, route: { dst: IpCidr; gateway?: IpAddress; oif: number; replace?: boolean; source?: IpAddress }): void {
    const attrs: Attr[] = [];
    if (route.dst.prefixLength > 0) attrs.push(bytes(RTA.DST, addressBytes({ family: route.dst.family, value: route.dst.address })));
    if (route.gateway) attrs.push(bytes(RTA.GATEWAY, addressBytes(route.gateway)));
    if (route.source) attrs.push(bytes(RTA.PREFSRC, addressBytes(route.source)));
    attrs.push(u32(RTA.OIF, route.oif));
    this.change(what, RTM.NEWROUTE, route.replace ? CHANGE | NLM_F.CREATE | NLM_F.REPLACE : CREATE, rtmsg({
      family: familyNumber(route.dst.family),
      dstLength: route.dst.prefixLength,
      table: RT_TABLE_MAIN,
      protocol: RTPROT_BOOT,
      scope: route.gateway ? RT_SCOPE.UNIVERSE : RT_SCOPE.LINK,
      type: RTN_UNICAST,
    }), attrs);
  }
}

/** Attributes as bytes, for a nested header + attributes blob (the veth peer). */
function attrBytes(attrs: readonly Attr[]): Uint8Array {
  return encodeMessage(0, 0, 0, new Uint8Array(), attrs).subarray(16);
}
