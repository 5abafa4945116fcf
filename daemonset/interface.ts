// Pure: which local interface joins the nodes (by name, or by an address inside a CIDR).
import { cidrContains, formatCidr, type Ipv4Cidr } from '../lib/cidr.ts';
import type { InterfaceAddresses } from '../lib/iproute2/addr.ts';

export interface NodeInterface {
  name: string;
  mtu: number;
  /** This node's address on it (published to peers), and every connected IPv4 subnet. */
  address: number;
  subnets: Ipv4Cidr[];
}

export function selectInterface(all: readonly InterfaceAddresses[], want: { iface: string; ifaceCidr?: Ipv4Cidr }): NodeInterface {
  const candidates = want.ifaceCidr
    ? all.filter((i) => i.ipv4.some((a) => cidrContains(want.ifaceCidr!, a.address)))
    : all.filter((i) => i.name === want.iface);
  const what = want.ifaceCidr ? `an interface with an address in ${formatCidr(want.ifaceCidr)}` : `interface ${want.iface}`;
  const chosen = candidates[0];
  if (!chosen) throw new Error(`${what} not found (have: ${all.map((i) => i.name).join(', ')}); set --iface or --iface-cidr`);
  const address = (want.ifaceCidr ? chosen.ipv4.find((a) => cidrContains(want.ifaceCidr!, a.address)) : chosen.ipv4[0]);
  if (!address) throw new Error(`${what} has no IPv4 address`);
  if (!chosen.up) throw new Error(`${what} (${chosen.name}) is down`);
  return { name: chosen.name, mtu: chosen.mtu, address: address.address, subnets: chosen.ipv4 };
}
