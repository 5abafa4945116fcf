// Pure: from config + attachment + address to the exact kernel changes and the result.
// Everything derived deterministically, so ADD needs no read-back and DEL/GC need no state:
//   host veth name  "bw" + 12 hex of sha256(containerId/ifname)
//   pod MAC         0a:58:<pod IPv4>          (stable for an address: neighbours' ARP stays right);
//                   an IPv6-only pod: 0a:58:<last 4 bytes of its IPv6 address>
//   bridge MAC      0a:58:<gateway IPv4>      (set at creation, so a portless bridge never has 00:..),
//                   the same from the IPv6 gateway on an IPv6-only network
//   host veth MAC   02:<5 bytes of the same hash>
//   host veth alias "bridgeway:<network>:<containerId>:<ifname>" (ifalias): which network owns
//                   the veth, so GC of one network never deletes another network's pods
import { formatCidr, formatIp, type IpAddress, type IpCidr } from '../lib/cidr.ts';
import { sha256Hex } from '../lib/sha256.ts';
import type { IpCommand } from '../lib/iproute2/batch.ts';
import type { NetConf } from './config.ts';
import type { Result, ResultRoute } from './result.ts';

export const HOST_VETH_PREFIX = 'bw';
const ALIAS_PREFIX = 'bridgeway';
/** IFALIASZ is 256 bytes including the NUL. */
export const MAX_ALIAS_LENGTH = 255;

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
  /** Run in the node's namespace: bridge, gateway addresses, veth pair (pod end born in the netns). */
  hostCommands: IpCommand[];
  /** Run inside the pod's namespace. */
  podCommands: IpCommand[];
  result: Result;
}

function attachmentHash(containerId: string, ifname: string): string {
  return sha256Hex(`${containerId}/${ifname}`); // not node:crypto: lib/sha256.ts says why
}

export function hostVethName(containerId: string, ifname: string): string {
  return HOST_VETH_PREFIX + attachmentHash(containerId, ifname).slice(0, 12);
}

export function hostVethMac(containerId: string, ifname: string): string {
  return macFromBytes([0x02, ...hexBytes(attachmentHash(containerId, ifname).slice(12, 22))]);
}

/** The host veth's ifalias. Names and IDs are validated to exclude ':' and whitespace. */
export function hostVethAlias(network: string, containerId: string, ifname: string): string {
  return `${ALIAS_PREFIX}:${network}:${containerId}:${ifname}`;
}

export interface VethOwner {
  network: string;
  containerId: string;
  ifname: string;
}

/** The owner a host veth's alias names, or undefined when it is not one of our aliases. */
export function parseHostVethAlias(alias: string | undefined): VethOwner | undefined {
  const parts = alias?.split(':');
  if (parts?.length !== 4 || parts[0] !== ALIAS_PREFIX || parts.slice(1).some((p) => p === '')) return undefined;
  const [, network, containerId, ifname] = parts as [string, string, string, string];
  return { network, containerId, ifname };
}

export function ipv4Mac(ip: number): string {
  return macFromBytes([0x0a, 0x58, ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255]);
}

/**
 * 0a:58 and the address's last 4 bytes, for either family (all of an IPv4 address). The MAC
 * must be stable and unique on the bridge; IPAM hands IPv6 addresses out in order from the
 * start of the range, so pods of one node differ in their last 4 bytes.
 */
export function addressMac(ip: IpAddress): string {
  return ipv4Mac(Number(ip.value & 0xffffffffn));
}

/** The pod's MAC comes from its IPv4 address when it has one (as before dual-stack), else from its IPv6 one. */
function macSource(pod: PodAddressing): PodIp {
  return pod.ips.find((ip) => ip.address.family === 4) ?? pod.ips[0]!;
}

function hexBytes(hex: string): number[] {
  return hex.match(/../g)!.map((pair) => parseInt(pair, 16));
}

function macFromBytes(bytes: number[]): string {
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/** The bridge's address of each family: the gateway with the subnet's prefix length. */
function bridgeGatewayAddresses(conf: NetConf, pod: PodAddressing): IpCidr[] {
  if (!conf.isGateway) return [];
  return pod.ips.flatMap((ip) => (ip.gateway ? [{ family: ip.gateway.family, address: ip.gateway.value, prefixLength: ip.address.prefixLength }] : []));
}

/**
 * No duplicate address detection on the IPv6 addresses we add (`nodad`). IPAM guarantees they
 * are unique on this bridge, and DAD would leave each one "tentative", unusable, for about a
 * second (longer on a bridge without ports, which has no carrier): the reference bridge plugin
 * waits up to 5 s for DAD to settle, which once raised Kubernetes pod start latency from 3-4 s
 * to 16-19 s. With nodad the address is usable the moment ADD returns.
 */
/**
 * A link-local address on the bridge that is valid at once (`nodad`). The kernel solicits a
 * neighbour for a packet it forwards from the bridge's link-local address only, and the one it
 * generates itself sits in DAD for ~2 s after the bridge comes up: until then, packets routed to
 * the first pods of a new bridge (from other nodes) were dropped. Unique on the bridge's own
 * segment, where every other address is a pod's from IPAM.
 */
export const BRIDGE_LINK_LOCAL = 'fe80::1/64';

function addrArgs(cidr: IpCidr): string[] {
  return cidr.family === 6 ? ['nodad'] : [];
}

export function planAdd(conf: NetConf, target: AddTarget, pod: PodAddressing): AddPlan {
  if (pod.ips.length === 0) throw new Error('planAdd: the pod has no address');
  const hostVeth = hostVethName(target.containerId, target.ifname);
  const hostMac = hostVethMac(target.containerId, target.ifname);
  const source = macSource(pod);
  const podMac = addressMac({ family: source.address.family, value: source.address.address });
  const bridgeMac = addressMac(source.gateway ?? { family: source.address.family, value: source.address.address - 1n });
  const gatewayAddresses = bridgeGatewayAddresses(conf, pod);
  const mtu = String(conf.mtu);

  const hostCommands: IpCommand[] = [
    // A concurrent ADD may create the bridge first; "exists" is success. MAC and MTU are set only
    // here: setting a link's address, even to the same value, flushes its neighbour (ARP) table,
    // which on every pod start would make the node re-resolve all its pods.
    { args: ['link', 'add', conf.bridge, 'address', bridgeMac, 'mtu', mtu, 'type', 'bridge'], tolerate: 'exists' },
    { args: ['link', 'set', conf.bridge, 'up'] },
    ...gatewayAddresses.map((cidr) => ({ args: ['addr', 'replace', formatCidr(cidr), 'dev', conf.bridge, ...addrArgs(cidr)] })),
    ...(gatewayAddresses.some((cidr) => cidr.family === 6) ? [{ args: ['addr', 'replace', BRIDGE_LINK_LOCAL, 'dev', conf.bridge, 'nodad'] }] : []),
    {
      args: ['link', 'add', hostVeth, 'mtu', mtu, 'address', hostMac, 'type', 'veth',
        'peer', 'name', target.ifname, 'mtu', mtu, 'address', podMac, 'netns', target.netns],
    },
    // The alias in the same message as the port: `ip link add` silently ignores "alias".
    { args: ['link', 'set', hostVeth, 'master', conf.bridge, 'alias', hostVethAlias(conf.name, target.containerId, target.ifname), 'up'] },
    ...(conf.hairpinMode ? [{ args: ['link', 'set', hostVeth, 'type', 'bridge_slave', 'hairpin', 'on'] }] : []),
    // Read back in the same process: the bridge, then its ports. A bridge we did not create may
    // have a MAC the kernel derives from its ports (bridge-mac.ts decides). Bridge first: a port
    // a concurrent ADD adds in between is then in the list, not missing from it.
    { args: ['link', 'show', 'dev', conf.bridge] },
    { args: ['link', 'show', 'master', conf.bridge] },
  ];

  const routes: ResultRoute[] = pod.routes.map((r) => ({
    dst: formatCidr(r.dst),
    ...(r.gw !== undefined ? { gw: formatIp(r.gw) } : {}),
  }));
  const podCommands: IpCommand[] = [
    { args: ['link', 'set', 'lo', 'up'] },
    ...pod.ips.map((ip) => ({ args: ['addr', 'add', formatCidr(ip.address), 'dev', target.ifname, ...addrArgs(ip.address)] })),
    { args: ['link', 'set', target.ifname, 'up'] },
    ...routes.map((r) => ({
      args: ['route', 'add', r.dst, ...(r.gw ? ['via', r.gw] : []), 'dev', target.ifname],
    })),
    // Read back in the same process: is the link operationally up (carrier on both ends)?
    { args: ['link', 'show', 'dev', target.ifname] },
  ];

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
  return { hostVeth, bridge: conf.bridge, bridgeMac, bridgeIpv6: gatewayAddresses.some((c) => c.family === 6), hostCommands, podCommands, result };
}

