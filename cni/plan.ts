// Pure: from config + attachment + address to the exact kernel changes and the result.
// Everything derived deterministically, so ADD needs no read-back and DEL/GC need no state:
//   host veth name  "bw" + 12 hex of sha256(containerId/ifname)
//   pod MAC         0a:58:<pod IPv4>          (stable for an address: neighbours' ARP stays right)
//   bridge MAC      0a:58:<gateway IPv4>      (set at creation, so a portless bridge never has 00:..)
//   host veth MAC   02:<5 bytes of the same hash>
//   host veth alias "bridgeway:<network>:<containerId>:<ifname>" (ifalias): which network owns
//                   the veth, so GC of one network never deletes another network's pods
import { formatCidr, formatIpv4, type Ipv4Cidr } from '../lib/cidr.ts';
import { sha256Hex } from '../lib/sha256.ts';
import type { IpCommand } from '../lib/iproute2/batch.ts';
import type { NetConf } from './config.ts';
import type { Result, ResultRoute } from './result.ts';

export const HOST_VETH_PREFIX = 'bw';
const ALIAS_PREFIX = 'bridgeway';
/** IFALIASZ is 256 bytes including the NUL. */
export const MAX_ALIAS_LENGTH = 255;

/** What IPAM decided for one pod interface. */
export interface PodAddressing {
  address: Ipv4Cidr;
  gateway?: number;
  routes: { dst: Ipv4Cidr; gw?: number }[];
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
  /** Run in the node's namespace: bridge, gateway address, veth pair (pod end born in the netns). */
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

function hexBytes(hex: string): number[] {
  return hex.match(/../g)!.map((pair) => parseInt(pair, 16));
}

function macFromBytes(bytes: number[]): string {
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

function bridgeGatewayAddress(conf: NetConf, pod: PodAddressing): Ipv4Cidr | undefined {
  return conf.isGateway && pod.gateway !== undefined ? { address: pod.gateway, prefixLength: pod.address.prefixLength } : undefined;
}

export function planAdd(conf: NetConf, target: AddTarget, pod: PodAddressing): AddPlan {
  const hostVeth = hostVethName(target.containerId, target.ifname);
  const hostMac = hostVethMac(target.containerId, target.ifname);
  const podMac = ipv4Mac(pod.address.address);
  const bridgeMac = ipv4Mac(pod.gateway ?? pod.address.address - 1);
  const gatewayAddress = bridgeGatewayAddress(conf, pod);
  const mtu = String(conf.mtu);

  const hostCommands: IpCommand[] = [
    // A concurrent ADD may create the bridge first; "exists" is success. MAC and MTU are set only
    // here: setting a link's address, even to the same value, flushes its neighbour (ARP) table,
    // which on every pod start would make the node re-resolve all its pods.
    { args: ['link', 'add', conf.bridge, 'address', bridgeMac, 'mtu', mtu, 'type', 'bridge'], tolerate: 'exists' },
    { args: ['link', 'set', conf.bridge, 'up'] },
    ...(gatewayAddress ? [{ args: ['addr', 'replace', formatCidr(gatewayAddress), 'dev', conf.bridge] }] : []),
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
    ...(r.gw !== undefined ? { gw: formatIpv4(r.gw) } : {}),
  }));
  const podCommands: IpCommand[] = [
    { args: ['link', 'set', 'lo', 'up'] },
    { args: ['addr', 'add', formatCidr(pod.address), 'dev', target.ifname] },
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
    ips: [
      { address: formatCidr(pod.address), ...(pod.gateway !== undefined ? { gateway: formatIpv4(pod.gateway) } : {}), interface: 2 },
    ],
    routes,
    dns: conf.dns,
  };
  return { hostVeth, bridge: conf.bridge, bridgeMac, hostCommands, podCommands, result };
}

