// Pure: the frames a new interface sends so that its LAN learns its MAC at once (issue 20): a
// gratuitous ARP per IPv4 address and an unsolicited neighbour advertisement per IPv6 address.
// Without them a switch floods, and a neighbour that cached another MAC for a reused address
// (a pod that came back on another node) keeps sending to it until its entry goes stale. Each
// frame is the link-layer payload plus what a SOCK_DGRAM packet socket needs to add the Ethernet
// header (destination MAC, ethertype): lib/packet/socket.ts sends them.
import type { IpAddress } from '../cidr.ts';
import { parseMac } from '../mac.ts';

export interface Frame {
  /** Who it goes to: broadcast for ARP, 33:33:00:00:00:01 (all nodes) for the NA. */
  destination: Uint8Array;
  ethertype: number;
  payload: Uint8Array;
  /** What it says, for logs. */
  what: string;
}

export const ETH_P_ARP = 0x0806;
export const ETH_P_IPV6 = 0x86dd;
const BROADCAST = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
const ALL_NODES_MAC = new Uint8Array([0x33, 0x33, 0, 0, 0, 1]);
const ALL_NODES = Uint8Array.of(0xff, 0x02, ...new Array<number>(13).fill(0), 1);

function ipBytes(ip: IpAddress): Uint8Array {
  const out = new Uint8Array(ip.family === 4 ? 4 : 16);
  let value = ip.value;
  for (let i = out.length - 1; i >= 0; i--, value >>= 8n) out[i] = Number(value & 0xffn);
  return out;
}

/**
 * A gratuitous ARP request (RFC 5227 "ARP Announcement"): sender and target protocol address both
 * the new address, target hardware address zero, as the kernel's own arp_notify and `arping -U`
 * send it. A neighbour with the address cached takes the new MAC; one with arp_accept creates it.
 */
export function gratuitousArp(mac: string, ip: IpAddress): Frame {
  const sha = parseMac(mac);
  const spa = ipBytes(ip);
  const payload = new Uint8Array(28);
  const view = new DataView(payload.buffer);
  view.setUint16(0, 1); // Ethernet
  view.setUint16(2, 0x0800); // IPv4
  payload[4] = 6;
  payload[5] = 4;
  view.setUint16(6, 1); // request
  payload.set(sha, 8);
  payload.set(spa, 14);
  payload.set(spa, 24);
  return { destination: BROADCAST, ethertype: ETH_P_ARP, payload, what: `gratuitous ARP ${mac}` };
}

/**
 * An unsolicited neighbour advertisement (RFC 4861 7.2.6) to all nodes: override set, solicited
 * and router clear, the target link-layer address option; from the address itself, hop limit 255
 * (receivers drop ND with any other), with the ICMPv6 checksum over the pseudo-header.
 */
export function unsolicitedNa(mac: string, ip: IpAddress): Frame {
  const src = ipBytes(ip);
  const icmp = new Uint8Array(32);
  icmp[0] = 136; // neighbour advertisement
  icmp[4] = 0x20; // override
  icmp.set(src, 8);
  icmp[24] = 2; // target link-layer address
  icmp[25] = 1; // 8 bytes
  icmp.set(parseMac(mac), 26);
  new DataView(icmp.buffer).setUint16(2, icmpv6Checksum(src, ALL_NODES, icmp));
  const payload = new Uint8Array(40 + icmp.length);
  const view = new DataView(payload.buffer);
  view.setUint32(0, 0x60000000);
  view.setUint16(4, icmp.length);
  payload[6] = 58; // ICMPv6
  payload[7] = 255;
  payload.set(src, 8);
  payload.set(ALL_NODES, 24);
  payload.set(icmp, 40);
  return { destination: ALL_NODES_MAC, ethertype: ETH_P_IPV6, payload, what: `unsolicited NA ${mac}` };
}

/** RFC 4443 2.3: the one's complement sum over the IPv6 pseudo-header and the message. */
export function icmpv6Checksum(src: Uint8Array, dst: Uint8Array, message: Uint8Array): number {
  const pseudo = new Uint8Array(40 + message.length + (message.length % 2));
  pseudo.set(src, 0);
  pseudo.set(dst, 16);
  new DataView(pseudo.buffer).setUint32(32, message.length);
  pseudo[39] = 58;
  pseudo.set(message, 40);
  let sum = 0;
  for (let i = 0; i < pseudo.length; i += 2) sum += (pseudo[i]! << 8) | pseudo[i + 1]!;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** What an interface with these addresses announces: one frame per address. */
export function announcements(mac: string, addresses: readonly IpAddress[]): Frame[] {
  return addresses.map((ip) => (ip.family === 4 ? gratuitousArp(mac, ip) : unsolicitedNa(mac, ip)));
}
