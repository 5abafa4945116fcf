// Pure: the CNI network configuration the agent writes for its node.
import { formatCidr, type IpCidr } from '../../lib/cidr.ts';
import { NETWORK_NAME, PLUGIN_TYPE } from '../../lib/names.ts';

export interface ConflistInputs {
  cniVersion: string;
  /** Our podCIDR, or one per family (IPv4 first) on a dual-stack node. */
  podCIDR: IpCidr | readonly IpCidr[];
  mtu: number;
  bridge: string;
  /** An Open vSwitch bridge (--bridge-type ovs): the database's socket and a new bridge's datapath type. */
  ovs?: { socket: string; datapath: string };
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
      type: PLUGIN_TYPE,
      bridge: inputs.bridge,
      // On OVS the plugin shapes a pod's traffic itself (cni/ovs/qos.ts): the runtime passes the
      // pod's bandwidth annotations only to a plugin that declares the capability.
      ...(inputs.ovs && { bridgeType: 'ovs', ovsdbSocket: inputs.ovs.socket, ovsDatapath: inputs.ovs.datapath, capabilities: { bandwidth: true } }),
      // No encapsulation: pods get eth1's MTU unchanged.
      mtu: inputs.mtu,
      // Written out, though it is the plugin's default too: a pod reaches itself through its own
      // Service (kube-proxy DNATs it back to the port it came from), whichever plugin build reads it.
      // Not on OVS, where it would be a key without effect: an OVS port has no hairpin mode, and
      // needs none (br_netfilter never sees OVS's frames, so the DNATed packet is routed by the
      // node and leaves through the bridge's internal port, not back out of the pod's).
      ...(!inputs.ovs && { hairpinMode: true }),
      logLevel: inputs.logLevel,
      logFile: inputs.logFile,
      dataDir: inputs.dataDir,
      ipam: ipamOf(inputs.podCIDR),
    },
  ];
  if (inputs.portmap) plugins.push({ type: 'portmap', capabilities: { portMappings: true } });
  return JSON.stringify({ cniVersion: inputs.cniVersion, name: NETWORK_NAME, plugins }, null, 2) + '\n';
}

/**
 * One family: `{subnet}`, as before dual-stack (an IPv4-only node's conflist is unchanged).
 * Both: host-local's `ranges`, one range set per family.
 */
function ipamOf(podCIDR: ConflistInputs['podCIDR']): object {
  const cidrs = Array.isArray(podCIDR) ? (podCIDR as readonly IpCidr[]) : [podCIDR as IpCidr];
  if (cidrs.length === 1) return { subnet: formatCidr(cidrs[0]!) };
  return { ranges: cidrs.map((cidr) => [{ subnet: formatCidr(cidr) }]) };
}
