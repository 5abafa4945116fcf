// Pure: the CNI network configuration the agent writes for its node.
import { formatCidr, type Ipv4Cidr } from '../lib/cidr.ts';

export const NETWORK_NAME = 'bridgeway';
export const CONFLIST_NAME = '10-bridgeway.conflist';

export interface ConflistInputs {
  cniVersion: string;
  podCIDR: Ipv4Cidr;
  mtu: number;
  bridge: string;
  /** Chain the reference portmap plugin (hostPort support) when it is installed. */
  portmap: boolean;
  logLevel: string;
  /** The plugin's IPAM state and log, so the agent and the plugin agree on where they live. */
  dataDir: string;
  logFile: string;
}

export function renderConflist(inputs: ConflistInputs): string {
  const plugins: object[] = [
    {
      type: 'bridgeway',
      bridge: inputs.bridge,
      // No encapsulation: pods get eth1's MTU unchanged.
      mtu: inputs.mtu,
      logLevel: inputs.logLevel,
      logFile: inputs.logFile,
      dataDir: inputs.dataDir,
      ipam: { subnet: formatCidr(inputs.podCIDR) },
    },
  ];
  if (inputs.portmap) plugins.push({ type: 'portmap', capabilities: { portMappings: true } });
  return JSON.stringify({ cniVersion: inputs.cniVersion, name: NETWORK_NAME, plugins }, null, 2) + '\n';
}
