// The doctor's read of the node's macvlan networks (issue 20): every network config in the CNI
// config directory with a bridgeway plugin in `"mode": "macvlan"` (a Multus secondary network, a
// conflist of the admin's), its keys as written (cni-configs.ts); what they mean for the node is
// checks/macvlan.ts's.
import { bridgewayPluginConfigs } from './cni-configs.ts';
import type { MacvlanNetworkFacts } from './facts.ts';

export function gatherMacvlan(cniConfDir: string): MacvlanNetworkFacts[] {
  return bridgewayPluginConfigs(cniConfDir).flatMap(({ path, network, plugin }) => {
    if (plugin.mode !== 'macvlan') return [];
    return [{
      path,
      network,
      ...(typeof plugin.master === 'string' ? { master: plugin.master } : {}),
      macvlanMode: typeof plugin.macvlanMode === 'string' ? plugin.macvlanMode : 'bridge',
      ...(typeof plugin.mtu === 'number' ? { mtu: plugin.mtu } : {}),
      hostShim: plugin.hostShim === true || plugin.hostShim === 'true',
    }];
  });
}
