// MAC addresses as text ("0a:58:0a:f4:01:07", lower case, as the kernel and iproute2 print them)
// and as the six bytes rtnetlink carries; and the MAC the plugin gives a pod, derived from its
// address so that DEL, GC and the agent's doctor can name it without any state.
import type { IpAddress } from './cidr.ts';

export function formatMac(bytes: Iterable<number>): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

export function parseMac(mac: string): Uint8Array {
  const parts = mac.split(':');
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) throw new Error(`not a MAC address: ${mac}`);
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}

/**
 * 0a:58 and the address's last 4 bytes, for either family (all of an IPv4 address). The MAC
 * must be stable and unique on the bridge; IPAM hands IPv6 addresses out in order from the
 * start of the range, so pods of one node differ in their last 4 bytes.
 */
export function addressMac(ip: IpAddress): string {
  const low = Number(ip.value & 0xffffffffn);
  return formatMac([0x0a, 0x58, low >>> 24, (low >>> 16) & 255, (low >>> 8) & 255, low & 255]);
}

/**
 * A pod's MAC from the addresses IPAM gave it: from its IPv4 address when it has one (as before
 * dual-stack), else from its IPv6 one, as cni/plan.ts's planAdd chooses (test/unit/lib/mac.test.ts
 * holds the two together).
 */
export function podMac(addresses: readonly IpAddress[]): string {
  const source = addresses.find((a) => a.family === 4) ?? addresses[0];
  if (!source) throw new Error('podMac: the pod has no address');
  return addressMac(source);
}
