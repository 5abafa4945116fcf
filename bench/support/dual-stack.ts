// The dual-stack round of bench:cni: the same plugins, each pod getting one IPv4 and one IPv6
// address with both default routes. Ours: ipam.ranges, one range set per family. The reference:
// bridge + host-local with the same two ranges (Debian's reference plugins speak up to 1.0.0).
import { SUBNET, type PluginUnderTest } from './plugins.ts';

export const SUBNET6 = 'fd00:99::/64';

export function dualStack(plugin: PluginUnderTest): PluginUnderTest {
  const ipam = plugin.netconf.ipam as Record<string, unknown>;
  const ranges = [[{ subnet: SUBNET }], [{ subnet: SUBNET6 }]];
  const dualIpam =
    ipam.type === 'host-local'
      ? { type: 'host-local', ranges, routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0' }], dataDir: ipam.dataDir }
      : { ranges };
  return { ...plugin, netconf: { ...plugin.netconf, ipam: dualIpam } };
}
