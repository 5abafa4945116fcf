// Pure: from config + attachment + address to the exact kernel changes and the result. The
// changes are data (lib/kernel/change.ts); apply.ts hands them to a Kernel: rtnetlink from the
// plugin's own process on Bun, `ip -batch` elsewhere. Everything is derived deterministically, so
// ADD reads back only what it cannot derive (a foreign bridge's MAC, the pod link's carrier) and
// DEL/GC need no state:
//   host veth name  "bw" + 12 hex of sha256(containerId/ifname) (lib/names.ts)
//   pod MAC         0a:58:<pod IPv4>          (stable for an address: neighbours' ARP stays right);
//                   an IPv6-only pod: 0a:58:<last 4 bytes of its IPv6 address>
//   bridge MAC      0a:58:<gateway IPv4>      (set at creation, so a portless bridge never has 00:..),
//                   the same from the IPv6 gateway on an IPv6-only network
//   host veth MAC   02:<5 bytes of the same hash>
//   host veth alias "bridgeway:<network>:<containerId>:<ifname>" (ifalias, lib/names.ts): which
//                   network owns the veth, so GC of one network never deletes another network's pods
// The port's hairpin mode is set either way, as the config says (on by default: kube-proxy sends
// a pod's connection to its own Service back out of the port it came in by).
// In the pod, before its interface comes up: no router advertisements, no redirects (sysctls),
// and with antiSpoofing the link-local address derived from the MAC (addr_gen_mode 0).
// With antiSpoofing (the default), the host veth's elements in the anti-spoofing table are the
// last host change: after the veth is a port, before the pod side brings the pod's interface up,
// so no frame leaves the pod before its port is guarded.
import { formatCidr, formatIp, type IpAddress, type IpCidr } from '../lib/cidr.ts';
import { attachmentElements, type Element } from '../lib/antispoof/ruleset.ts';
import type { Change, PortGuardChange, SysctlChange } from '../lib/kernel/change.ts';
import { addressMac, formatMac, podMac } from '../lib/mac.ts';
import { attachmentHash, hostVethAlias, hostVethName } from '../lib/names.ts';
import type { NetConf } from './config/netconf.ts';
import type { Result, ResultRoute } from './result.ts';

/** One address of the pod interface: the pod's address with the subnet's prefix length. */
export interface PodIp {
  address: IpCidr;
  gateway?: IpAddress;
}

/** What IPAM decided for one pod interface: at most one address per family, IPv4 first. */
export interface PodAddressing {
  ips: PodIp[];
  routes: { dst: IpCidr; gw?: IpAddress }[];
}

export interface AddTarget {
  containerId: string;
  ifname: string;
  netns: string;
}

export interface AddPlan {
  hostVeth: string;
  bridge: string;
  /** The bridge MAC we pin: 0a:58:<gateway>. */
  bridgeMac: string;
  /** The bridge holds an IPv6 gateway: it must not accept router advertisements (apply.ts). */
  bridgeIpv6: boolean;
  /** In the node's namespace: bridge, gateway addresses, veth pair (pod end born in the netns). */
  hostChanges: Change[];
  /** Inside the pod's namespace. */
  podChanges: Change[];
  /** The anti-spoofing change among hostChanges (absent with antiSpoofing false): what rollback reverses. */
  guard?: Extract<PortGuardChange, { op: 'guard-port' }>;
  result: Result;
}

export function hostVethMac(containerId: string, ifname: string): string {
  return formatMac([0x02, ...hexBytes(attachmentHash(containerId, ifname).slice(12, 22))]);
}

/** The pod's MAC comes from its IPv4 address when it has one (as before dual-stack), else from its IPv6 one. */
function macSource(pod: PodAddressing): PodIp {
  return pod.ips.find((ip) => ip.address.family === 4) ?? pod.ips[0]!;
}

/**
 * What the pod behind a host veth may send as, from its addresses alone (its MAC derives from
 * them as in planAdd): ADD adds these elements and DEL, knowing only the addresses the
 * attachment holds, deletes the same ones.
 */
export function podElements(hostVeth: string, addresses: readonly IpAddress[]): Element[] {
  if (addresses.length === 0) return [];
  return attachmentElements({ port: hostVeth, mac: podMac(addresses), addresses });
}

/** The change that takes a guard's elements away again (rollback, DEL). */
export function unguardPort(link: string, elements: readonly Element[]): PortGuardChange {
  return { op: 'unguard-port', link, elements };
}

function hexBytes(hex: string): number[] {
  return hex.match(/../g)!.map((pair) => parseInt(pair, 16));
}

/** The bridge's address of each family: the gateway with the subnet's prefix length. */
function bridgeGatewayAddresses(conf: NetConf, pod: PodAddressing): IpCidr[] {
  // With an uplink the gateway is the LAN's router: the pods route through it, the bridge holds the node's address.
  if (!conf.isGateway || conf.uplink !== undefined) return [];
  return pod.ips.flatMap((ip) => (ip.gateway ? [{ family: ip.gateway.family, address: ip.gateway.value, prefixLength: ip.address.prefixLength }] : []));
}

/**
 * A link-local address on the bridge that is valid at once (`nodad`). The kernel solicits a
 * neighbour for a packet it forwards from the bridge's link-local address only, and the one it
 * generates itself sits in DAD for ~2 s after the bridge comes up: until then, packets routed to
 * the first pods of a new bridge (from other nodes) were dropped. Unique on the bridge's own
 * segment, where every other address is a pod's from IPAM.
 */
const BRIDGE_LINK_LOCAL: IpCidr = { family: 6, address: 0xfe80n << 112n | 1n, prefixLength: 64 };

/**
 * The pod's interface must not take routes or addresses from a router advertisement, nor reroute
 * itself on a redirect: any pod on the bridge can send both (CAP_NET_RAW is a container's by
 * default), and the only router on the bridge is the node, which sends neither. Set before the
 * interface comes up, so nothing arrives before they hold. Both families whatever addresses the
 * pod gets: an IPv4-only pod's interface still has an IPv6 link-local address (unless IPv6 is off
 * in the pod), and with it acts on an RA. Kernel rules (Documentation/networking/ip-sysctl.rst):
 * - IPv6 accept_ra and accept_redirects are read per interface only; a pod namespace without IPv6
 *   has no such files, which is the protection itself ("missing" tolerated);
 * - IPv4 accept_redirects on a host that does not forward: a redirect is accepted when conf/all
 *   OR conf/<if> is 1, so both go to 0 (conf/all is the pod's own namespace's).
 */
export function refuseRedirectsAndRouterAdvertisements(ifname: string): SysctlChange[] {
  return [
    { op: 'set-sysctl', key: `net/ipv6/conf/${ifname}/accept_ra`, value: '0', tolerate: 'missing' },
    { op: 'set-sysctl', key: `net/ipv6/conf/${ifname}/accept_redirects`, value: '0', tolerate: 'missing' },
    { op: 'set-sysctl', key: 'net/ipv4/conf/all/accept_redirects', value: '0' },
    { op: 'set-sysctl', key: `net/ipv4/conf/${ifname}/accept_redirects`, value: '0' },
  ];
}

/**
 * The pod's IPv6 link-local address must be the one its port's anti-spoofing elements allow:
 * fe80:: + the modified EUI-64 of its MAC (lib/antispoof/ruleset.ts, linkLocalFromMac). The
 * kernel derives it so only in addr_gen_mode 0 (eui64). A new interface takes the mode of its
 * namespace's net.ipv6.conf.default.addr_gen_mode: with 2 or 3 (stable privacy, random: some
 * distributions' sysctl.d, a hardened image) it gets another link-local address, with 1 (none)
 * none, and its neighbour discovery and MLD from it would be dropped at its port. Written on the
 * interface while it is down: the kernel adds the EUI-64 address as the mode changes
 * (addrconf_sysctl_addr_gen_mode -> addrconf_init_auto_addrs in net/ipv6/addrconf.c) and no other
 * link-local address exists yet; on an interface already up it would add it beside the other.
 * Missing is tolerated, as for accept_ra: a pod namespace without IPv6 sends no ND at all.
 */
export function eui64LinkLocal(ifname: string): SysctlChange {
  return { op: 'set-sysctl', key: `net/ipv6/conf/${ifname}/addr_gen_mode`, value: '0', tolerate: 'missing' };
}

/**
 * Inside the pod, for every attachment kind: its sysctls, `lo` up, the addresses, the interface
 * up, then the routes (a route needs its interface up and its gateway's subnet on it).
 */
export function podInterfaceChanges(conf: Pick<NetConf, 'antiSpoofing'>, ifname: string, pod: PodAddressing): Change[] {
  return [
    ...podSysctls(conf, ifname),
    { op: 'set-up', link: 'lo' },
    ...pod.ips.map((ip): Change => ({ op: 'add-address', link: ifname, address: ip.address })),
    { op: 'set-up', link: ifname },
    ...pod.routes.map((r): Change => ({ op: 'add-route', dst: r.dst, ...(r.gw ? { gateway: r.gw } : {}), link: ifname })),
  ];
}

/** Every sysctl ADD writes in the pod (before its interface comes up) and CHECK reads back. */
export function podSysctls(conf: Pick<NetConf, 'antiSpoofing'>, ifname: string): SysctlChange[] {
  return [...refuseRedirectsAndRouterAdvertisements(ifname), ...(conf.antiSpoofing ? [eui64LinkLocal(ifname)] : [])];
}

export function planAdd(conf: NetConf, target: AddTarget, pod: PodAddressing): AddPlan {
  if (pod.ips.length === 0) throw new Error('planAdd: the pod has no address');
  const hostVeth = hostVethName(target.containerId, target.ifname);
  const hostMac = hostVethMac(target.containerId, target.ifname);
  const source = macSource(pod);
  const podMac = addressMac({ family: source.address.family, value: source.address.address });
  const bridgeMac = addressMac(source.gateway ?? { family: source.address.family, value: source.address.address - 1n });
  const gatewayAddresses = bridgeGatewayAddresses(conf, pod);
  const guard = conf.antiSpoofing
    ? { op: 'guard-port' as const, link: hostVeth, elements: podElements(hostVeth, pod.ips.map((ip) => ({ family: ip.address.family, value: ip.address.address }))) }
    : undefined;

  const hostChanges: Change[] = [
    // A concurrent ADD may create the bridge first, which is success. MAC and MTU are set only
    // here: setting a link's address, even to the same value, flushes its neighbour (ARP) table,
    // which on every pod start would make the node re-resolve all its pods.
    { op: 'add-bridge', name: conf.bridge, mac: bridgeMac, mtu: conf.mtu },
    { op: 'set-up', link: conf.bridge },
    ...gatewayAddresses.map((address): Change => ({ op: 'add-address', link: conf.bridge, address, replace: true })),
    ...(gatewayAddresses.some((cidr) => cidr.family === 6) ? [{ op: 'add-address', link: conf.bridge, address: BRIDGE_LINK_LOCAL, replace: true } as const] : []),
    { op: 'add-veth', name: hostVeth, mac: hostMac, mtu: conf.mtu, peer: { name: target.ifname, mac: podMac, mtu: conf.mtu, netns: target.netns } },
    { op: 'attach-port', link: hostVeth, bridge: conf.bridge, alias: hostVethAlias(conf.name, target.containerId, target.ifname) },
    // Either way, so the port is what the config says even if something else had turned it on.
    { op: 'set-hairpin', link: hostVeth, on: conf.hairpinMode },
    ...(guard ? [guard] : []),
  ];

  const routes: ResultRoute[] = pod.routes.map((r) => ({
    dst: formatCidr(r.dst),
    ...(r.gw !== undefined ? { gw: formatIp(r.gw) } : {}),
  }));
  const podChanges = podInterfaceChanges(conf, target.ifname, pod);

  const result: Result = {
    cniVersion: conf.cniVersion,
    interfaces: [
      { name: conf.bridge, mac: bridgeMac },
      { name: hostVeth, mac: hostMac },
      { name: target.ifname, mac: podMac, mtu: conf.mtu, sandbox: target.netns },
    ],
    // Every address on the pod interface: index 2 of `interfaces`.
    ips: pod.ips.map((ip) => ({ address: formatCidr(ip.address), ...(ip.gateway ? { gateway: formatIp(ip.gateway) } : {}), interface: 2 })),
    routes,
    dns: conf.dns,
  };
  return { hostVeth, bridge: conf.bridge, bridgeMac, bridgeIpv6: gatewayAddresses.some((c) => c.family === 6), hostChanges, podChanges, ...(guard ? { guard } : {}), result };
}

