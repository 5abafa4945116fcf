// Pure: which local interface joins the nodes (by name, or by an address inside a CIDR), and its
// address of each family the cluster uses.
import { formatCidr, formatIp, ipCidrContains, type IpAddress, type IpCidr, type IpFamily } from '../../lib/cidr.ts';
import type { InterfaceAddresses } from '../../lib/iproute2/addr.ts';

export interface NodeInterface {
  name: string;
  mtu: number;
  /** This node's address on it per family (published to peers). */
  addresses: Partial<Record<IpFamily, IpAddress>>;
  /** Every address on it with its prefix, of both families: its connected subnets. */
  subnets: IpCidr[];
}

/** Every address of a link as IpCidrs, IPv4 first. */
export function linkAddresses(link: InterfaceAddresses): IpCidr[] {
  return [...link.ipv4, ...(link.ipv6 ?? [])];
}

const asIp = (cidr: IpCidr): IpAddress => ({ family: cidr.family, value: cidr.address });

export function selectInterface(
  all: readonly InterfaceAddresses[],
  want: { iface: string; ifaceCidr?: IpCidr; families?: readonly IpFamily[] },
): NodeInterface {
  const families = want.families ?? [4];
  const inCidr = (a: IpCidr) => ipCidrContains(want.ifaceCidr!, asIp(a));
  const candidates = want.ifaceCidr
    ? all.filter((i) => linkAddresses(i).some(inCidr))
    : all.filter((i) => i.name === want.iface);
  const what = want.ifaceCidr ? `an interface with an address in ${formatCidr(want.ifaceCidr)}` : `interface ${want.iface}`;
  const chosen = candidates[0];
  if (!chosen) throw new Error(`${what} not found (have: ${all.map((i) => i.name).join(', ')}); set --iface or --iface-cidr`);
  const subnets = linkAddresses(chosen);
  const addresses: Partial<Record<IpFamily, IpAddress>> = {};
  for (const family of families) {
    const ofFamily = subnets.filter((a) => a.family === family);
    // --iface-cidr names the address to publish for its own family; the other family takes the first.
    const address = want.ifaceCidr?.family === family ? ofFamily.find(inCidr) : ofFamily[0];
    if (!address) throw new Error(`${what} has no ${family === 6 ? 'global IPv6' : 'IPv4'} address (the cluster CIDR has an IPv${family} range)`);
    addresses[family] = asIp(address);
  }
  if (!chosen.up) throw new Error(`${what} (${chosen.name}) is down`);
  return { name: chosen.name, mtu: chosen.mtu, addresses, subnets };
}

/** "192.168.50.10, fd00:50::10": the addresses as the log shows them. */
export function describeAddresses(iface: NodeInterface): string {
  return Object.values(iface.addresses).map(formatIp).join(', ');
}
