// Pure: what several checks derive from the same facts (this node, its podCIDR, the chosen
// interface, the parsed conflist), computed once so every check reads it the same way.
import { cidrNetwork, formatCidr, ipCidrContains, parseCidr, type IpCidr } from '../../../lib/cidr.ts';
import type { InterfaceAddresses } from '../../../lib/iproute2/addr.ts';
import { linkAddresses } from '../../host/interface.ts';
import { ownPodCidrs, podCidrOf, type ClusterNode } from '../../nodes/peers.ts';
import type { DoctorFacts } from '../facts.ts';

export interface ParsedConflist {
  cniVersion?: string;
  name?: string;
  type?: string;
  mtu?: number;
  subnet?: string;
  ipamType?: string;
}

export interface CheckContext {
  facts: DoctorFacts;
  self?: ClusterNode;
  podCIDR?: IpCidr;
  /** Our podCIDR of each family of the cluster CIDR, when they match it (ownPodCidrs). */
  podCIDRs?: IpCidr[];
  /** The interface the agent would choose, with the address it would publish. */
  iface?: { link: InterfaceAddresses; address?: IpCidr };
  conflist?: ParsedConflist;
  conflistError?: string;
}

export function deriveContext(facts: DoctorFacts): CheckContext {
  const { settings } = facts;
  const context: CheckContext = { facts };
  if ('list' in facts.nodes) {
    context.self = facts.nodes.list.find((n) => n.name === settings.nodeName);
    context.podCIDR = context.self && podCidrOf(context.self);
    const own = context.self && ownPodCidrs(context.self, settings.clusterCIDRs);
    if (own && 'cidrs' in own) context.podCIDRs = own.cidrs;
  }
  // As selectInterface picks it: by an address (of either family) inside --iface-cidr, else by name.
  const cidr = settings.ifaceCidr;
  const inCidr = (a: IpCidr) => ipCidrContains(cidr!, { family: a.family, value: a.address });
  const link = cidr
    ? facts.links.find((l) => linkAddresses(l).some(inCidr))
    : facts.links.find((l) => l.name === settings.iface);
  if (link) {
    // The IPv4 address the checks report (an IPv6 --iface-cidr still publishes eth1's first IPv4).
    const address = cidr?.family === 4 ? link.ipv4.find(inCidr) : link.ipv4[0];
    context.iface = { link, address };
  }
  const file = facts.conflist.file;
  if ('text' in file) {
    try {
      context.conflist = parseConflist(file.text);
    } catch (error) {
      context.conflistError = (error as Error).message;
    }
  }
  return context;
}

/** The fields of our conflist the checks compare; throws when it is not a bridgeway conflist. */
export function parseConflist(text: string): ParsedConflist {
  const doc = JSON.parse(text) as { cniVersion?: unknown; name?: unknown; plugins?: unknown };
  if (typeof doc !== 'object' || doc === null || !Array.isArray(doc.plugins) || doc.plugins.length === 0) {
    throw new Error('not a conflist: no "plugins" list');
  }
  const plugin = doc.plugins[0] as { type?: unknown; mtu?: unknown; ipam?: { subnet?: unknown; type?: unknown; ranges?: { subnet?: unknown }[][] } };
  const subnet = plugin.ipam?.subnet ?? plugin.ipam?.ranges?.[0]?.[0]?.subnet;
  return {
    cniVersion: typeof doc.cniVersion === 'string' ? doc.cniVersion : undefined,
    name: typeof doc.name === 'string' ? doc.name : undefined,
    type: typeof plugin.type === 'string' ? plugin.type : undefined,
    mtu: typeof plugin.mtu === 'number' ? plugin.mtu : undefined,
    subnet: typeof subnet === 'string' ? subnet : undefined,
    ipamType: typeof plugin.ipam?.type === 'string' ? plugin.ipam.type : undefined,
  };
}

/** A CIDR as the agent would write it (network address), or undefined. */
export function normalCidr(text: string | undefined): string | undefined {
  const cidr = text === undefined ? undefined : parseCidr(text);
  return cidr && formatCidr({ ...cidr, address: cidrNetwork(cidr) });
}
