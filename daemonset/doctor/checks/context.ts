// Pure: what several checks derive from the same facts (this node, its podCIDRs, the chosen
// interface, the parsed conflist), computed once so every check reads it the same way, and
// derived by the agent's own functions, so the doctor cannot judge by rules the agent does not
// follow.
import { cidrNetwork, formatCidr, parseCidr, type IpCidr, type IpFamily } from '../../../lib/cidr.ts';
import type { InterfaceAddresses } from '../../../lib/iproute2/addr.ts';
import { findInterface, publishedAddress } from '../../host/interface.ts';
import { ownPodCidrs, type ClusterNode } from '../../nodes/peers.ts';
import type { DoctorFacts } from '../facts.ts';

export interface ParsedConflist {
  cniVersion?: string;
  name?: string;
  type?: string;
  mtu?: number;
  /** The IPAM subnets in order: `ipam.subnet`, or the first subnet of each range set (one per family). */
  subnets: string[];
  ipamType?: string;
  /** The plugin's `"antiSpoofing"`, when the conflist sets it (absent: the plugin's default). */
  antiSpoofing?: boolean;
}

export interface CheckContext {
  facts: DoctorFacts;
  self?: ClusterNode;
  /** This node's podCIDRs as the agent derives them (ownPodCidrs), or why it waits. */
  own?: ReturnType<typeof ownPodCidrs>;
  /** Our podCIDR of each family of the cluster CIDR, when they match it. */
  podCIDRs?: IpCidr[];
  /** The interface the agent would choose (selectInterface), with the address of each family it would publish. */
  iface?: { link: InterfaceAddresses; addresses: Partial<Record<IpFamily, IpCidr>> };
  conflist?: ParsedConflist;
  conflistError?: string;
}

export function deriveContext(facts: DoctorFacts): CheckContext {
  const { settings } = facts;
  const context: CheckContext = { facts };
  if ('list' in facts.nodes) {
    context.self = facts.nodes.list.find((n) => n.name === settings.nodeName);
    context.own = context.self && ownPodCidrs(context.self, settings.clusterCIDRs);
    if (context.own && 'cidrs' in context.own) context.podCIDRs = context.own.cidrs;
  }
  const want = { iface: settings.iface, ifaceCidr: settings.ifaceCidr };
  const link = findInterface(facts.links, want);
  if (link) {
    const addresses: Partial<Record<IpFamily, IpCidr>> = {};
    for (const family of [4, 6] as const) {
      const address = publishedAddress(link, want, family);
      if (address) addresses[family] = address;
    }
    context.iface = { link, addresses };
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
function parseConflist(text: string): ParsedConflist {
  const doc = JSON.parse(text) as { cniVersion?: unknown; name?: unknown; plugins?: unknown };
  if (typeof doc !== 'object' || doc === null || !Array.isArray(doc.plugins) || doc.plugins.length === 0) {
    throw new Error('not a conflist: no "plugins" list');
  }
  const plugin = doc.plugins[0] as { type?: unknown; mtu?: unknown; antiSpoofing?: unknown; ipam?: { subnet?: unknown; type?: unknown; ranges?: { subnet?: unknown }[][] } };
  const subnets = plugin.ipam?.subnet !== undefined ? [plugin.ipam.subnet] : (plugin.ipam?.ranges ?? []).map((set) => set?.[0]?.subnet);
  return {
    cniVersion: typeof doc.cniVersion === 'string' ? doc.cniVersion : undefined,
    name: typeof doc.name === 'string' ? doc.name : undefined,
    type: typeof plugin.type === 'string' ? plugin.type : undefined,
    mtu: typeof plugin.mtu === 'number' ? plugin.mtu : undefined,
    subnets: subnets.filter((subnet): subnet is string => typeof subnet === 'string'),
    ipamType: typeof plugin.ipam?.type === 'string' ? plugin.ipam.type : undefined,
    antiSpoofing: typeof plugin.antiSpoofing === 'boolean' ? plugin.antiSpoofing : undefined,
  };
}

/** A CIDR of either family as the agent would write it (network address), or undefined. */
export function normalCidr(text: string | undefined): string | undefined {
  const cidr = text === undefined ? undefined : parseCidr(text);
  return cidr && formatCidr({ ...cidr, address: cidrNetwork(cidr) });
}
