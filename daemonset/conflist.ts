// Pure: the CNI network configuration the agent writes for its node.
import { formatCidr, type Ipv4Cidr } from '../lib/cidr.ts';

export const NETWORK_NAME = 'bridgeway';
export const CONFLIST_NAME = '10-bridgeway.conflist';

export interface ConflistInputs {
  podCIDR: Ipv4Cidr;
  mtu: number;
  bridge: string;
  /** Chain the reference portmap plugin (hostPort support) when it is installed. */
  portmap: boolean;
  logLevel: string;
}

export function renderConflist(inputs: ConflistInputs): string {
  const plugins: object[] = [
    {
      type: 'bridgeway',
      bridge: inputs.bridge,
      // No encapsulation: pods get eth1's MTU unchanged.
      mtu: inputs.mtu,
      logLevel: inputs.logLevel,
      ipam: { subnet: formatCidr(inputs.podCIDR) },
    },
  ];
  if (inputs.portmap) plugins.push({ type: 'portmap', capabilities: { portMappings: true } });
  return JSON.stringify({ cniVersion: '1.1.0', name: NETWORK_NAME, plugins }, null, 2) + '\n';
}
